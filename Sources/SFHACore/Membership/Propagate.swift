import CorosyncKit
import Foundation
import MeshKit
import SFHABase

public enum RepairPaths {
    public static let repair = "/v1/membership/repair"
}

/// `POST /v1/membership/repair` (P2P, from the member running `sfha propagate`): make this node's corosync.conf and
/// WireGuard peers match `membership`, or say what that would change (`dryRun`).
public struct MembershipRepairRequest: Sendable, Equatable, Codable {
    public var coordinator: String
    public var membership: MembershipDocument
    public var dryRun: Bool

    public init(coordinator: String, membership: MembershipDocument, dryRun: Bool) {
        self.coordinator = coordinator
        self.membership = membership
        self.dryRun = dryRun
    }
}

/// What the repair changed on one node (or would change, in a dry run).
public struct MembershipRepairReport: Sendable, Equatable, Codable {
    public var node: String
    /// corosync.conf's nodelist (names) before and after.
    public var nodelistBefore: [String]
    public var nodelistAfter: [String]
    /// "reloaded", "started" or nil (corosync left as it was).
    public var corosync: String?
    /// corosync's runtime nodelist (names) when it differed from the record while the file did not (a change
    /// interrupted before its reload); nil otherwise.
    public var runtimeNodelistBefore: [String]?
    /// corosync's membership as this node sees it (names of the nodes online); nil when corosync does not run.
    public var corosyncMembers: [String]?
    /// WireGuard peers added and removed (member names; "invitation" for an invitation's key).
    public var peersAdded: [String]
    public var peersRemoved: [String]
    /// Why this node could not be repaired (nil: it was, or had nothing to repair).
    public var error: String?
    /// The files changed (or that would change), as unified diffs (the WireGuard file's private key hidden).
    public var diffs: [FileDiff]?

    public init(
        node: String, nodelistBefore: [String] = [], nodelistAfter: [String] = [], corosync: String? = nil, peersAdded: [String] = [],
        peersRemoved: [String] = [], error: String? = nil
    ) {
        self.node = node
        self.nodelistBefore = nodelistBefore
        self.nodelistAfter = nodelistAfter
        self.corosync = corosync
        self.peersAdded = peersAdded
        self.peersRemoved = peersRemoved
        self.error = error
    }

    public var nothingToDo: Bool {
        error == nil && nodelistBefore == nodelistAfter && corosync == nil && peersAdded.isEmpty && peersRemoved.isEmpty
    }
}

/// One file's change, as a unified diff.
public struct FileDiff: Sendable, Equatable, Codable {
    public var path: String
    public var diff: String
    public init(path: String, diff: String) {
        self.path = path
        self.diff = diff
    }
}

/// `POST /v1/propagate` (control API): `dryRun` only says what would change.
public struct PropagateRequest: Sendable, Equatable, Codable {
    public var dryRun: Bool
    public init(dryRun: Bool = false) { self.dryRun = dryRun }
}

public struct PropagateAnswer: Sendable, Equatable, Codable {
    public var revision: UInt64
    public var dryRun: Bool
    public var nodes: [MembershipRepairReport]
    public init(revision: UInt64, dryRun: Bool, nodes: [MembershipRepairReport]) {
        self.revision = revision
        self.dryRun = dryRun
        self.nodes = nodes
    }
}

/// How `sfha propagate` reaches the other members (P2P in sfhad; a fake in tests).
public protocol MembershipRepairPeers: Sendable {
    func revisions(of record: MembershipRecord) async -> [String: UInt64?]
    func fetch(from member: ClusterMember) async throws(SFHAError) -> MembershipDocument
    func repair(_ request: MembershipRepairRequest, on member: ClusterMember) async throws(SFHAError) -> MembershipRepairReport
}

extension DaemonRuntime {
    /// `sfha propagate`: the newest membership record any reachable member has (fetched when it is newer than this
    /// node's), then every member — this one too — makes its corosync.conf and WireGuard peers match it: a changed
    /// corosync.conf is reloaded when corosync runs, and corosync is started where it does not (the founding
    /// document's table). Members that do not answer are reported. A second run reports nothing to do.
    public func propagate(_ request: PropagateRequest, peers: any MembershipRepairPeers) async throws(SFHAError) -> PropagateAnswer {
        guard var membership = state.membership else {
            throw SFHAError(.invalidState, "this cluster has no membership record (it was not built by 'sfha init'): nothing to propagate")
        }
        let revisions = await peers.revisions(of: membership.record)
        if let (name, revision) = revisions.compactMap({ name, revision in revision.map { (name, $0) } }).max(by: { $0.1 < $1.1 }),
            revision > membership.revision, let member = membership.record.member(named: name)
        {
            let newer = try await peers.fetch(from: member)
            guard newer.contentHash == MembershipDocument.contentHash(of: newer.record), newer.revision > membership.revision,
                newer.record.successionProblem(after: membership.record) == nil
            else {
                throw SFHAError(.invalidState, "\(name) holds membership revision \(revision) but what it sent does not check out: nothing changed")
            }
            membership = newer
        }
        let repair = MembershipRepairRequest(coordinator: state.nodeName, membership: membership, dryRun: request.dryRun)
        var reports = [try await repairMembership(repair)]
        let others = membership.record.members.filter { $0.name != state.nodeName }
        let answering = others.filter { if case .some(.some) = revisions[$0.name] { true } else { false } }
        let silent = others.filter { member in !answering.contains { $0.name == member.name } }.map {
            MembershipRepairReport(node: $0.name, error: "does not answer over the mesh (sfhad stopped, or the node is down): it catches up when it answers again")
        }
        reports += (await Self.repair(repair, on: answering, peers: peers) + silent).sorted { $0.node < $1.node }
        for report in reports where !report.nothingToDo {
            logger.notice("propagate\(request.dryRun ? " (dry run)" : ""): \(report.node): \(report)")
        }
        return PropagateAnswer(revision: membership.revision, dryRun: request.dryRun, nodes: reports)
    }

    /// `request` run by each of `members` at once (P2P repair), a failure as that member's report `error`, sorted by
    /// node. With `until`, a member whose report does not satisfy it is asked again every 50 ms for up to `retryFor`.
    static func repair(
        _ request: MembershipRepairRequest, on members: [ClusterMember], peers: any MembershipRepairPeers, retryFor: Duration = .zero,
        until satisfied: @escaping @Sendable (MembershipRepairReport) -> Bool = { _ in true }
    ) async -> [MembershipRepairReport] {
        await withTaskGroup(of: MembershipRepairReport.self) { group in
            for member in members {
                group.addTask {
                    let deadline = ContinuousClock.now + retryFor
                    while true {
                        let report: MembershipRepairReport
                        do throws(SFHAError) {
                            report = try await peers.repair(request, on: member)
                        } catch {
                            return MembershipRepairReport(node: member.name, error: error.message)
                        }
                        guard !satisfied(report), ContinuousClock.now < deadline else { return report }
                        try? await Task.sleep(for: .milliseconds(50))
                    }
                }
            }
            var all: [MembershipRepairReport] = []
            for await report in group { all.append(report) }
            return all.sorted { $0.node < $1.node }
        }
    }

    /// This node's side of a repair: corosync.conf's nodelist and the WireGuard peers made what `request.membership`
    /// says (checked like any input: its hash, and not older than this node's record).
    public func repairMembership(_ request: MembershipRepairRequest) async throws(SFHAError) -> MembershipRepairReport {
        guard let nodelistApplier, let meshReconciler else { throw SFHAError(.unavailable, "this sfhad does not manage membership (no mesh)") }
        let document = request.membership
        guard document.contentHash == MembershipDocument.contentHash(of: document.record) else {
            throw SFHAError(.invalidArgument, "the membership document does not match its hash")
        }
        _ = try document.record.validated()
        if let own = state.membership {
            if own.revision > document.revision {
                throw SFHAError(.conflict, "\(state.nodeName) has a newer membership record (revision \(own.revision), not \(document.revision)): run 'sfha propagate' again")
            }
            if own.revision == document.revision, own.contentHash != document.contentHash {
                throw SFHAError(.conflict, "\(state.nodeName) has another membership record under the same revision \(own.revision): nothing changed here")
            }
            if own.revision < document.revision, let problem = document.record.successionProblem(after: own.record) {
                throw SFHAError(.invalidArgument, "\(state.nodeName) refuses membership revision \(document.revision): \(problem)")
            }
        }
        var report = MembershipRepairReport(node: state.nodeName)
        var diffs: [FileDiff] = []
        if let (path, diff) = try await nodelistApplier.diff(for: document.record) { diffs.append(FileDiff(path: path, diff: diff)) }
        // corosync.conf
        let (before, after) = try await nodelistApplier.nodelists(for: document.record)
        report.nodelistBefore = before
        report.nodelistAfter = after
        let corosyncRunning = state.facts != nil
        if let facts = state.facts { report.corosyncMembers = state.view.members.map { facts.nodeNames[$0] ?? "node id \($0)" }.sorted() }
        let wantedNames = Set(document.record.members.map(\.name))
        if let runtime = state.facts.map({ Set($0.nodeNames.values) }), runtime != wantedNames, before == after {
            report.runtimeNodelistBefore = runtime.sorted()
        }
        if !request.dryRun, before != after {
            try await nodelistApplier.write(for: document.record)
        }
        if !corosyncRunning {
            report.corosync = "started"
            if !request.dryRun { try await nodelistApplier.reloader.start() }
        } else if before != after || report.runtimeNodelistBefore != nil {
            report.corosync = "reloaded"
            if !request.dryRun {
                try await nodelistApplier.reloader.reload()
                // Until corosync reports the new nodelist, so that a second run finds nothing to do.
                let deadline = ContinuousClock.now + Self.runtimeNodelistWait
                while ContinuousClock.now < deadline, let runtime = state.facts.map({ Set($0.nodeNames.values) }), runtime != wantedNames {
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
        }
        // WireGuard
        let names = Dictionary(document.record.members.map { ($0.publicKey, $0.name) }, uniquingKeysWith: { first, _ in first })
        let present = Set((try? await meshReconciler.currentPeerKeys()) ?? [])
        let wanted = Set(document.record.expiringInvitations(at: Date()).meshPeers(for: state.nodeName).map(\.publicKey))
        report.peersAdded = wanted.subtracting(present).map { names[$0] ?? "invitation" }.sorted()
        report.peersRemoved = present.subtracting(wanted).map { names[$0] ?? "unknown key \($0.base64.prefix(8))…" }.sorted()
        // The boot file is rewritten with the peers (only then).
        if !(report.peersAdded.isEmpty && report.peersRemoved.isEmpty), let (before, after) = await meshReconciler.bootFilePreview(for: document.record),
            let diff = LineDiff.unified(from: before, to: after, oldLabel: meshReconciler.configPath, newLabel: "\(meshReconciler.configPath) (membership revision \(document.revision))")
        {
            diffs.append(FileDiff(path: meshReconciler.configPath, diff: diff))
        }
        report.diffs = diffs.isEmpty ? nil : diffs
        if !request.dryRun, !(report.peersAdded.isEmpty && report.peersRemoved.isEmpty) {
            await meshReconciler.apply(document.record)
        }
        return report
    }
}

extension CorosyncNodelistApplier {
    /// corosync.conf's nodelist (names) now, and what it would be for `record`.
    func nodelists(for record: MembershipRecord) throws(SFHAError) -> (before: [String], after: [String]) {
        let text = try read()
        let before: [String]
        do throws(CorosyncConfError) {
            before = try CorosyncConf(parsing: text).nodes.map(\.name)
        } catch {
            throw SFHAError(.invalidState, "\(path): \(error.sfhaError.message)")
        }
        let after = try rewritten(text, to: Self.nodelist(of: record)).map { text throws(SFHAError) in
            do throws(CorosyncConfError) { return try CorosyncConf(parsing: text).nodes.map(\.name) } catch { throw SFHAError(.invalidState, "\(error.sfhaError.message)") }
        } ?? before
        return (before, after)
    }

    /// corosync.conf's change for `record`'s nodelist, as a unified diff (nil: none).
    func diff(for record: MembershipRecord) throws(SFHAError) -> (path: String, diff: String)? {
        let text = try read()
        guard let new = try rewritten(text, to: Self.nodelist(of: record)),
            let diff = LineDiff.unified(from: text, to: new, oldLabel: path, newLabel: "\(path) (\(NodeRemoval.nodeCount(record.members.count)))")
        else { return nil }
        return (path, diff)
    }

    /// Writes corosync.conf with `record`'s nodelist (no reload); false: it had it already.
    @discardableResult
    func write(for record: MembershipRecord) throws(SFHAError) -> Bool {
        guard let text = try rewritten(try read(), to: Self.nodelist(of: record)) else { return false }
        try AtomicFile.write(text, to: path, mode: 0o644)
        return true
    }
}

extension MeshReconciler {
    /// The public keys of the interface's peers now.
    public func currentPeerKeys() async throws(SFHAError) -> [WireGuardPublicKey] {
        try await mesh.state(of: interface)?.peers.map(\.publicKey) ?? []
    }
}
