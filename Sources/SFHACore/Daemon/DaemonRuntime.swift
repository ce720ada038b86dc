import CorosyncKit
import Foundation
import Logging
import SFHABase

/// The running daemon: feeds `DaemonState` from corosync, the sfha process group, health checks and the local
/// reconciler, and carries out its outputs. An actor, so every input is applied in order, one at a time.
public actor DaemonRuntime {
    public static let processGroupName = "sfha"

    var state: DaemonState
    let reconciler: LocalReconciler
    let effects: NodeEffects
    var group: ProcessGroup?
    private let origin = ContinuousClock.now
    let logger: Logger
    private let documentPath: String
    private(set) var shuttingDown = false
    /// The groups placement assigned here last, and whether a reconciliation is running.
    private var desired: Set<String>?
    /// Reconciliations running (a newer one supersedes an older one mid-way; both may be in flight), and every group
    /// they may be acquiring: published as held until they are all done, so no VIP is up unannounced.
    private var reconciliationsInFlight = 0
    /// A one-shot timer for the end of a takeover delay (`DaemonState.nextDecisionTime`).
    private var wakeUp: (at: Timestamp, task: Task<Void, Never>)?
    private var claimedInFlight: Set<String> = []
    /// Proposals this node sent, waiting for their verdict (delivered in order by the process group).
    var pendingProposals: [String: CheckedContinuation<DaemonState.ProposalVerdict?, Never>] = [:]
    /// Health checks: which ones run here (held groups' service checks + node checks) and their last status.
    private(set) var activeChecks: [HealthCheck] = []
    private let checkSets: AsyncStream<[HealthCheck]>.Continuation
    public nonisolated let healthCheckSets: AsyncStream<[HealthCheck]>
    private(set) var checkStatuses: [String: HealthStatus] = [:]
    /// The monitor running the checks now (for `sfha health`: every probe, not only state changes).
    private(set) var healthMonitor: HealthMonitor?
    private var nodeHealthy = true
    /// Liveness of the core loop for the stall watchdog and systemd's watchdog.
    public nonisolated let liveness: DaemonLiveness
    let metrics = DaemonMetrics()
    /// Hash of config.yml's cluster part when it was last read: a reload proposes it only when the file changed.
    var seededClusterHash: String
    var nodeConfiguration: NodeConfiguration

    public init(
        node: NodeConfiguration, nodeID: UInt32, document: ClusterDocument, effects: NodeEffects, documentPath: String,
        seededFrom fileCluster: ClusterConfiguration? = nil, liveness: DaemonLiveness = DaemonLiveness(), logger: Logger
    ) {
        self.state = DaemonState(nodeName: node.name, nodeID: nodeID, priority: node.priority, document: document, now: .zero)
        self.reconciler = LocalReconciler(groups: document.configuration.groups, effects: effects)
        self.effects = effects
        self.documentPath = documentPath
        self.logger = logger
        self.liveness = liveness
        self.nodeConfiguration = node
        self.seededClusterHash = ClusterDocument.contentHash(of: fileCluster ?? document.configuration)
        (healthCheckSets, checkSets) = AsyncStream.makeStream(of: [HealthCheck].self, bufferingPolicy: .bufferingNewest(1))
        liveness.setVIPs(document.configuration.groups.flatMap(\.vips))
    }

    var now: Timestamp { Timestamp(nanoseconds: (ContinuousClock.now - origin).nanosecondsClamped) }

    public var placement: Placement? { state.lastPlacement }
    public var localReport: NodeReport { state.report }
    public var document: ClusterDocument { state.document }
    public var view: ClusterView { state.view }
    public var isInProcessGroup: Bool { group != nil }

    /// Before anything else: a daemon that starts (or restarts after a crash) removes every configured VIP it holds
    /// and was not assigned — it has been assigned nothing yet.
    public func start() async {
        await reconciler.setMaintenance(state.document.configuration.maintenance)
        for action in await reconciler.startupCleanup() { logger.notice("startup cleanup: \(action)") }
        publishCheckSetIfChanged(force: true)
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
        metrics.observe(view: state.view, configurationRevision: state.document.revision)
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
            metrics.messageReceived()
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

    /// Keeps the held VIPs' leases fresh (called several times per lease). Also the core loop's proof of life:
    /// the stall watchdog and systemd's watchdog are fed from here, so they stop being fed when the actor stalls.
    public func refreshLeases() async {
        liveness.beat()
        guard !shuttingDown else { return }
        let actions = await reconciler.refreshLeases()
        guard !actions.isEmpty else { return }
        for action in actions { logger.warning("a VIP lease ran out (sfhad stalled): group released: \(action)") }
        await reportLocalState()
    }

    public func setStandby(_ on: Bool) async { await handle(.setStandby(on)) }

    public func healthMonitorStarted(_ monitor: HealthMonitor) { healthMonitor = monitor }

    /// A health check changed state (from `HealthService`).
    public func health(_ event: HealthEvent) async {
        checkStatuses[event.check] = event.status
        logger.log(level: event.kind == .becameHealthy ? .notice : .warning, "health check \(event)")
        metrics.healthEvent(event)
        if state.document.configuration.nodeChecks.contains(where: { $0.name == event.check }) {
            nodeHealthy = computeNodeHealth()
        } else {
            for action in await reconciler.handle(event) { logger.notice("\(action)") }
        }
        await reportLocalState()
    }

    /// Graceful stop: release everything (VIPs first), tell the others, then leave the group.
    public func shutdown() async {
        shuttingDown = true
        liveness.stop()
        for action in await reconciler.releaseEverything() { logger.notice("shutdown: \(action)") }
        await handle(.localState(holdings: [], blockedGroups: await reconciler.failedGroups, healthy: nodeHealthy, failures: await failureCount()))
        group?.leave()
        group = nil
        checkSets.finish()
    }

    func reportLocalState() async {
        await handle(.localState(holdings: await reportedHoldings(), blockedGroups: await reconciler.failedGroups, healthy: nodeHealthy, failures: await failureCount()))
    }

    /// Service failures counted here (every record's count).
    private func failureCount() async -> Int { await reconciler.failureRecords.reduce(0) { $0 + $1.failures } }

    /// What this node publishes as held: what the reconciler holds, plus what reconciliations in flight may acquire.
    private func reportedHoldings() async -> Set<String> {
        Set(await reconciler.heldGroups).union(claimedInFlight)
    }

    func handle(_ input: DaemonState.Input) async {
        var pending = state.handle(input, now: now)
        scheduleWakeUp()
        // Reconciling changes local state, which may produce more outputs: loop until quiet (bounded).
        for _ in 0..<8 where !pending.isEmpty {
            var next: [DaemonState.Output] = []
            for output in pending { next += await perform(output) }
            pending = next
        }
    }

    /// Arms the timer for the next moment placement waits for (the end of a takeover delay), if it changed.
    private func scheduleWakeUp() {
        let next = state.nextDecisionTime
        guard next != wakeUp?.at else { return }
        wakeUp?.task.cancel()
        wakeUp = nil
        guard let next, !shuttingDown else { return }
        let delay = max(next - now, .zero) + .milliseconds(1)
        wakeUp = (next, Task { [weak self] in
            do {
                try await Task.sleep(for: delay)
            } catch {
                return
            }
            await self?.timerFired(at: next)
        })
    }

    private func timerFired(at time: Timestamp) async {
        guard wakeUp?.at == time else { return }
        wakeUp = nil
        await handle(.wakeUp)
    }

    private func perform(_ output: DaemonState.Output) async -> [DaemonState.Output] {
        switch output {
        case .send(let message):
            await send(message)
            return []
        case .assign(let groups, let placement):
            guard !shuttingDown else { return [] }
            if groups == desired {
                // A repeat (heartbeat): repair only when no reconciliation is running — never supersede one.
                guard reconciliationsInFlight == 0 else { return [] }
            } else {
                for assignment in placement.assignments {
                    logger.info("placement", metadata: ["group": "\(assignment.group)", "holder": "\(assignment.holder ?? "none")", "reason": "\(assignment.reason)"])
                }
                metrics.placementChanged()
            }
            // A new assignment supersedes a running reconciliation (a release never waits behind an acquire).
            desired = groups
            reconciliationsInFlight += 1
            claimedInFlight.formUnion(groups)
            // Claim before acting: the groups about to be acquired are published as held *before* the first VIP goes
            // up, so that no other daemon, re-deciding during the acquisition, sees them free and picks another
            // node. Over-claiming only makes the others wait; the real holdings are published once all is done.
            let claimed = await reportedHoldings()
            var deferred: [DaemonState.Output] = []
            if claimed != state.holdings {
                for early in state.handle(.localState(holdings: claimed, blockedGroups: state.blockedGroups, healthy: nodeHealthy), now: now) {
                    if case .send(let message) = early { await send(message) } else { deferred.append(early) }
                }
            }
            let actions = await reconciler.apply(groups)
            reconciliationsInFlight -= 1
            if reconciliationsInFlight == 0 { claimedInFlight = [] }
            for action in actions where action.outcome != .unchanged {
                logger.notice("\(action)")
                metrics.reconcileAction(action)
            }
            let held = await reportedHoldings()
            metrics.held(groups: held.count)
            publishCheckSetIfChanged()
            return deferred + state.handle(.localState(holdings: held, blockedGroups: await reconciler.failedGroups, healthy: nodeHealthy, failures: await failureCount()), now: now)
        case .commit(let document):
            do {
                try AtomicFile.write(Array(try JSONEncoder().encode(document)), to: documentPath, mode: 0o600)
            } catch {
                logger.error("could not write the cluster document", metadata: ["path": "\(documentPath)", "error": "\(error)"])
            }
            await reconciler.setGroups(document.configuration.groups)
            await reconciler.setMaintenance(document.configuration.maintenance)
            liveness.setVIPs(document.configuration.groups.flatMap(\.vips))
            publishCheckSetIfChanged()
            metrics.observe(view: state.view, configurationRevision: document.revision)
            logger.notice("cluster document committed", metadata: ["revision": "\(document.revision)", "hash": "\(document.contentHash.prefix(12))"])
            return []
        case .proposalOutcome(let id, let verdict):
            logger.notice("proposal \(id): \(verdict)")
            pendingProposals.removeValue(forKey: id)?.resume(returning: verdict)
            return []
        case .clearFailures(let group):
            await reconciler.clearFailures(group: group)
            logger.notice("failures cleared", metadata: ["group": "\(group ?? "all")"])
            return []
        }
    }

    func send(_ message: ClusterMessage) async {
        guard let group else { return }
        do {
            try await group.send(try message.encoded())
            metrics.messageSent()
        } catch {
            logger.warning("could not send to the process group", metadata: ["error": "\(error)"])
        }
    }

    // MARK: - Health checks

    /// The checks that run here: node checks always, a service's check only while this node holds its group (a
    /// check of a service that is not running here would only fail).
    private func wantedChecks() -> [HealthCheck] {
        let configuration = state.document.configuration
        let held = state.holdings
        // A service's check is named after the service (the loader sees to it).
        let serviceChecks = configuration.groups.filter { held.contains($0.name) }.flatMap { $0.services.compactMap(\.healthCheck) }
        return configuration.nodeChecks + serviceChecks
    }

    private func publishCheckSetIfChanged(force: Bool = false) {
        let wanted = wantedChecks()
        guard force || wanted != activeChecks else { return }
        activeChecks = wanted
        let names = Set(wanted.map(\.name))
        checkStatuses = checkStatuses.filter { names.contains($0.key) }
        nodeHealthy = computeNodeHealth()
        checkSets.yield(wanted)
    }

    /// The node is healthy while every critical node check, and every node check a group requires, is healthy.
    private func computeNodeHealth() -> Bool {
        let configuration = state.document.configuration
        let required = Set(configuration.groups.flatMap(\.requiredChecks))
        return configuration.nodeChecks.allSatisfy { check in
            guard check.critical || required.contains(check.name) else { return true }
            return checkStatuses[check.name]?.healthy ?? true
        }
    }
}
