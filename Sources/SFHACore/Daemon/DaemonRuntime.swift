import CorosyncKit
import Foundation
import Logging
import SFHABase

/// The running daemon: feeds `DaemonState` from corosync, the sfha process group and the local reconciler, and
/// carries out its outputs. An actor, so every input is applied in order, one at a time.
public actor DaemonRuntime {
    public static let processGroupName = "sfha"

    private var state: DaemonState
    private let reconciler: LocalReconciler
    private var group: ProcessGroup?
    private let origin = ContinuousClock.now
    private let logger: Logger
    private let documentPath: String
    private var shuttingDown = false
    /// The groups placement assigned here last, and whether a reconciliation is running.
    private var desired: Set<String>?
    private var reconciling = false

    public init(
        node: NodeConfiguration, nodeID: UInt32, document: ClusterDocument, effects: NodeEffects, documentPath: String,
        logger: Logger
    ) {
        self.state = DaemonState(nodeName: node.name, nodeID: nodeID, priority: node.priority, document: document, now: .zero)
        self.reconciler = LocalReconciler(groups: document.configuration.groups, effects: effects)
        self.documentPath = documentPath
        self.logger = logger
    }

    var now: Timestamp { Timestamp(nanoseconds: (ContinuousClock.now - origin).nanosecondsClamped) }

    public var placement: Placement? { state.lastPlacement }
    public var localReport: NodeReport { state.report }
    public var document: ClusterDocument { state.document }
    public var view: ClusterView { state.view }

    /// Before anything else: a daemon that starts (or restarts after a crash) removes every configured VIP it holds
    /// and was not assigned — it has been assigned nothing yet.
    public func start() async {
        await reconciler.setMaintenance(state.document.configuration.maintenance)
        for action in await reconciler.startupCleanup() { logger.notice("startup cleanup: \(action)") }
    }

    public func corosync(_ event: ClusterEvent) async {
        switch event {
        case .connectionLost(let error):
            logger.warning("corosync lost: releasing everything", metadata: ["error": "\(error)"])
            await handle(.corosyncLost)
        default:
            guard let snapshot = event.snapshot else { return }
            await handle(.membership(members: Set(snapshot.onlineMembers.map(\.nodeID)), quorate: snapshot.quorate))
            if case .membershipChanged(let change, _) = event {
                logger.info("membership changed", metadata: ["ring": "\(change.ring)", "left": "\(change.left)", "joined": "\(change.joined)"])
                // Neighbours' ARP caches may be stale after a partition heals (keepalived left clients black-holed
                // for up to 37 s): announce every VIP held here again.
                if !change.joined.isEmpty {
                    for action in await reconciler.reannounce() where action.outcome != .unchanged { logger.info("\(action)") }
                }
            }
        }
    }

    public func attach(_ newGroup: ProcessGroup?) { group = newGroup }

    public func groupEvent(_ event: ProcessGroupEvent) async {
        switch event {
        case .membership(let change):
            // A daemon whose *node* went down is handled by the corosync membership change (a node departure);
            // only daemons that left while their node stayed are daemon departures (their VIPs may linger).
            let daemonsGone = change.left.filter { $0.reason != .nodeDown }.map(\.member)
            await handle(.groupMembership(members: change.members, joined: change.joined.map(\.member), left: daemonsGone))
        case .message(let from, let payload):
            do {
                await handle(.message(from: from, try ClusterMessage.decode(payload)))
            } catch {
                logger.warning("ignoring an unreadable message", metadata: ["from": "\(from)", "error": "\(error)"])
            }
        case .ring:
            break
        }
    }

    public func tick() async { await handle(.tick) }

    /// Keeps the held VIPs' leases fresh (called several times per lease).
    public func refreshLeases() async {
        guard !shuttingDown else { return }
        let actions = await reconciler.refreshLeases()
        guard !actions.isEmpty else { return }
        for action in actions { logger.warning("a VIP lease ran out (sfhad stalled): group released: \(action)") }
        await handle(.localState(holdings: Set(await reconciler.heldGroups), blockedGroups: await reconciler.failedGroups, healthy: true))
    }

    public func setStandby(_ on: Bool) async { await handle(.setStandby(on)) }

    /// Graceful stop: release everything (VIPs first), tell the others, then leave the group.
    public func shutdown() async {
        shuttingDown = true
        for action in await reconciler.releaseEverything() { logger.notice("shutdown: \(action)") }
        await handle(.localState(holdings: [], blockedGroups: await reconciler.failedGroups, healthy: true))
        group?.leave()
        group = nil
    }

    private func handle(_ input: DaemonState.Input) async {
        var pending = state.handle(input, now: now)
        // Reconciling changes local state, which may produce more outputs: loop until quiet (bounded).
        for _ in 0..<8 where !pending.isEmpty {
            var next: [DaemonState.Output] = []
            for output in pending { next += await perform(output) }
            pending = next
        }
    }

    private func perform(_ output: DaemonState.Output) async -> [DaemonState.Output] {
        switch output {
        case .send(let message):
            guard let group else { return [] }
            do {
                try await group.send(try message.encoded())
            } catch {
                logger.warning("could not send to the process group", metadata: ["error": "\(error)"])
            }
            return []
        case .assign(let groups, let placement):
            guard !shuttingDown else { return [] }
            if groups == desired {
                // A repeat (heartbeat): repair only when no reconciliation is running — never supersede one.
                guard !reconciling else { return [] }
            } else {
                for assignment in placement.assignments {
                    logger.info("placement", metadata: ["group": "\(assignment.group)", "holder": "\(assignment.holder ?? "none")", "reason": "\(assignment.reason)"])
                }
            }
            // A new assignment supersedes a running reconciliation (a release never waits behind an acquire).
            desired = groups
            reconciling = true
            let actions = await reconciler.apply(groups)
            reconciling = false
            for action in actions where action.outcome != .unchanged { logger.notice("\(action)") }
            let held = Set(await reconciler.heldGroups)
            return state.handle(.localState(holdings: held, blockedGroups: await reconciler.failedGroups, healthy: true), now: now)
        case .commit(let document):
            do {
                try AtomicFile.write(Array(try JSONEncoder().encode(document)), to: documentPath, mode: 0o600)
            } catch {
                logger.error("could not write the cluster document", metadata: ["path": "\(documentPath)", "error": "\(error)"])
            }
            await reconciler.setGroups(document.configuration.groups)
            await reconciler.setMaintenance(document.configuration.maintenance)
            logger.notice("cluster document committed", metadata: ["revision": "\(document.revision)"])
            return []
        case .proposalOutcome(let id, let committed, let reason):
            logger.notice("proposal \(id): \(committed ? "committed" : "refused") — \(reason)")
            return []
        }
    }
}
