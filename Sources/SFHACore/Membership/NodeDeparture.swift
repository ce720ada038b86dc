import Foundation
import MeshKit
import SFHABase
import Synchronization

/// `POST /v1/leave` (P2P): a removal's coordinator tells this node to leave the cluster.
public struct LeaveRequest: Sendable, Equatable, Codable {
    public var coordinator: String
    /// Only stop corosync (the node asked for its own removal with `sfha leave`, which does the rest once it has
    /// the answer); nil or false: leave entirely.
    public var corosyncOnly: Bool?
    public init(coordinator: String, corosyncOnly: Bool? = nil) {
        self.coordinator = coordinator
        self.corosyncOnly = corosyncOnly
    }
}

public struct LeaveAnswer: Sendable, Equatable, Codable {
    public var node: String
    public var accepted: Bool
    public init(node: String, accepted: Bool) {
        self.node = node
        self.accepted = accepted
    }
}

public enum DeparturePaths {
    public static let leave = "/v1/leave"
}

/// What leaving does to this machine, as effects (the real ones run `systemctl` and `wg`/`ip`; the fake records).
public protocol DepartureEffects: Sendable {
    /// Runs `systemctl ARGUMENTS…`.
    func systemctl(_ arguments: [String]) async throws(SFHAError)
    func tearDownMesh(_ interface: String) async throws(SFHAError)
    /// Renames `path` to `path + suffix` (false: there was no such file).
    func moveAside(_ path: String, suffix: String) throws(SFHAError) -> Bool
}

public struct SystemDepartureEffects: DepartureEffects {
    let runner: any ProgramRunner
    let mesh: any MeshController

    public init(runner: any ProgramRunner = SystemProgramRunner(), mesh: any MeshController) {
        self.runner = runner
        self.mesh = mesh
    }

    public func systemctl(_ arguments: [String]) async throws(SFHAError) {
        try await runner.check("systemctl", arguments, timeout: .seconds(60))
    }

    public func tearDownMesh(_ interface: String) async throws(SFHAError) { try await mesh.tearDown(interface) }

    public func moveAside(_ path: String, suffix: String) throws(SFHAError) -> Bool {
        guard FileManager.default.fileExists(atPath: path) else { return false }
        guard rename(path, path + suffix) == 0 else {
            throw SFHAError(.io, "cannot move \(path) aside to \(path + suffix): \(String(cString: strerror(errno)))")
        }
        return true
    }
}

/// Records what leaving would have done (tests).
public final class FakeDepartureEffects: DepartureEffects {
    private let log = Mutex<[String]>([])
    public init() {}
    public var calls: [String] { log.withLock { $0 } }
    public func systemctl(_ arguments: [String]) async throws(SFHAError) { log.withLock { $0.append("systemctl " + arguments.joined(separator: " ")) } }
    public func tearDownMesh(_ interface: String) async throws(SFHAError) { log.withLock { $0.append("mesh down \(interface)") } }
    public func moveAside(_ path: String, suffix: String) throws(SFHAError) -> Bool {
        log.withLock { $0.append("move \(path)") }
        return true
    }
}

/// A node leaving the cluster, on itself: after its daemon has handed over what it held and left the process group,
/// corosync stops (the others see it leave the membership), the mesh goes down, the cluster's files are moved aside
/// with a timestamp (never deleted: a mistaken removal can be undone by hand), and sfhad stops last — disabled, like
/// corosync and the mesh, so a reboot does not bring the node back.
public enum NodeDeparture {
    /// The files of the cluster on a member, moved aside when it leaves.
    public static let files = [
        "/etc/corosync/corosync.conf", "/etc/corosync/authkey", "/etc/sfha/p2p.key", "/etc/sfha/config.yml",
        "/var/lib/sfha/membership.json", "/var/lib/sfha/cluster.json", "/etc/wireguard/\(MeshInterfaceSpec.defaultName).conf",
    ]

    /// `.removed-20261205T031500Z`: what a moved-aside file's name gets.
    public static func suffix(at date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return ".removed-" + formatter.string(from: date)
    }

    static let stopCorosyncStep = "stop corosync (this node leaves the membership) and disable it"

    /// The first step alone: corosync stops (its graceful exit lets the others form their ring at once, where a node
    /// dropped from their nodelists while it still runs is only noticed after a token timeout) and stays disabled.
    public static func stopCorosync(_ effects: any DepartureEffects) async throws(SFHAError) {
        try await effects.systemctl(["disable", "--now", "corosync"])
    }

    /// Runs the steps after the handover; each is recorded (a failed one is recorded and the next still runs: a
    /// node told to leave leaves as far as it can). The last step stops this daemon.
    public static func run(node: String, effects: any DepartureEffects, at date: Date, record: (JoinStep) -> Void) async {
        let clock = ContinuousClock()
        func step(_ what: String, _ body: () async throws(SFHAError) -> Void) async {
            let start = clock.now
            let result: String
            do throws(SFHAError) {
                try await body()
                result = "done"
            } catch {
                result = "failed: \(error.message)"
            }
            record(JoinStep(step: what, node: node, result: result, milliseconds: Int((clock.now - start).milliseconds)))
        }
        await step(stopCorosyncStep) { () async throws(SFHAError) in try await stopCorosync(effects) }
        await step("take the mesh down (\(MeshInterfaceSpec.defaultName)) and disable it") { () async throws(SFHAError) in
            try await effects.tearDownMesh(MeshInterfaceSpec.defaultName)
            try await effects.systemctl(["disable", "wg-quick@\(MeshInterfaceSpec.defaultName)"])
        }
        let suffix = suffix(at: date)
        var moved: [String] = []
        await step("move the cluster's files aside (*\(suffix))") { () async throws(SFHAError) in
            for path in files where try effects.moveAside(path, suffix: suffix) { moved.append(path) }
        }
        record(JoinStep(step: "moved aside: \(moved.isEmpty ? "nothing" : moved.joined(separator: ", "))", node: node, result: "done", milliseconds: 0))
        await step("stop and disable sfhad (last)") { () async throws(SFHAError) in
            try await effects.systemctl(["--no-block", "disable", "--now", "sfhad"])
        }
    }
}

extension DaemonRuntime {
    /// This node was told to leave by `coordinator` (a removal running there): it goes to standby here (takes nothing
    /// more, releases what it holds — the coordinator normally moved its groups away already) and waits until it
    /// holds nothing, then `NodeDeparture` runs; its last step stops this daemon (whose graceful stop then has
    /// nothing left to hand over).
    public func leaveCluster(toldBy coordinator: String, effects: any DepartureEffects) async {
        logger.notice("told to leave the cluster by \(coordinator): handing over, then stopping corosync, the mesh and sfhad")
        setStandby(true)
        let clock = ContinuousClock()
        let deadline = clock.now + Self.moveTimeout
        while clock.now < deadline, !state.holdings.isEmpty { try? await Task.sleep(for: .milliseconds(50)) }
        if !state.holdings.isEmpty {
            logger.warning("leaving the cluster: still holding \(state.holdings.sorted().joined(separator: ", ")) after \(Self.moveTimeout.sfhaText); stopping corosync releases them")
        }
        let logger = self.logger
        await NodeDeparture.run(node: state.nodeName, effects: effects, at: Date()) { step in
            logger.notice("leaving the cluster: \(step.step): \(step.result) (\(step.milliseconds) ms)")
        }
    }
}

/// `POST /v1/leave` (control API, `sfha leave`): this node asks another member to remove it.
public struct LeaveCommandRequest: Sendable, Equatable, Codable {
    public var force: Bool
    public var dryRun: Bool
    public init(force: Bool = false, dryRun: Bool = false) {
        self.force = force
        self.dryRun = dryRun
    }
}

public struct LeaveCommandAnswer: Sendable, Equatable, Codable {
    public var node: String
    /// The member that runs (or would run) the removal.
    public var coordinator: String?
    /// Its plan (dry run) or what it did.
    public var removal: NodeRemoveAnswer?
    /// No member can run the removal (the last member, no other online, or the rest would lose quorum) and `--force`
    /// was given: only this node is cleaned up; the others still list it.
    public var localOnly: Bool
    public var reason: String?
    /// This node is the cluster's last member: once it is cleaned up, nothing is left to remove anywhere.
    public var lastMember: Bool?

    public init(
        node: String, coordinator: String? = nil, removal: NodeRemoveAnswer? = nil, localOnly: Bool = false, reason: String? = nil,
        lastMember: Bool? = nil
    ) {
        self.node = node
        self.coordinator = coordinator
        self.removal = removal
        self.localOnly = localOnly
        self.reason = reason
        self.lastMember = lastMember
    }
}

extension DaemonRuntime {
    /// `sfha leave`: another online member runs this node's removal (its groups handed over first; it is not told to
    /// leave: the command stops this node's corosync, mesh and sfhad itself once it has the answer). Refused on the
    /// last member, with no other member online, or when the rest would lose quorum — unless `force`, which then
    /// means local clean-up only.
    public func askToLeave(
        _ request: LeaveCommandRequest, peers: any MembershipPeers, previews: (any MembershipRepairPeers)? = nil
    ) async throws(SFHAError) -> LeaveCommandAnswer {
        guard let membership = state.membership, membership.record.member(named: state.nodeName) != nil else {
            throw SFHAError(.invalidState, "this node is not in a cluster built by 'sfha init' (no membership record here): nothing to leave")
        }
        let me = state.nodeName
        let online = state.view.members
        let candidates = membership.record.members.filter { $0.name != me && online.contains($0.nodeID) }.sorted { $0.nodeID < $1.nodeID }
        let last = membership.record.members.count == 1
        func localOnly(_ reason: String) throws(SFHAError) -> LeaveCommandAnswer {
            guard request.force else {
                throw SFHAError(
                    .invalidState,
                    "\(reason): nothing changed; 'sfha leave --force' cleans this node up alone" + (last ? " (and the cluster with it)" : " (the others keep listing it)"))
            }
            return LeaveCommandAnswer(node: me, localOnly: true, reason: reason, lastMember: last ? true : nil)
        }
        guard let coordinator = candidates.first else {
            return try localOnly(last
                ? "\(me) is the last member of cluster \(membership.record.clusterName)"
                : "no other member is online to run the removal")
        }
        let plan = NodeRemoval.plan(
            record: membership.record, coordinator: coordinator.name, target: me, online: online, quorate: state.view.quorate,
            targetStandby: true, force: true)
        if let refusal = plan.refusal { return try localOnly(refusal) }
        if request.dryRun {
            var removal = NodeRemoveAnswer(plan: plan)
            // The files every other online member would change (this node's are moved aside, not changed).
            removal.preview = await previewRemoval(
                MembershipDocument(revision: membership.revision + 1, record: try membership.record.removing(me, at: Date())),
                on: candidates, peers: previews, includingThisNode: false)
            return LeaveCommandAnswer(node: me, coordinator: coordinator.name, removal: removal)
        }
        logger.notice("leaving the cluster: \(coordinator.name) runs the removal of \(me)")
        let answer = try await peers.remove(NodeRemoveRequest(name: me, force: true, leavingItself: true), on: coordinator)
        return LeaveCommandAnswer(node: me, coordinator: coordinator.name, removal: answer)
    }
}
