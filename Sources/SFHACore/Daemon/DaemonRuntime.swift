import CorosyncKit
import Foundation
import Logging
import MeshKit
import SFHABase

/// The running daemon: feeds `DaemonState` from corosync, the sfha process group, corosync's totem counters, health
/// checks and the local reconciler, and carries out its outputs.
///
/// The actor is the core loop, and it never waits for an effect: it decides on the newest state and hands work to
/// what runs beside it — the reconcile worker (VIPs and units), the group sender (messages to corosync), the
/// document store (files). Releases start at once, without waiting for an acquisition in progress; every
/// acquisition step re-checks, at the moment it runs, that it is still wanted and proven (`EffectGate`).
public actor DaemonRuntime {
    public static let processGroupName = "sfha"
    /// After a ring change, how long before the anchor is checked (and the report sent again if it failed).
    static let anchorRetry: Duration = .milliseconds(150)

    var state: DaemonState
    nonisolated let reconciler: LocalReconciler
    nonisolated let effects: NodeEffects
    public nonisolated let clock: DaemonClock
    public nonisolated let proof: MembershipProof
    public nonisolated let gate: EffectGate
    public nonisolated let sender: GroupSender
    let documents: DocumentStore<ClusterDocument>
    /// The committed membership record's file (membership.json, next to the cluster document).
    let memberships: DocumentStore<MembershipDocument>
    /// Moves, failures and operator commands, kept across restarts (`sfha history`).
    public nonisolated let history: DaemonHistory
    /// The last holder recorded in the history for each group.
    private var recordedHolders: [String: String] = [:]
    /// Each group's last change of holder since this daemon started (`sfha status`; older ones: `sfha history`).
    private(set) var lastMoves: [String: LastMove] = [:]
    /// Why each group was first seen without a holder since its last recorded holder (for the next move's cause).
    private var vacated: [String: PlacementReason] = [:]
    var group: ProcessGroup?
    /// Every node id seen in corosync's membership since this daemon started: a member that was online once is not a
    /// join still under way when it is down later (`joinsUnderWay`).
    var seenOnline: Set<UInt32> = []
    let logger: Logger
    /// Derives this node's WireGuard peers from the membership record (nil: sfhad does not manage a mesh here).
    public nonisolated let meshReconciler: MeshReconciler?
    /// Keeps corosync.conf's nodelist what the membership record says (nil: sfhad does not manage membership here).
    public nonisolated let nodelistApplier: CorosyncNodelistApplier?
    /// Member name → whether its sfhad answered the last P2P ping (`P2PService`; empty outside an init-built cluster).
    private(set) var p2pAnswers: [String: Bool] = [:]

    /// The latest P2P ping answers (from `P2PService`).
    public func p2pPinged(_ answers: [String: Bool]) { p2pAnswers = answers }
    static let membershipFileName = "membership.json"
    private(set) var shuttingDown = false
    /// The groups placement assigned here last.
    private var desired: Set<String> = []
    /// The last assignment of each group that was logged.
    private var loggedAssignments: [String: GroupAssignment] = [:]
    /// Groups placement assigned here that this daemon has published as held before acquiring them.
    private var claims: Set<String> = []
    /// For each claim, the sequence number of the first own report that carried it: the claim has come back from
    /// the group once a report at least that new was delivered here (`DaemonState.ownDeliveredSequence`).
    private var claimSequences: [String: UInt64] = [:]
    private let reconcileRequests: AsyncStream<Void>.Continuation
    public nonisolated let reconcileWakeups: AsyncStream<Void>
    private let machineRequests: AsyncStream<Void>.Continuation
    /// Asks `MachineService` to read the machine again (a new document may name other interfaces and units).
    public nonisolated let machineWakeups: AsyncStream<Void>
    /// A one-shot timer for the next moment placement waits for (`DaemonState.nextDecisionTime`).
    private var wakeUp: (at: Timestamp, task: Task<Void, Never>)?
    /// Proposals this node sent, waiting for their verdict (delivered in order by the process group).
    var pendingProposals: [String: CheckedContinuation<DaemonState.ProposalVerdict?, Never>] = [:]
    /// This node coordinates a membership change (a join it issued, a removal): one at a time, so that a prepare it
    /// sends always means its previous change is over (members let it replace one left prepared: `prepare`).
    var coordinatingMembershipChange = false
    /// An own report delivered before corosync said whether its ring is quorate.
    private var unconfirmedAnchor: (base: UInt64, ring: RingID, at: ContinuousClock.Instant)?
    private var anchorCheck: Task<Void, Never>?
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
    /// Rejected messages logged per interval (the rest counted): a hostile process must not flood the log.
    private var rejections = RateLimitedLog(interval: .seconds(10))
    private var tokenTimeout: Duration = .seconds(1)
    /// The revision at which the config.yml drift was last logged.
    private var driftLoggedAt: UInt64?

    public init(
        node: NodeConfiguration, nodeID: UInt32, document: ClusterDocument, effects: NodeEffects, documentPath: String,
        seededFrom fileCluster: ClusterConfiguration? = nil, liveness: DaemonLiveness = DaemonLiveness(),
        proof: MembershipProof? = nil, requireProof: Bool = true, mesh: (any MeshController)? = nil,
        corosyncReloader: (any CorosyncReloading)? = nil, corosyncConfPath: String = CorosyncConf.defaultPath, logger: Logger
    ) {
        self.meshReconciler = mesh.map { MeshReconciler(mesh: $0, nodeName: node.name, logger: logger) }
        self.nodelistApplier = corosyncReloader.map {
            CorosyncNodelistApplier(path: corosyncConfPath, nodeName: node.name, reloader: $0, logger: logger)
        }
        let clock = DaemonClock()
        self.clock = clock
        let membershipPath = URL(fileURLWithPath: documentPath).deletingLastPathComponent().appendingPathComponent(Self.membershipFileName).path
        self.state = DaemonState(
            nodeName: node.name, nodeID: nodeID, priority: node.priority, document: document,
            membership: Self.loadMembership(from: membershipPath, logger: logger), now: .zero)
        self.reconciler = LocalReconciler(groups: document.configuration.groups, effects: effects)
        self.effects = effects
        self.logger = logger
        self.liveness = liveness
        self.nodeConfiguration = node
        self.seededClusterHash = ClusterDocument.contentHash(of: fileCluster ?? document.configuration)
        let proof = proof ?? MembershipProof()
        self.proof = proof
        self.gate = EffectGate(proof: proof, requireProof: requireProof)
        self.sender = GroupSender(proof: proof, clock: clock, logger: logger)
        self.documents = DocumentStore(path: documentPath, logger: logger)
        self.memberships = DocumentStore(path: membershipPath, logger: logger)
        self.history = DaemonHistory(
            path: URL(fileURLWithPath: documentPath).deletingLastPathComponent().appendingPathComponent("history.jsonl").path,
            logger: logger)
        (healthCheckSets, checkSets) = AsyncStream.makeStream(of: [HealthCheck].self, bufferingPolicy: .bufferingNewest(1))
        (reconcileWakeups, reconcileRequests) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (machineWakeups, machineRequests) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        liveness.setVIPs(document.configuration.groups.flatMap(\.vips))
        state.validateConfiguration = Self.validate
    }

    /// The membership record kept on disk (nil: none, or unreadable — said in the log; the group offers it again).
    static func loadMembership(from path: String, logger: Logger) -> MembershipDocument? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            let document = try JSONDecoder().decode(MembershipDocument.self, from: Data(try AtomicFile.read(path)))
            _ = try document.record.validated()
            guard document.contentHash == MembershipDocument.contentHash(of: document.record) else {
                throw SFHAError(.invalidArgument, "its hash does not match its content")
            }
            return document
        } catch {
            logger.error("cannot use the membership record \(path): \(error); the other members offer theirs when this node joins the group")
            return nil
        }
    }

    /// The config.yml rules, for configurations received from the group.
    static let validate: @Sendable (ClusterConfiguration) -> String? = { configuration in
        do {
            _ = try configuration.validated()
            return nil
        } catch {
            return "\(error)"
        }
    }

    var now: Timestamp { clock.now }

    public var placement: Placement? { state.lastPlacement }
    public var localReport: NodeReport { state.report }
    public var document: ClusterDocument { state.document }
    public var view: ClusterView { state.view }
    public var isInProcessGroup: Bool { state.inProcessGroup }
    public var persistenceError: String? { get async { await documents.lastError } }

    /// Before anything else: a daemon that starts (or restarts after a crash) removes every configured VIP it holds
    /// and was not assigned — it has been assigned nothing yet.
    public func start() async {
        await reconciler.setMaintenance(state.document.configuration.maintenance)
        let gate = self.gate
        await reconciler.setAcquireGate { gate.mayAcquire($0) }
        for action in await reconciler.startupCleanup() { logger.notice("startup cleanup: \(action)") }
        publishCheckSetIfChanged(force: true)
        logDriftIfAny()
        if let record = state.membership?.record, let meshReconciler { Task { await meshReconciler.apply(record) } }
        if let record = state.membership?.record, let nodelistApplier { Task { await nodelistApplier.apply(record) } }
    }

    // MARK: - Inputs from corosync

    public func corosync(_ event: ClusterEvent) async {
        switch event {
        case .connectionLost(let error):
            proof.corosyncLost()
            logger.warning("corosync lost: releasing everything", metadata: ["error": "\(error)"])
            proof.dropAnchor()
            handle(.corosyncLost)
        default:
            guard let snapshot = event.snapshot else { return }
            let facts = CorosyncFacts(snapshot, tokenTimeout: tokenTimeout)
            if facts.quorumKnown && !ringCounts(facts) { proof.dropAnchor() }
            if facts.twoNode && state.facts?.twoNode != true && !state.document.configuration.fences {
                logger.warning("\(TwoNodeWarning.text)")
            }
            handle(.corosync(facts))
            seenOnline.formUnion(state.view.members)
            confirmAnchorIfQuorate()
            if case .membershipChanged(let change, _) = event {
                logger.info("membership changed", metadata: ["ring": "\(change.ring)", "left": "\(change.left)", "joined": "\(change.joined)"])
                // Neighbours' ARP caches may be stale after a partition heals (keepalived left clients black-holed
                // for up to 37 s): announce every VIP held here again.
                if !change.joined.isEmpty { reannounce() }
            }
        }
    }

    /// corosync's token settings (effective token timeout, hold), read from cmap after each connection.
    public func setTotemSettings(token: Duration, hold: Duration) {
        tokenTimeout = token
        let window = DaemonTimings.proofWindow(tokenHold: hold)
        proof.setWindow(window)
        state.holderOverhang = DaemonTimings.holderOverhang(proofWindow: window)
        if var facts = state.facts {
            facts.tokenTimeout = token
            handle(.corosync(facts))
        }
        logger.info("ring evidence", metadata: [
            "token": "\(DurationFormatting.human(token))", "proof_window": "\(DurationFormatting.human(window))",
            "holder_overhang": "\(DurationFormatting.human(state.holderOverhang))",
        ])
    }

    public func attach(_ newGroup: ProcessGroup?) async {
        group = newGroup
        sender.attach(newGroup)
        handle(.groupConnected(newGroup?.localMember))
    }

    /// Attaches another transport as this daemon's process group (tests: an in-memory loopback).
    func attach(transport: (any GroupTransport)?, as member: ProcessGroupMember?) async {
        sender.attach(transport)
        handle(.groupConnected(member))
    }

    public func groupEvent(_ event: ProcessGroupEvent) {
        switch event {
        case .membership(let change):
            let left = change.left.map { DaemonState.ProcessGroupDeparture($0.member, nodeLeft: $0.reason == .nodeDown) }
            handle(.groupMembership(members: change.members, joined: change.joined.map(\.member), left: left))
        case .message(let from, let payload):
            metrics.messageReceived()
            proof.corosyncTookMessages()
            do {
                handle(.message(from: from, try ClusterMessage.decode(payload)))
            } catch {
                rejected(from: from, "an unreadable message (\(payload.count) bytes): \(error)")
            }
        case .ring(let ring, let nodes):
            handle(.ring(ring, nodes: nodes))
            proof.corosyncDeliveredRing()
            proof.requestPreviousRing(learntAt: .now)
            scheduleAnchorCheck()
        }
    }

    public func proofEvent(_ event: MembershipProof.Event) {
        switch event {
        case .proven(let value):
            if value {
                logger.info("proven to be in the quorate ring")
            } else if !state.holdings.isEmpty {
                logger.warning("no longer proven to be in the quorate ring: the VIP leases here are no longer extended")
            } else {
                logger.info("no longer proven to be in the quorate ring")
            }
            handle(.proven(value))
        case .previousRingKnown(_, let left):
            handle(.previousRingKnown(leftAtMost: left.map(clock.timestamp)))
        case .unavailable(let reason):
            logger.warning("corosync's totem counters cannot be read: nothing is proven until they can", metadata: ["error": "\(reason)"])
        }
    }

    public func tick() { handle(.tick) }

    /// The core loop's proof of life for the stall watchdog, systemd's watchdog and the lease refresher.
    public func beat() {
        liveness.beat()
        gate.beat()
    }

    /// VIP leases of `groups` ran out (the lease refresher found them gone): they are no longer held here.
    public func leasesLapsed(_ groups: [String]) {
        logger.warning("VIP leases ran out: \(groups.joined(separator: ", ")) no longer held here (they are released)")
        reportLocalState()
        requestReconcile()
    }

    public func setStandby(_ on: Bool) { handle(.setStandby(on)) }

    public func healthMonitorStarted(_ monitor: HealthMonitor) { healthMonitor = monitor }

    /// A health check changed state (from `HealthService`). A service check's failure is handled beside the core
    /// loop (it may restart a unit).
    public func health(_ event: HealthEvent) {
        checkStatuses[event.check] = event.status
        logger.log(level: event.kind == .becameHealthy ? .notice : .warning, "health check \(event)")
        metrics.healthEvent(event)
        if state.document.configuration.nodeChecks.contains(where: { $0.name == event.check }) {
            nodeHealthy = computeNodeHealth()
            reportLocalState()
        } else {
            let reconciler = self.reconciler
            Task {
                let actions = await reconciler.handle(event)
                self.reconciled(actions)
            }
        }
    }

    /// Graceful stop: release everything (VIPs first), tell the others, then leave the group. Runs once; a second
    /// call waits for the first to finish.
    public func shutdown() async {
        if let handover {
            await handover.value
            return
        }
        let task = Task { await self.handOver() }
        handover = task
        await task.value
    }

    private var handover: Task<Void, Never>?

    private func handOver() async {
        shuttingDown = true
        gate.stop()
        wakeUp?.task.cancel()
        for action in await reconciler.releaseEverything() { logger.notice("shutdown: \(action)") }
        claims = []
        claimSequences = [:]
        handle(.localState(holdings: [], blockedGroups: await reconciler.failedGroups, healthy: nodeHealthy, failures: await failureCount()))
        await sender.drain(timeout: .seconds(1))
        group?.leave()
        group = nil
        sender.attach(nil)
        sender.finish()
        reconcileRequests.finish()
        machineRequests.finish()
        checkSets.finish()
        liveness.stop()
    }

    // MARK: - The core loop

    func handle(_ input: DaemonState.Input) {
        let fenceBefore = state.fence
        let outputs = state.handle(input, now: now)
        // Every change of a group's holder or of why: the log says why nothing moves as well as why something did.
        // Not before the daemon is in the group and has heard from corosync: what it decides while starting ("no
        // quorum: nothing may run") is not news at every healthy start.
        for assignment in state.lastPlacement?.assignments ?? []
        where state.inProcessGroup && state.facts != nil && loggedAssignments[assignment.group] != assignment {
            loggedAssignments[assignment.group] = assignment
            if assignment.holder == nil, recordedHolders[assignment.group] != nil, vacated[assignment.group] == nil {
                vacated[assignment.group] = assignment.reason
            }
            if let holder = assignment.holder, recordedHolders[assignment.group] != holder {
                // A move is news; a holder kept for another reason, or "none" while waiting, is not. Said with what
                // became of the previous holder, which placement's own reason for the new one does not tell.
                let previous = recordedHolders[assignment.group]
                recordedHolders[assignment.group] = holder
                let cause = Placer.cause(
                    ofMoveFrom: previous, to: assignment, state.view.placementInput(now: now),
                    policy: PlacementPolicy(state.document.configuration), vacatedBy: vacated.removeValue(forKey: assignment.group))
                lastMoves[assignment.group] = LastMove(from: previous, to: holder, at: Date(), cause: cause)
                let line: Logger.Message = "group \(assignment.group) \(previous.map { "moves from \($0) to" } ?? "goes to") \(holder): \(cause)"
                if previous == nil { logger.notice(line) } else { logger.warning(line) }
                record(.move, "group \(assignment.group): \(previous ?? "none") → \(holder) (\(cause))")
                // That line said it all: the same decision is not logged twice.
                continue
            }
            logger.info("placement", metadata: ["group": "\(assignment.group)", "holder": "\(assignment.holder ?? "none")", "reason": "\(assignment.reason)"])
        }
        if state.fence != fenceBefore, let fence = state.fence {
            logger.info("acquisition fence at \(fence) (now \(now)): \(state.fenceInputs)")
        }
        scheduleWakeUp()
        // Every input may change who is alive (a daemon joining or leaving the group, a report): the gauges follow.
        metrics.observe(view: state.view, configurationRevision: state.document.revision)
        for output in outputs { perform(output) }
        gate.setDesired(shuttingDown ? [] : desired)
        if let echo = state.lastOwnDelivery { gate.ownEcho(at: clock.instant(echo)) }
        if !claims.isEmpty && claimsDelivered { requestReconcile() }
    }

    /// Whether any claim has come back from the group (in order: every claim delivered before it is known here).
    private var claimsDelivered: Bool { claims.contains(where: claimDelivered) }

    private func claimDelivered(_ group: String) -> Bool {
        claimSequences[group].map { $0 <= state.ownDeliveredSequence } ?? false
    }

    private func perform(_ output: DaemonState.Output) {
        switch output {
        case .publish(let report, let previousRing):
            sender.enqueueReport(report, previousRing: previousRing)
        case .send(let message):
            sender.enqueue(message, timeout: Self.proposalTimeout)
        case .assign(let groups, let placement):
            assign(groups, placement)
        case .commit(let document):
            commit(document)
        case .commitMembership(let membership):
            let store = memberships
            Task { await store.write(membership) }
            logger.notice("membership record committed", metadata: ["revision": "\(membership.revision)", "members": "\(membership.record.members.count)"])
            if let meshReconciler { Task { await meshReconciler.apply(membership.record) } }
            if let nodelistApplier { Task { await nodelistApplier.apply(membership.record) } }
        case .proposalOutcome(let id, let verdict):
            logger.notice("proposal \(id): \(verdict)")
            pendingProposals.removeValue(forKey: id)?.resume(returning: verdict)
        case .clearFailures(let group):
            let reconciler = self.reconciler
            Task {
                await reconciler.clearFailures(group: group)
                self.reportLocalState()
            }
            logger.notice("failures cleared", metadata: ["group": "\(group ?? "all")"])
        case .anchorDelivered(let base, let ring):
            unconfirmedAnchor = (base, ring, .now)
            confirmAnchorIfQuorate()
        case .rejected(let from, let reason):
            rejected(from: from, reason)
        case .reannounce:
            reannounce()
        }
    }

    private func assign(_ groups: Set<String>, _ placement: Placement) {
        guard !shuttingDown else { return }
        if groups != desired { metrics.placementChanged() }
        let dropped = desired.subtracting(groups)
        desired = groups
        gate.setDesired(groups)
        claims.formIntersection(groups)
        claimSequences = claimSequences.filter { claims.contains($0.key) }
        if !dropped.isEmpty {
            // A release never waits behind an acquisition: VIPs go now, beside whatever the worker is doing.
            let reconciler = self.reconciler
            Task {
                let actions = await reconciler.releaseNow(keeping: groups)
                self.reconciled(actions)
            }
        }
        // Claim before acting: groups about to be acquired are published as held first, and acquired only once that
        // claim has come back from the group — every daemon then decides with it.
        let newClaims = groups.subtracting(state.holdings)
        if !newClaims.isSubset(of: claims) {
            claims.formUnion(newClaims)
            reportLocalState()
        }
        requestReconcile()
    }

    func requestReconcile() { reconcileRequests.yield() }

    /// Appends to the history beside the core loop.
    func record(_ kind: HistoryEntry.Kind, _ text: String, who: String? = nil) {
        let entry = HistoryEntry(kind: kind, node: state.nodeName, text: text, who: who)
        let history = self.history
        Task { await history.record(entry) }
    }

    /// One pass of the reconcile worker (`ReconcileService`): brings the machine to the newest assignment, beside the
    /// core loop.
    public nonisolated func reconcileOnce() async {
        guard let target = await reconcileTarget() else { return }
        let actions = await reconciler.apply(target)
        await reconciled(actions)
    }

    /// What the worker may hold now: the assignment, except groups whose claim has not come back from the group
    /// yet. Two nodes that each decide they are the holder (each sees itself proven before it hears of the other)
    /// both claim; the claim delivered first wins everywhere, and the other sees it before its own comes back.
    private func reconcileTarget() async -> Set<String>? {
        guard !shuttingDown else { return nil }
        let held = Set(await reconciler.heldGroups)
        return desired.filter { held.contains($0) || (claims.contains($0) && claimDelivered($0)) }
    }

    func reconciled(_ actions: [ReconcileAction]) {
        for action in actions where action.outcome != .unchanged {
            if action.kind == .groupFailed || action.kind == .serviceFailed, case .failed(let why) = action.outcome {
                record(.failure, "\(action.kind == .groupFailed ? "group" : "service") failed [\(action.group)] \(action.resource): \(why)")
            }
            switch (action.kind, action.outcome) {
            case (.groupFailed, _): logger.error("\(action); the group is failed on this node and moves if another node is eligible ('sfha resource cleanup' retries here)")
            case (_, .failed), (_, .refused): logger.warning("\(action)")
            default: logger.notice("\(action)")
            }
            metrics.reconcileAction(action)
        }
        reportLocalState()
    }

    /// Publishes what the reconciler holds, plus the claims still in flight.
    func reportLocalState() {
        let reconciler = self.reconciler
        Task {
            let held = Set(await reconciler.heldGroups)
            let failed = await reconciler.failedGroups
            let failures = await reconciler.failureRecords.reduce(0) { $0 + $1.failures }
            let running = await reconciler.runningGroups
            self.localStateRead(held: held, failed: failed, failures: failures, running: running)
        }
    }

    private func localStateRead(held: Set<String>, failed: Set<String>, failures: Int, running: Set<String>) {
        // A claim is dropped once acquired (it is then held) or no longer wanted.
        claims = claims.intersection(desired).subtracting(held)
        claimSequences = claimSequences.filter { claims.contains($0.key) }
        metrics.held(groups: held.count)
        handle(.localState(holdings: held.union(claims), blockedGroups: failed, healthy: nodeHealthy, failures: failures, running: running))
        // The report that carries a claim first: its delivery back is what the acquisition waits for.
        for claim in claims where claimSequences[claim] == nil && state.publishedHoldings.contains(claim) {
            claimSequences[claim] = state.publishedSequence
        }
        publishCheckSetIfChanged()
    }

    /// Reads what this machine has — its interfaces, and for each group what it lacks (a VIP's interface, a
    /// service's unit) — beside the core loop; the result goes into this node's report. An answer that cannot be had
    /// (systemd busy) counts as present: only what is known to be missing makes a node ineligible.
    public nonisolated func readMachine() async {
        let configuration = await state.document.configuration
        let names = try? await effects.addresses.interfaceNames()
        var cannotApply: [String: String] = [:]
        for group in configuration.groups {
            var missing: [String] = []
            if let names {
                for vip in group.vips where !names.contains(vip.interface) { missing.append("no interface \(vip.interface) for VIP \(vip.name)") }
            }
            for service in group.services where (try? await effects.services.exists(service.systemdUnitName)) == false {
                missing.append("no unit \(service.systemdUnitName) for service \(service.name)")
            }
            if !missing.isEmpty { cannotApply[group.name] = missing.joined(separator: "; ") }
        }
        await machineRead(interfaces: names, cannotApply: cannotApply)
    }

    private func machineRead(interfaces: [String]?, cannotApply: [String: String]) {
        // Said once per change, at error level: the group cannot run here until the machine is fixed.
        for (group, missing) in cannotApply.sorted(by: { $0.key < $1.key }) where state.cannotApply[group] != missing {
            logger.error("this node cannot apply group \(group): \(missing); it will not take the group until that is fixed")
        }
        for group in state.cannotApply.keys.sorted() where cannotApply[group] == nil {
            logger.notice("this node can apply group \(group) again")
        }
        guard interfaces != state.interfaces || cannotApply != state.cannotApply else { return }
        handle(.machine(interfaces: interfaces, cannotApply: cannotApply))
    }

    private func failureCount() async -> Int { await reconciler.failureRecords.reduce(0) { $0 + $1.failures } }

    private func commit(_ document: ClusterDocument) {
        let reconciler = self.reconciler
        let store = documents
        Task {
            await store.write(document)
            await reconciler.setGroups(document.configuration.groups)
            await reconciler.setMaintenance(document.configuration.maintenance)
            self.requestReconcile()
        }
        liveness.setVIPs(document.configuration.groups.flatMap(\.vips))
        machineRequests.yield()
        publishCheckSetIfChanged()
        logDriftIfAny()
        logger.notice("cluster document committed", metadata: ["revision": "\(document.revision)", "hash": "\(document.contentHash.prefix(12))"])
    }

    /// Says once (per revision, and at every reload) that this node's config.yml is not the live document.
    func logDriftIfAny(force: Bool = false) {
        guard let drift = configurationDrift else {
            driftLoggedAt = nil
            return
        }
        guard force || driftLoggedAt != state.document.revision else { return }
        driftLoggedAt = state.document.revision
        logger.warning("\(drift)")
    }

    private func reannounce() {
        let reconciler = self.reconciler
        let logger = self.logger
        Task {
            for action in await reconciler.reannounce() where action.outcome != .unchanged { logger.info("\(action)") }
        }
    }

    private func rejected(from: ProcessGroupMember, _ reason: String) {
        if let line = rejections.record("\(reason)") {
            logger.warning("refused a message from \(from): \(line); it changed nothing")
        }
    }

    // MARK: - Ring evidence

    private func ringCounts(_ facts: CorosyncFacts) -> Bool {
        Self.ringMayHoldGroups(quorate: facts.quorate, quorumRequired: state.document.configuration.quorumRequired)
    }

    /// Whether a ring may anchor this node's ring evidence (and so let it hold groups): it is quorate, or the
    /// configuration does not require quorum (`quorum_required: false`: the operator accepts a VIP on both sides of
    /// a split). The simulator applies the same rule.
    public static func ringMayHoldGroups(quorate: Bool, quorumRequired: Bool) -> Bool { quorate || !quorumRequired }

    /// An own report came back: once corosync says its ring is quorate, it anchors the ring evidence.
    private func confirmAnchorIfQuorate() {
        guard let anchor = unconfirmedAnchor, let facts = state.facts, facts.ring == anchor.ring, facts.quorumKnown else { return }
        unconfirmedAnchor = nil
        guard ringCounts(facts) else { return }
        proof.anchorDelivered(base: anchor.base, ring: anchor.ring, at: anchor.at)
    }

    private func scheduleAnchorCheck() {
        anchorCheck?.cancel()
        anchorCheck = Task { [weak self] in
            try? await Task.sleep(for: Self.anchorRetry)
            guard !Task.isCancelled else { return }
            await self?.retryAnchorIfNeeded()
        }
    }

    /// The anchor failed (the gather counter moved across the round trip) or never came: send the report again.
    private func retryAnchorIfNeeded() {
        guard !shuttingDown, let ringID = state.currentRing else { return }
        // Plain locals: the optimiser (Swift 6.3 release builds) crashed on the combined optional-tuple conditions.
        let anchoring = proof.isAnchoring(ringID)
        let facts = state.facts
        let quorateHere = facts.map { ringCounts($0) && $0.ring == ringID } ?? false
        guard !anchoring else { return }
        if state.inProcessGroup, quorateHere { handle(.tick) }
        scheduleAnchorCheck()
    }

    // MARK: - Timers

    /// Arms the timer for the next moment placement waits for, if it changed.
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

    private func timerFired(at time: Timestamp) {
        guard wakeUp?.at == time else { return }
        wakeUp = nil
        handle(.wakeUp)
    }

    func send(_ message: ClusterMessage) {
        sender.enqueue(message, timeout: Self.proposalTimeout)
        metrics.messageSent()
    }

    // MARK: - Health checks

    /// The checks that run here: node checks always, a service's checks (its unit's state, and its health check if
    /// it has one) only while this node holds its group (a check of a service that is not running here would only
    /// fail).
    private func wantedChecks() -> [HealthCheck] {
        let configuration = state.document.configuration
        let held = state.holdings
        // A service's check is named after the service (the loader sees to it), its unit's check `<service>/unit`.
        let serviceChecks = configuration.groups.filter { held.contains($0.name) }.flatMap { $0.services.flatMap(\.checks) }
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
        state.document.configuration.nodeIsHealthy { checkStatuses[$0]?.healthy == false }
    }
}

/// A committed document with a revision (the cluster document, the membership record).
protocol RevisionedDocument: Encodable, Sendable {
    var revision: UInt64 { get }
}

extension ClusterDocument: RevisionedDocument {}
extension MembershipDocument: RevisionedDocument {}

/// Writes a committed document beside the core loop, never an older revision over a newer one (the writes are
/// started from tasks, whose order is not guaranteed); remembers a failure so that status and the operator's
/// answer can say the change lives in memory only.
actor DocumentStore<Document: RevisionedDocument> {
    let path: String
    let logger: Logger
    private(set) var lastError: String?
    private(set) var writtenRevision: UInt64?

    init(path: String, logger: Logger) {
        self.path = path
        self.logger = logger
    }

    /// Writes `document` unless it (or a later revision) is written already; the error when it could not be.
    func ensureWritten(_ document: Document) -> String? {
        write(document)
        return lastError
    }

    func write(_ document: Document) {
        if let written = writtenRevision, written >= document.revision { return }
        do {
            try AtomicFile.write(Array(try JSONEncoder().encode(document)), to: path, mode: 0o600)
            if lastError != nil { logger.notice("revision \(document.revision) is written to \(path) again") }
            lastError = nil
            writtenRevision = document.revision
        } catch {
            let message = "revision \(document.revision) is committed in memory only: could not write \(path): \(error)"
            if lastError == nil { logger.error("\(message); fix the disk (full? read-only?), it is written at the next commit") }
            lastError = message
        }
    }
}

/// Counts repeated log lines and lets one through per interval, with how many were held back.
struct RateLimitedLog {
    let interval: Duration
    private var lastLogged: ContinuousClock.Instant?
    private var suppressed = 0

    init(interval: Duration) { self.interval = interval }

    /// The line to log now, or nil (counted).
    mutating func record(_ line: String, now: ContinuousClock.Instant = .now) -> String? {
        if let last = lastLogged, now - last < interval {
            suppressed += 1
            return nil
        }
        lastLogged = now
        defer { suppressed = 0 }
        return suppressed == 0 ? line : "\(line) (and \(suppressed) more since the last such line)"
    }
}
