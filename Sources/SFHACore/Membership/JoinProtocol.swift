import CorosyncKit
import Crypto
import Foundation
import Logging
import MeshKit
import SFHABase
import Synchronization

/// The P2P paths of the join protocol (Docs/P2P-API.md).
public enum JoinPaths {
    /// Joiner → issuer, from the invitation's mesh address, signed with the redeem key.
    public static let join = "/v1/join"
    /// Coordinator → every online member, signed with the cluster's P2P key.
    public static let prepare = "/v1/membership/prepare"
    public static let abort = "/v1/membership/abort"
    /// Any member → any member: the committed membership document (for a node that fell behind).
    public static let membership = "/v1/membership"
    /// The purpose label of the redeem key (`P2PKey.derived`).
    public static let redeemKeyPurpose = "sfha redeem v1"
}

/// `POST /v1/join`: who the joiner is. Its mesh address is the invitation's; its key is new (the token's is
/// worthless once this is committed).
public struct JoinRequest: Sendable, Equatable, Codable {
    public var name: String
    public var publicKey: WireGuardPublicKey
    public var endpoint: MeshEndpoint

    public init(name: String, publicKey: WireGuardPublicKey, endpoint: MeshEndpoint) {
        self.name = name
        self.publicKey = publicKey
        self.endpoint = endpoint
    }
}

/// One step of a join as the issuer ran it: what, on which node, how it went and how long it took.
public struct JoinStep: Sendable, Equatable, Codable {
    public var step: String
    public var node: String
    public var result: String
    public var milliseconds: Int

    public init(step: String, node: String, result: String, milliseconds: Int) {
        self.step = step
        self.node = node
        self.result = result
        self.milliseconds = milliseconds
    }
}

/// The steps of a membership operation (a join, a removal) as they run: each with its node, result and duration,
/// logged as it ends under `label`.
final class OperationSteps {
    private(set) var steps: [JoinStep] = []
    private let label: String
    private let logger: Logger
    private let clock = ContinuousClock()

    init(_ label: String, logger: Logger) {
        self.label = label
        self.logger = logger
    }

    func record(_ step: String, node: String, since start: ContinuousClock.Instant, _ result: String = "done") {
        let milliseconds = Int((clock.now - start).milliseconds)
        steps.append(JoinStep(step: step, node: node, result: result, milliseconds: milliseconds))
        logger.notice("\(label): \(step) on \(node): \(result) (\(milliseconds) ms)")
    }
}

/// The answer to a join: everything the new member needs to start — the committed membership, its own entry, the
/// corosync.conf every member now has (already reloaded), corosync's authkey, the cluster's P2P key, the cluster
/// document — and the steps the issuer ran. It travels inside WireGuard (encrypted to the invitation's key) and is
/// never logged.
public struct JoinBundle: Sendable, Codable {
    public var membership: MembershipDocument
    public var member: ClusterMember
    public var corosyncConf: String
    /// corosync's authkey, base64.
    public var authKey: String
    /// The P2P key file's text.
    public var p2pKey: String
    public var document: ClusterDocument
    public var steps: [JoinStep]
    /// The members that were online and prepared the change (the issuer first); the others were down and catch up
    /// from the record when they return. nil from an issuer that does not say: every member is expected.
    public var onlineMembers: [String]?

    public init(
        membership: MembershipDocument, member: ClusterMember, corosyncConf: String, authKey: String, p2pKey: String, document: ClusterDocument,
        steps: [JoinStep], onlineMembers: [String]? = nil
    ) {
        self.membership = membership
        self.member = member
        self.corosyncConf = corosyncConf
        self.authKey = authKey
        self.p2pKey = p2pKey
        self.document = document
        self.steps = steps
        self.onlineMembers = onlineMembers
    }
}

/// `POST /v1/membership/prepare`: write corosync.conf for `record` (not yet committed) and answer its hash; nothing
/// is reloaded. `id` names the change for the abort and for the commit that settles it.
public struct MembershipPrepareRequest: Sendable, Equatable, Codable {
    public var id: String
    public var coordinator: String
    public var record: MembershipRecord
    /// When the coordinator started this change (its own clock): a newer prepare from the same coordinator replaces
    /// one left prepared by a change it gave up (killed, timed out); an older one arriving late is refused.
    public var issuedAt: Date?

    public init(id: String, coordinator: String, record: MembershipRecord, issuedAt: Date? = Date()) {
        self.id = id
        self.coordinator = coordinator
        self.record = record
        self.issuedAt = issuedAt
    }
}

public struct MembershipPrepareAnswer: Sendable, Equatable, Codable {
    public var node: String
    /// Lowercase hex SHA-256 of the corosync.conf written.
    public var corosyncConfHash: String

    public init(node: String, corosyncConfHash: String) {
        self.node = node
        self.corosyncConfHash = corosyncConfHash
    }
}

/// `POST /v1/membership/abort`: put corosync.conf back as it was before the prepare `id`.
public struct MembershipAbortRequest: Sendable, Equatable, Codable {
    public var id: String
    public init(id: String) { self.id = id }
}

/// Tells every corosync of the cluster to re-read corosync.conf (libcfg, `corosync-cfgtool -R`): never a restart.
/// And starts this node's corosync where it does not run (`sfha propagate`, per the founding document's table).
public protocol CorosyncReloading: Sendable {
    func reload() async throws(SFHAError)
    func start() async throws(SFHAError)
}

/// The real reload, through libcfg.
public struct LibcfgReloader: CorosyncReloading {
    public init() {}
    public func reload() async throws(SFHAError) {
        do throws(CorosyncError) {
            let control = try CorosyncControl()
            try await control.reloadConfiguration()
        } catch {
            throw SFHAError(.commandFailed, "corosync refused to reload corosync.conf (\(error)); the running configuration stays: check 'corosync-cfgtool -s' and the file")
        }
    }

    public func start() async throws(SFHAError) {
        try await SystemProgramRunner().check("systemctl", ["start", "corosync"], timeout: .seconds(60))
    }
}

/// Counts reloads instead (tests).
public final class FakeCorosyncReloader: CorosyncReloading {
    private let count = Mutex(0)
    public init() {}
    private let startCount = Mutex(0)
    public var reloads: Int { count.withLock { $0 } }
    public var starts: Int { startCount.withLock { $0 } }
    public func reload() async throws(SFHAError) { count.withLock { $0 += 1 } }
    public func start() async throws(SFHAError) { startCount.withLock { $0 += 1 } }
}

/// Keeps this node's corosync.conf nodelist what the membership record says (exact names, never renumbering,
/// lossless edits, atomic writes), in two ways:
/// - **prepared** by a join's coordinator: the file is written for a record not yet committed and its hash
///   answered; one prepare at a time (another is refused as busy); an abort, or no commit within
///   `preparedLifetime`, puts the file back (and reloads). The coordinator reloads once every member answered and it committed.
/// - **caught up** on a committed record the file does not match (a member that was down or missed the prepare):
///   the file is written and corosync reloaded (a reload re-reads the file on every node; the others' files are
///   already right, so it changes nothing there).
public actor CorosyncNodelistApplier {
    /// How long a prepared file waits for its commit before it is put back (by default).
    public static let defaultPreparedLifetime: Duration = .seconds(60)

    struct Prepared {
        var id: String
        var coordinator: String
        var issuedAt: Date?
        var original: String
        var written: String
        var nodelist: [CorosyncConf.WantedNode]
        var expiry: Task<Void, Never>
    }

    let path: String
    let nodeName: String
    let reloader: any CorosyncReloading
    let logger: Logger
    private var prepared: Prepared?
    private var committed: MembershipRecord?
    /// The newest `issuedAt` each coordinator prepared here (a late prepare of a change it gave up is refused).
    private var newestIssued: [String: Date] = [:]

    let preparedLifetime: Duration

    public init(
        path: String = CorosyncConf.defaultPath, nodeName: String, reloader: any CorosyncReloading,
        preparedLifetime: Duration = CorosyncNodelistApplier.defaultPreparedLifetime, logger: Logger
    ) {
        self.path = path
        self.nodeName = nodeName
        self.reloader = reloader
        self.preparedLifetime = preparedLifetime
        self.logger = logger
    }

    public static func hash(_ text: String) -> String { SHA256.hash(data: Array(text.utf8)).hexEncoded }

    static func nodelist(of record: MembershipRecord) -> [CorosyncConf.WantedNode] {
        record.corosyncNodes.map { CorosyncConf.WantedNode(name: $0.name, nodeID: $0.nodeID, addresses: ["\($0.address)"]) }
    }

    /// The file's text with its nodelist made `nodelist` (nil: it is already).
    func rewritten(_ text: String, to nodelist: [CorosyncConf.WantedNode]) throws(SFHAError) -> String? {
        do throws(CorosyncConfError) {
            var conf = try CorosyncConf(parsing: text)
            let (removed, added) = try conf.reconcileNodelist(nodelist)
            if removed.isEmpty, added.isEmpty { return nil }
            return conf.render()
        } catch {
            throw SFHAError(.invalidState, "\(path): \(error.sfhaError.message)")
        }
    }

    func read() throws(SFHAError) -> String {
        do {
            return try AtomicFile.readText(path)
        } catch {
            throw SFHAError(.io, "cannot read \(path): \(error)")
        }
    }

    /// Writes corosync.conf for `request.record` and returns its hash. Refused (nothing written) when another
    /// change is prepared, when the record cannot follow the committed one, or when the file cannot take it.
    public func prepare(_ request: MembershipPrepareRequest, committed current: MembershipRecord?) throws(SFHAError) -> String {
        if let prepared, prepared.id == request.id { return Self.hash(prepared.written) }
        if let issuedAt = request.issuedAt, let newest = newestIssued[request.coordinator], issuedAt <= newest {
            throw SFHAError(.conflict, "\(nodeName) refuses membership change \(request.id): \(request.coordinator) has started a newer one since")
        }
        if let prepared {
            // A coordinator runs one change at a time: its newer prepare means the one left here was given up (its
            // sfhad killed or restarted mid-way), so a re-run need not wait for the expiry.
            guard prepared.coordinator == request.coordinator, let issuedAt = request.issuedAt, let earlier = prepared.issuedAt, issuedAt > earlier else {
                throw SFHAError(.conflict, "\(nodeName) is busy with another membership change (\(prepared.id), by \(prepared.coordinator)); try again")
            }
            logger.notice("membership change \(prepared.id) replaced by \(request.id), a newer one from the same coordinator \(request.coordinator)")
            abort(prepared.id)
        }
        if let current, let problem = request.record.successionProblem(after: current) {
            throw SFHAError(.invalidArgument, "\(nodeName) refuses the membership change: \(problem)")
        }
        let original = try read()
        let nodelist = Self.nodelist(of: request.record)
        let written = try rewritten(original, to: nodelist) ?? original
        try AtomicFile.write(written, to: path, mode: 0o644)
        let id = request.id
        let lifetime = preparedLifetime
        let expiry = Task { [weak self] in
            try? await Task.sleep(for: lifetime)
            guard !Task.isCancelled else { return }
            await self?.expire(id)
        }
        prepared = Prepared(
            id: id, coordinator: request.coordinator, issuedAt: request.issuedAt, original: original, written: written, nodelist: nodelist,
            expiry: expiry)
        if let issuedAt = request.issuedAt { newestIssued[request.coordinator] = issuedAt }
        logger.notice("membership change \(id) prepared: corosync.conf written for \(request.record.members.count) members (not reloaded)")
        return Self.hash(written)
    }

    /// Puts the file back as it was before the prepare `id` (nothing when it is not the one prepared).
    public func abort(_ id: String) {
        guard let prepared, prepared.id == id else { return }
        prepared.expiry.cancel()
        self.prepared = nil
        do {
            try AtomicFile.write(prepared.original, to: path, mode: 0o644)
            logger.notice("membership change \(id) aborted: corosync.conf put back")
        } catch {
            logger.error("membership change \(id) aborted but corosync.conf could not be put back: \(error); it is rewritten from the record at the next commit")
        }
    }

    /// A prepare never settled (its coordinator died, or gave up and its abort was lost): the file is put back and
    /// corosync reloaded even when the file then matches the record — any reload meanwhile (another member catching
    /// up) made corosync here read the prepared file.
    private func expire(_ id: String) async {
        guard prepared?.id == id else { return }
        logger.warning("membership change \(id) was prepared but neither committed nor aborted in \(preparedLifetime): corosync.conf put back and reloaded")
        abort(id)
        do {
            if let committed, committed.member(named: nodeName) != nil { try write(for: committed) }
            try await reloader.reload()
        } catch {
            logger.error("after the expiry of membership change \(id): \(error.message); run 'sfha propagate'")
        }
    }

    /// A committed record: settles a prepare whose nodelist it has; otherwise, with no prepare pending, makes the
    /// file match it and reloads when it had to change (catching up).
    public func apply(_ record: MembershipRecord) async {
        committed = record
        let nodelist = Self.nodelist(of: record)
        if let prepared {
            guard prepared.nodelist == nodelist else { return }  // another commit (an invitation): the prepare waits
            prepared.expiry.cancel()
            self.prepared = nil
        }
        guard record.member(named: nodeName) != nil else { return }
        do {
            guard try write(for: record) else { return }
            logger.notice("corosync.conf caught up with the membership record (\(record.members.count) members): reloading corosync")
            try await reloader.reload()
        } catch {
            logger.error("corosync.conf could not be made to match the membership record: \(error.message)")
        }
    }
}
