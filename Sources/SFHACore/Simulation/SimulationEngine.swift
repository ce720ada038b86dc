import SFHABase
import CorosyncKit

// The simulation model (Docs/Simulation.md, "The model"): every running sfhad is a real `DaemonState` fed the way
// `DaemonRuntime` feeds it, with the runtime's rules around it modelled here — claims acquired only once they came
// back from the group, acquisitions only while proven, VIP leases extended only while `EffectGate` would allow it.

/// One sfhad process.
private struct SimulatedDaemon {
    var state: DaemonState
    let member: ProcessGroupMember
    let reconciler: LocalReconciler
    /// Frozen (SIGSTOP) since then: it handles nothing, and what the group delivers waits in `inbox`.
    var frozenSince: Timestamp?
    var inbox: [DaemonState.Input] = []
    /// Connected to corosync's process group.
    var connected = false
    /// The process group's members as last delivered to it.
    var groupView: Set<ProcessGroupMember> = []
    /// `DaemonRuntime`'s claim rule: the groups assigned here, those published as held before being acquired, and
    /// the sequence of the first report that carried each claim.
    var desired: Set<String> = []
    var claims: Set<String> = []
    var claimSequences: [String: UInt64] = [:]
    /// The ring its own report came back in while that ring was quorate (the anchor of its ring evidence).
    var anchoredRing: RingID?
    var provenSent = false
    var nextHeartbeat: Timestamp
    var wokeFor: Timestamp?
    var needsReport = false
    var needsReconcile = false
    /// Last placement line per group, to print changes only.
    var shownDecisions: [String: String] = [:]
    var silentPeers: Set<String> = []
    /// A graceful stop is under way: assignments are no longer carried out (`DaemonRuntime.shuttingDown`).
    var stopping = false

    var claimsDelivered: Bool { claims.contains { claimSequences[$0].map { $0 <= state.ownDeliveredSequence } ?? false } }
    func claimDelivered(_ group: String) -> Bool { claimSequences[group].map { $0 <= state.ownDeliveredSequence } ?? false }
}

private struct SimulatedNode {
    let name: String
    let id: UInt32
    var powered = false
    var corosync = false
    var daemon: SimulatedDaemon?
    /// The membership corosync last delivered to this node (ids), and its ring.
    var delivered: Set<UInt32> = []
    var ring: RingID?
    var settleAt: Timestamp?
    var seenAllNodes = false
    /// Since when this node's ring circulates no token (a member was lost; until the next ring forms).
    var tokenLostAt: Timestamp?
    /// Operator standby (persisted by sfhad: a restarted daemon keeps it).
    var standby = false
    var priority: Int
    var serviceFaults: Set<String> = []
    var checkFaults: Set<String> = []
    /// The machine's addresses and units (what is really there), shared by every sfhad instance on the node.
    let addresses = FakeAddressController()
    let units = FakeServiceController()
    /// When each address's valid lifetime runs out (the kernel then removes it).
    var leaseExpiry: [IPAddress: Timestamp] = [:]
    /// Service → when its failure is next judged, and whether it was already reported unhealthy.
    var nextJudgement: [String: (due: Timestamp, reported: Bool)] = [:]
    var nextPID: UInt32 = 100

    /// sfhad runs and its core loop is not frozen.
    var daemonActive: Bool { powered && daemon != nil && daemon?.frozenSince == nil }

    /// Groups present on the machine: any of their VIPs configured, or (for groups without VIPs) a unit running.
    func holdings(_ groups: [ResourceGroup]) -> Set<String> {
        let present = Set(addresses.all.map(\.address))
        let active = units.active
        return Set(groups.filter { group in
            group.vips.isEmpty
                ? group.services.contains { active.contains($0.unit) || active.contains($0.systemdUnitName) }
                : group.vips.contains { present.contains($0.address) }
        }.map(\.name))
    }
}

struct Engine {
    let scenario: Scenario
    /// The newest committed configuration (what the invariants and the machine's view of groups use).
    var configuration: ClusterConfiguration
    var revision: UInt64 = 1
    private var nodes: [SimulatedNode]
    var isolated: Set<String> = []
    /// Nodes whose corosync stopped cleanly: corosync announces a clean leave, so peers notice it within `join`.
    var cleanLeavers: Set<UInt32> = []
    var cuts: Set<[String]> = []
    var now = Timestamp.zero
    /// The reconcilers' clock: virtual time (failure windows and timeouts run on it).
    let clock = ManualClock()
    var timeline: [TimelineEntry] = []
    var violations: [String] = []
    var failedExpectations: [String] = []
    /// Lines about several nodes at one instant, printed once with every node they concern (in first-seen order).
    var pendingLines: [(kind: TimelineEntry.Kind, node: String, text: String)] = []
    /// Each node's newest decision per group since the last line was printed.
    var pendingDecisions: [String: (node: Int, assignments: [GroupAssignment])] = [:]
    var decisionOrder: [String] = []
    /// Process-group messages not delivered yet: sender, its process, the message.
    var queue: [(sender: Int, member: ProcessGroupMember, message: ClusterMessage)] = []
    var ringSequence: UInt64 = 0
    var formedRings: [Set<UInt32>: (id: RingID, at: Timestamp)] = [:]
    var proposalCount = 0

    let proofWindow = DaemonTimings.defaultProofWindow
    var holderOverhang: Duration { proofWindow + scenario.lease + DaemonTimings.leaseExpirySlack }

    init(scenario: Scenario, configuration: ClusterConfiguration) {
        self.scenario = scenario
        self.configuration = configuration
        nodes = scenario.nodes.enumerated().map { index, name in
            SimulatedNode(name: name, id: UInt32(index + 1), priority: scenario.priorities[name] ?? 100)
        }
    }

    mutating func log(_ kind: TimelineEntry.Kind, _ nodes: [String], _ text: String) {
        flushPending()
        timeline.append(TimelineEntry(time: now, kind: kind, nodes: nodes, text: text))
    }

    /// A line that several nodes may say at the same instant (decisions, commits): printed once, naming them all.
    mutating func note(_ kind: TimelineEntry.Kind, _ node: String, _ text: String) {
        pendingLines.append((kind, node, text))
    }

    mutating func flushPending() {
        // A decision is printed when the holder changes (or, with no holder, when the reason does).
        var decisions: [(kind: TimelineEntry.Kind, node: String, text: String)] = []
        for key in decisionOrder {
            guard let (i, assignments) = pendingDecisions[key], nodes[i].daemon != nil, let last = assignments.last else { continue }
            func identity(_ assignment: GroupAssignment) -> String { assignment.holder ?? "none: \(assignment.reason)" }
            guard nodes[i].daemon!.shownDecisions[last.group] != identity(last) else { continue }
            // The newest holder, with the reason it was first chosen for (later ones say "stickiness").
            let assignment = assignments.reversed().prefix { identity($0) == identity(last) }.last ?? last
            let identity = identity(last)
            nodes[i].daemon!.shownDecisions[assignment.group] = identity
            let line = "\(assignment.group) → \(assignment.holder ?? "none") (\(assignment.reason))"
            decisions.append((.decision, nodes[i].name, line))
        }
        pendingDecisions = [:]
        decisionOrder = []
        pendingLines += decisions
        guard !pendingLines.isEmpty else { return }
        var byLine: [String: (TimelineEntry.Kind, [String])] = [:]
        var order: [String] = []
        for (kind, node, text) in pendingLines {
            if byLine[text] == nil { order.append(text) }
            if !(byLine[text]?.1.contains(node) ?? false) { byLine[text, default: (kind, [])].1.append(node) }
        }
        pendingLines = []
        for text in order {
            let (kind, names) = byLine[text]!
            timeline.append(TimelineEntry(time: now, kind: kind, nodes: names.sorted(), text: text))
        }
    }

    func index(_ name: String) -> Int { nodes.firstIndex { $0.name == name }! }

    func holdings(_ i: Int) -> Set<String> { nodes[i].holdings(configuration.groups) }

    mutating func run() async {
        var pending = scenario.events[...]
        let step = Duration.milliseconds(100)
        var tick = Timestamp.zero
        while now <= scenario.end {
            // Events run at their own instant, and so does every moment a daemon's placement waits for.
            let wake = nodes.compactMap { node -> Timestamp? in
                guard node.daemonActive, let time = node.daemon?.state.nextDecisionTime, time > now else { return nil }
                return time
            }.min()
            var next = tick
            if let event = pending.first?.time, event < next { next = event }
            if let wake, wake < next { next = wake }
            guard next <= scenario.end else { break }
            setTime(next)
            while let event = pending.first, event.time <= now {
                pending = pending.dropFirst()
                if case .expect = event.event {} else { log(.event, [], event.event.description) }
                await apply(event.event)
                await advance()
            }
            await advance()
            if next == tick { tick = tick + step }
        }
        flushPending()
    }

    mutating func setTime(_ time: Timestamp) {
        now = time
        clock.advance(to: ManualClock.Instant(offset: .nanoseconds(time.nanoseconds)))
    }

    /// Everything time-driven at `now`, then convergence, then the invariants.
    mutating func advance() async {
        updateTokens()
        await settleMemberships()
        await updateProofs()
        await runLeases()
        await judgeFailures()
        await runTimers()
        await converge()
        registerNewAddresses()
        flushPending()
        checkInvariants()
    }

    // MARK: - Daemon inputs and outputs

    /// Feeds one input to node `i`'s sfhad (a frozen one keeps it for when it resumes) and carries out the outputs.
    mutating func input(_ i: Int, _ input: DaemonState.Input) async {
        guard nodes[i].daemon != nil else { return }
        if nodes[i].daemon!.frozenSince != nil {
            nodes[i].daemon!.inbox.append(input)
            return
        }
        let outputs = nodes[i].daemon!.state.handle(input, now: now)
        noteDecisions(i)
        let silent = Set(nodes[i].daemon!.state.silentPeers.keys)
        for peer in silent.subtracting(nodes[i].daemon!.silentPeers).sorted() {
            note(.daemon, nodes[i].name, "\(peer) declared hung: silent for \(DaemonTimings.silenceLimit) while the group delivers")
        }
        nodes[i].daemon!.silentPeers = silent
        for output in outputs { await perform(i, output) }
        if let daemon = nodes[i].daemon, !daemon.claims.isEmpty, daemon.claimsDelivered { nodes[i].daemon!.needsReconcile = true }
    }

    mutating func perform(_ i: Int, _ output: DaemonState.Output) async {
        guard let daemon = nodes[i].daemon else { return }
        switch output {
        case .publish(var report, let previousRing):
            report.previousRing = previousRing?.summary(at: now)
            report.anchorBase = 1
            queue.append((i, daemon.member, .report(report)))
        case .send(let message):
            queue.append((i, daemon.member, message))
        case .assign(let groups, _):
            guard !daemon.stopping else { return }
            let dropped = daemon.desired.subtracting(groups)
            nodes[i].daemon!.desired = groups
            nodes[i].daemon!.claims.formIntersection(groups)
            nodes[i].daemon!.claimSequences = daemon.claimSequences.filter { groups.contains($0.key) }
            if !dropped.isEmpty {
                // A release never waits: VIPs go now.
                logActions(i, await daemon.reconciler.releaseNow(keeping: groups), nil)
                nodes[i].daemon!.needsReport = true
            }
            // Claim before acting: published as held first, acquired once that claim came back from the group.
            let newClaims = groups.subtracting(daemon.state.holdings)
            if !newClaims.isSubset(of: nodes[i].daemon!.claims) {
                nodes[i].daemon!.claims.formUnion(newClaims)
                nodes[i].daemon!.needsReport = true
            }
            nodes[i].daemon!.needsReconcile = true
        case .commit(let document):
            await daemon.reconciler.setGroups(document.configuration.groups)
            await daemon.reconciler.setMaintenance(document.configuration.maintenance)
            if document.revision > revision {
                revision = document.revision
                configuration = document.configuration
            }
            note(.daemon, nodes[i].name, "committed revision \(document.revision)")
            nodes[i].daemon!.needsReconcile = true
        case .commitMembership:
            // The simulator's clusters are given by the scenario, not built by init/join.
            break
        case .proposalOutcome(let id, let verdict):
            note(.daemon, nodes[i].name, "proposal \(id): \(verdict)")
        case .clearFailures(let group):
            await daemon.reconciler.clearFailures(group: group)
            nodes[i].daemon!.needsReport = true
            nodes[i].daemon!.needsReconcile = true
        case .anchorDelivered(_, let ring):
            if let facts = daemon.state.facts, facts.ring == ring, facts.quorumKnown,
                DaemonRuntime.ringMayHoldGroups(quorate: facts.quorate, quorumRequired: configuration.quorumRequired)
            {
                nodes[i].daemon!.anchoredRing = ring
            }
        case .rejected(let from, let reason):
            log(.daemon, [nodes[i].name], "refused a message from \(from): \(reason)")
        case .reannounce:
            break
        }
    }

    /// What the reconciler holds, plus the claims in flight, as the runtime reports it.
    mutating func reportLocalState(_ i: Int) async {
        guard let daemon = nodes[i].daemon, daemon.frozenSince == nil else { return }
        nodes[i].daemon!.needsReport = false
        let held = Set(await daemon.reconciler.heldGroups)
        let failed = await daemon.reconciler.failedGroups
        let failures = await daemon.reconciler.failureRecords.reduce(0) { $0 + $1.failures }
        let running = await daemon.reconciler.runningGroups
        let claims = daemon.claims.intersection(daemon.desired).subtracting(held)
        nodes[i].daemon!.claims = claims
        nodes[i].daemon!.claimSequences = daemon.claimSequences.filter { claims.contains($0.key) }
        await input(i, .localState(holdings: held.union(claims), blockedGroups: failed, healthy: healthy(i), failures: failures, running: running))
        guard let state = nodes[i].daemon?.state else { return }
        for claim in claims where nodes[i].daemon!.claimSequences[claim] == nil && state.publishedHoldings.contains(claim) {
            nodes[i].daemon!.claimSequences[claim] = state.publishedSequence
        }
    }

    /// The node is healthy while every critical node check, and every one a group requires, passes.
    func healthy(_ i: Int) -> Bool { configuration.nodeIsHealthy(failing: nodes[i].checkFaults.contains) }

    /// One pass of the reconcile worker: the assignment, less the claims that have not come back yet; every
    /// acquisition step passes the gate (proven now).
    mutating func reconcile(_ i: Int) async {
        guard let daemon = nodes[i].daemon, daemon.frozenSince == nil, daemon.needsReconcile else { return }
        nodes[i].daemon!.needsReconcile = false
        let held = Set(await daemon.reconciler.heldGroups)
        let target = daemon.desired.filter { held.contains($0) || (daemon.claims.contains($0) && daemon.claimDelivered($0)) }
        let proven = isProven(i)
        await daemon.reconciler.setAcquireGate { _ in proven }
        let before = holdings(i)
        for group in target where !before.contains(group) {
            for predecessor in self.group(group)?.startAfter ?? []
            where !nodes.indices.contains(where: { holdings($0).contains(predecessor) }) {
                violation("\(group) starts on \(nodes[i].name) while \(predecessor), which it starts after, runs nowhere")
            }
        }
        let actions = await daemon.reconciler.apply(target)
        logActions(i, actions, nil)
        let heldAfter = Set(await daemon.reconciler.heldGroups)
        if actions.contains(where: { $0.outcome != .unchanged }) || heldAfter != held {
            nodes[i].daemon!.needsReport = true
        }
    }

    /// Delivers queued messages, in order, to every daemon in the sender's ring and group. A ring that lost its
    /// token delivers nothing until the next ring forms; a message of a process that is gone is lost.
    mutating func deliverMessages() async -> Bool {
        var delivered = false
        var held: [(sender: Int, member: ProcessGroupMember, message: ClusterMessage)] = []
        while !queue.isEmpty {
            let item = queue.removeFirst()
            guard let sender = nodes[item.sender].daemon, sender.member == item.member, sender.connected,
                let ring = nodes[item.sender].ring
            else { continue }
            if nodes[item.sender].tokenLostAt != nil {
                held.append(item)
                continue
            }
            for j in nodes.indices
            where nodes[j].ring == ring && nodes[j].daemon?.connected == true && nodes[j].daemon!.groupView.contains(item.member) {
                await input(j, .message(from: item.member, item.message))
            }
            delivered = true
        }
        queue = held
        return delivered
    }

    /// Messages, reports and reconciler passes until nothing changes.
    mutating func converge() async {
        for _ in 0..<64 {
            var progressed = await deliverMessages()
            for i in nodes.indices where nodes[i].daemon?.needsReport == true && nodes[i].daemonActive {
                await reportLocalState(i)
                progressed = true
            }
            if await deliverMessages() { progressed = true }
            for i in nodes.indices where nodes[i].daemon?.needsReconcile == true && nodes[i].daemonActive {
                await reconcile(i)
                progressed = true
            }
            if !progressed { return }
        }
        violation("no convergence after 64 rounds of messages and reconciliation")
    }

    /// Heartbeats, and the moments placement waits for.
    mutating func runTimers() async {
        for i in nodes.indices where nodes[i].daemonActive {
            if now >= nodes[i].daemon!.nextHeartbeat {
                nodes[i].daemon!.nextHeartbeat = now + DaemonTimings.heartbeat
                await input(i, .tick)
            }
            if let wake = nodes[i].daemon?.state.nextDecisionTime, wake <= now, nodes[i].daemon!.wokeFor != wake {
                nodes[i].daemon!.wokeFor = wake
                await input(i, .wakeUp)
            }
        }
    }

    /// Remembers each node's newest decision; `flushPending` prints those that changed (the last one of an instant).
    mutating func noteDecisions(_ i: Int) {
        guard let daemon = nodes[i].daemon, daemon.state.inProcessGroup, daemon.state.facts != nil,
            let placement = daemon.state.lastPlacement
        else { return }
        for assignment in placement.assignments {
            let key = "\(nodes[i].name)/\(assignment.group)"
            if pendingDecisions[key] == nil { decisionOrder.append(key) }
            pendingDecisions[key, default: (i, [])].assignments.append(assignment)
        }
    }

    /// One timeline line per group and direction: "acquire web: add …, announce …, start nginx".
    mutating func logActions(_ i: Int, _ actions: [ReconcileAction], _ why: String?) {
        var order: [String] = []
        var parts: [String: [String]] = [:]
        for action in actions where action.outcome != .unchanged && action.kind != .duplicateCheck {
            let key: String
            switch action.kind {
            case .addVIP, .announce, .startService: key = "acquire \(action.group)"
            case .removeVIP, .stopService: key = "release \(action.group)"
            default: key = "\(action.kind.rawValue) [\(action.group)]"
            }
            if parts[key] == nil { order.append(key) }
            var text = "\(action.kind.rawValue) \(action.resource)"
            if action.outcome != .done { text += " (\(action.outcome))" }
            parts[key, default: []].append(text)
        }
        for key in order {
            log(.action, [nodes[i].name], key + (why.map { " (\($0))" } ?? "") + ": " + parts[key]!.joined(separator: ", "))
        }
    }

    func group(_ name: String) -> ResourceGroup? { configuration.groups.first { $0.name == name } }

    // MARK: - Events

    mutating func startDaemon(_ i: Int) async {
        let effects = NodeEffects(
            addresses: nodes[i].addresses, announcer: FakeNeighbourAnnouncer(), duplicates: FakeDuplicateAddressChecker(),
            services: nodes[i].units)
        let document = ClusterDocument(revision: revision, configuration: configuration)
        let reconciler = LocalReconciler(groups: configuration.groups, effects: effects, clock: clock)
        await reconciler.setMaintenance(configuration.maintenance)
        // A starting daemon first removes every configured VIP and stops the units of the groups it does not hold.
        logActions(i, await reconciler.startupCleanup(), "startup cleanup")
        var state = DaemonState(
            nodeName: nodes[i].name, nodeID: nodes[i].id, priority: nodes[i].priority, document: document, now: now,
            holderOverhang: holderOverhang)
        state.validateConfiguration = DaemonRuntime.validate
        let member = ProcessGroupMember(nodeID: nodes[i].id, pid: nodes[i].nextPID)
        nodes[i].nextPID += 1
        nodes[i].daemon = SimulatedDaemon(state: state, member: member, reconciler: reconciler, nextHeartbeat: now + DaemonTimings.heartbeat)
        if nodes[i].standby { await input(i, .setStandby(true)) }
        if nodes[i].corosync && !nodes[i].delivered.isEmpty { await connect(i, leftPreviousRing: nil) }
    }

    /// sfhad joins the process group of the ring its node is in.
    mutating func connect(_ i: Int, leftPreviousRing: Timestamp?) async {
        nodes[i].daemon!.connected = true
        await input(i, .groupConnected(nodes[i].daemon!.member))
        await input(i, .corosync(facts(i)))
        if let ring = nodes[i].ring { await input(i, .ring(ring, nodes: nodes[i].delivered.sorted())) }
        await updateGroups()
        await input(i, .previousRingKnown(leftAtMost: leftPreviousRing))
    }

    /// The process gone (killed, watchdog, power): its services stop with it (they are bound to sfhad); its VIPs
    /// stay until their lease runs out.
    mutating func endDaemon(_ i: Int, _ why: String) async {
        guard nodes[i].daemon != nil else { return }
        nodes[i].daemon = nil
        for unit in nodes[i].units.active { nodes[i].units.kill(unit) }
        log(.daemon, [nodes[i].name], why)
        await updateGroups()
    }

    mutating func apply(_ event: ScenarioEvent) async {
        switch event {
        case .start(let names):
            for name in names.isEmpty ? scenario.nodes : names { await powerOn(index(name)) }
        case .powerOn(let name):
            await powerOn(index(name))
        case .powerOff(let name):
            let i = index(name)
            nodes[i].powered = false
            nodes[i].corosync = false
            nodes[i].daemon = nil
            for address in nodes[i].addresses.all { nodes[i].addresses.expire(address.address) }
            for unit in nodes[i].units.active { nodes[i].units.kill(unit) }
            nodes[i].leaseExpiry = [:]
            nodes[i].delivered = []
            nodes[i].ring = nil
            nodes[i].tokenLostAt = nil
            nodes[i].seenAllNodes = false
            cleanLeavers.remove(nodes[i].id)
            await updateGroups()
            scheduleSettles()
        case .isolate(let name), .dropIncoming(let name):
            isolated.insert(name)
            scheduleSettles()
        case .rejoin(let name):
            isolated.remove(name)
            scheduleSettles()
        case .split(let groups):
            cuts = []
            for (a, groupA) in groups.enumerated() {
                for groupB in groups[(a + 1)...] {
                    for x in groupA { for y in groupB { cuts.insert([x, y].sorted()) } }
                }
            }
            scheduleSettles()
        case .heal:
            cuts = []
            isolated = []
            scheduleSettles()
        case .crash(let name):
            await endDaemon(index(name), "sfhad killed: its services stop with it, its VIPs stay until their lease runs out")
        case .restart(let name):
            let i = index(name)
            guard nodes[i].powered, nodes[i].daemon == nil else { return }
            await startDaemon(i)
        case .stop(let name):
            let i = index(name)
            guard let daemon = nodes[i].daemon, daemon.frozenSince == nil else { return }
            // Graceful: release everything (VIPs first), tell the others, then leave the group.
            nodes[i].daemon!.stopping = true
            logActions(i, await daemon.reconciler.releaseEverything(), "sfhad stopping")
            nodes[i].daemon!.desired = []
            nodes[i].daemon!.claims = []
            await input(i, .localState(holdings: [], blockedGroups: await daemon.reconciler.failedGroups, healthy: healthy(i)))
            _ = await deliverMessages()
            nodes[i].daemon = nil
            log(.daemon, [name], "sfhad left the process group")
            await updateGroups()
        case .hang(let name):
            let i = index(name)
            guard nodes[i].daemon != nil, nodes[i].daemon!.frozenSince == nil else { return }
            nodes[i].daemon!.frozenSince = now
        case .resume(let name):
            await resume(index(name))
        case .corosyncStop(let name):
            let i = index(name)
            nodes[i].corosync = false
            nodes[i].delivered = []
            nodes[i].ring = nil
            nodes[i].tokenLostAt = nil
            cleanLeavers.insert(nodes[i].id)
            log(.corosync, [name], "corosync connection lost: no quorum")
            if nodes[i].daemon != nil {
                nodes[i].daemon!.connected = false
                nodes[i].daemon!.groupView = []
                nodes[i].daemon!.anchoredRing = nil
                await input(i, .corosyncLost)
            }
            await updateGroups()
            scheduleSettles()
        case .corosyncStart(let name):
            let i = index(name)
            guard nodes[i].powered else { return }
            nodes[i].corosync = true
            cleanLeavers.remove(nodes[i].id)
            scheduleSettles()
        case .serviceFail(let name, let service):
            let i = index(name)
            nodes[i].serviceFaults.insert(service)
            nodes[i].nextJudgement[service] = (now + detectionPeriod(ofService: service), false)
        case .serviceRecover(let name, let service):
            let i = index(name)
            nodes[i].serviceFaults.remove(service)
            nodes[i].nextJudgement[service] = nil
        case .checkFail(let name, let check):
            nodes[index(name)].checkFaults.insert(check)
            nodes[index(name)].daemon?.needsReport = true
        case .checkRecover(let name, let check):
            nodes[index(name)].checkFaults.remove(check)
            nodes[index(name)].daemon?.needsReport = true
        case .standby(let name):
            nodes[index(name)].standby = true
            await input(index(name), .setStandby(true))
        case .unstandby(let name):
            nodes[index(name)].standby = false
            await input(index(name), .setStandby(false))
        case .maintenance(let on):
            await propose("maintenance \(on ? "on" : "off")") { $0.maintenance = on }
        case .setNodePriority(let name, let priority):
            await propose("priority of \(name)") { $0.nodePriorities[name] = priority }
        case .setFailback(let group, let enabled):
            await propose("failback of \(group)") { configuration in
                if let g = configuration.groups.firstIndex(where: { $0.name == group }) { configuration.groups[g].failback = enabled }
            }
        case .failover(let group, let target):
            guard let i = operatorNode() else { return log(.daemon, [], "failover refused: no sfhad in a quorate partition") }
            let holder = nodes[i].daemon!.state.lastPlacement?.holder(of: group)
            let request: MoveRequest? = target.map { .to($0) } ?? holder.map { .awayFrom($0) }
            queue.append((i, nodes[i].daemon!.member, .command(.move(group: group, request: request))))
        case .cleanup(let group, let name):
            guard let i = operatorNode() else { return log(.daemon, [], "cleanup refused: no sfhad in a quorate partition") }
            queue.append((i, nodes[i].daemon!.member, .command(.cleanup(group: group, node: name))))
        case .expect(let group, let holder):
            let holders = nodes.indices.filter { holdings($0).contains(group) }.map { nodes[$0].name }
            let expected = holder.map { [$0] } ?? []
            if holders == expected {
                log(.expectation, [], "\(group) is on \(holder ?? "no node"): ok")
            } else {
                let message = "\(group) expected on \(holder ?? "no node") but held by \(holders.isEmpty ? "nobody" : holders.joined(separator: ","))"
                failedExpectations.append("\(now): \(message)")
                log(.expectation, [], "FAILED: \(message)")
            }
        }
    }

    mutating func powerOn(_ i: Int) async {
        guard !nodes[i].powered else { return }
        nodes[i].powered = true
        nodes[i].corosync = true
        await startDaemon(i)
        scheduleSettles()
    }

    /// SIGCONT: a freeze longer than the stall watchdog's bound ends sfhad as it resumes (every configured VIP
    /// removed, exit 70) and systemd starts it again; a shorter one lets it handle what arrived meanwhile.
    mutating func resume(_ i: Int) async {
        guard let daemon = nodes[i].daemon, let since = daemon.frozenSince else { return }
        if now - since > StallWatchdog.defaultBound {
            for address in nodes[i].addresses.all where configuration.groups.contains(where: { $0.vips.contains { $0.address == address.address } }) {
                nodes[i].addresses.expire(address.address)
            }
            await endDaemon(i, "stall watchdog: the core loop did not run for \(now - since): every configured VIP removed, sfhad exits (systemd starts it again)")
            await startDaemon(i)
            return
        }
        nodes[i].daemon!.frozenSince = nil
        let inbox = daemon.inbox
        nodes[i].daemon!.inbox = []
        for input in inbox { await self.input(i, input) }
        nodes[i].daemon!.needsReport = true
    }

    /// The node where the operator runs a command: a live sfhad in a quorate partition (the first one).
    func operatorNode() -> Int? {
        nodes.indices.first { i in
            nodes[i].daemonActive && nodes[i].daemon!.connected && (nodes[i].daemon!.state.facts?.quorate ?? false)
        }
    }

    /// A configuration change: proposed by a live sfhad, committed (or refused) by the group like any proposal.
    mutating func propose(_ what: String, _ change: (inout ClusterConfiguration) -> Void) async {
        if !nodes.contains(where: { $0.daemon != nil }) {
            // No sfhad runs: the change is made in config.yml, which seeds the cluster when it starts.
            change(&configuration)
            return log(.daemon, [], "no sfhad runs: \(what) set in config.yml")
        }
        guard let i = operatorNode() else { return log(.daemon, [], "\(what) refused: no sfhad in a quorate partition") }
        var changed = nodes[i].daemon!.state.document.configuration
        change(&changed)
        proposalCount += 1
        queue.append((i, nodes[i].daemon!.member, nodes[i].daemon!.state.propose(changed, id: "change-\(proposalCount)")))
    }

    // MARK: - corosync

    func reachable(_ a: String, _ b: String) -> Bool {
        a == b || (!isolated.contains(a) && !isolated.contains(b) && !cuts.contains([a, b].sorted()))
    }

    /// The ids corosync would put in `node`'s membership now.
    func trueMembership(_ i: Int) -> Set<UInt32> {
        guard nodes[i].powered, nodes[i].corosync else { return [] }
        return Set(nodes.filter { $0.powered && $0.corosync && reachable($0.name, nodes[i].name) }.map(\.id))
    }

    func quorate(_ members: Set<UInt32>, _ i: Int) -> Bool {
        if nodes.count == 2 { return !members.isEmpty && nodes[i].seenAllNodes }  // two_node + wait_for_all
        return members.count * 2 > nodes.count
    }

    func facts(_ i: Int) -> CorosyncFacts {
        let names = Dictionary(uniqueKeysWithValues: nodes.map { ($0.id, $0.name) })
        return CorosyncFacts(
            members: nodes[i].delivered, ring: nodes[i].ring, quorate: quorate(nodes[i].delivered, i), quorumKnown: true,
            twoNode: nodes.count == 2, nodeNames: names, nodeCount: nodes.count, tokenTimeout: scenario.token)
    }

    /// A ring whose member is gone without a clean leave circulates no token from that instant until the next
    /// ring forms: nobody is proven meanwhile, and the process group delivers nothing.
    mutating func updateTokens() {
        for i in nodes.indices where nodes[i].corosync && !nodes[i].delivered.isEmpty {
            let truth = trueMembership(i)
            let lost = nodes[i].delivered.contains { !truth.contains($0) && !cleanLeavers.contains($0) }
            if lost && nodes[i].tokenLostAt == nil { nodes[i].tokenLostAt = now }
            if !lost && truth == nodes[i].delivered { nodes[i].tokenLostAt = nil }
        }
    }

    mutating func scheduleSettles() {
        updateTokens()
        for i in nodes.indices {
            let truth = trueMembership(i)
            guard truth != nodes[i].delivered else {
                nodes[i].settleAt = nil
                continue
            }
            let lost = !nodes[i].delivered.subtracting(truth).subtracting(cleanLeavers).isEmpty
            let at = now + (lost && !nodes[i].delivered.isEmpty ? scenario.detection : scenario.join)
            if nodes[i].settleAt == nil || lost { nodes[i].settleAt = min(nodes[i].settleAt ?? at, at) }
        }
    }

    /// The ring a new membership forms: the same for every node that settles into it at this instant.
    mutating func ring(for members: Set<UInt32>) -> RingID {
        if let formed = formedRings[members], formed.at == now { return formed.id }
        ringSequence += 4
        let id = RingID(nodeID: members.min() ?? 0, sequence: ringSequence)
        formedRings[members] = (id, now)
        return id
    }

    mutating func settleMemberships() async {
        var changed: [(Set<UInt32>, Bool, String)] = []
        var settled: [(Int, left: Timestamp?, connect: Bool)] = []
        for i in nodes.indices {
            guard let at = nodes[i].settleAt, at <= now else { continue }
            nodes[i].settleAt = nil
            let truth = trueMembership(i)
            guard truth != nodes[i].delivered, nodes[i].corosync else { continue }
            // When it left its previous ring (an upper bound): when that ring lost its token, else now.
            let left: Timestamp? = nodes[i].ring == nil ? nil : (nodes[i].tokenLostAt ?? now)
            nodes[i].delivered = truth
            nodes[i].ring = ring(for: truth)
            nodes[i].tokenLostAt = nil
            if truth.count == nodes.count { nodes[i].seenAllNodes = true }
            changed.append((truth, quorate(truth, i), nodes[i].name))
            settled.append((i, left, nodes[i].daemon != nil && !nodes[i].daemon!.connected))
        }
        guard !changed.isEmpty else { return }
        // One line per distinct membership.
        var lines: [String: [String]] = [:]
        var order: [String] = []
        for (members, isQuorate, name) in changed {
            let text = "members [\(members.sorted().map(String.init).joined(separator: ","))], \(isQuorate ? "quorate" : "NOT quorate")"
            if lines[text] == nil { order.append(text) }
            lines[text, default: []].append(name)
        }
        for text in order { log(.corosync, lines[text]!, text) }
        for (i, left, connect) in settled where nodes[i].daemon != nil {
            if connect {
                await self.connect(i, leftPreviousRing: left)
                continue
            }
            await input(i, .corosync(facts(i)))
            await input(i, .ring(nodes[i].ring!, nodes: nodes[i].delivered.sorted()))
        }
        await updateGroups()
        for (i, left, connect) in settled where !connect && nodes[i].daemon != nil {
            await input(i, .previousRingKnown(leftAtMost: left))
        }
        scheduleSettles()
    }

    /// Tells every connected sfhad whose process group changed: the processes of its ring now, who joined, who left.
    mutating func updateGroups() async {
        for j in nodes.indices where nodes[j].daemon?.connected == true {
            let before = nodes[j].daemon!.groupView
            var members = Set(nodes.indices.compactMap { k -> ProcessGroupMember? in
                guard nodes[k].ring != nil, nodes[k].ring == nodes[j].ring, nodes[k].daemon?.connected == true else { return nil }
                return nodes[k].daemon!.member
            })
            // A process on a node that corosync cannot reach any more stays in the group until the ring changes
            // (corosync reports it gone only with the new membership).
            let reachable = trueMembership(j)
            members.formUnion(before.filter { nodes[j].delivered.contains($0.nodeID) && !reachable.contains($0.nodeID) })
            guard members != before else { continue }
            nodes[j].daemon!.groupView = members
            let order: (ProcessGroupMember, ProcessGroupMember) -> Bool = { ($0.nodeID, $0.pid) < ($1.nodeID, $1.pid) }
            let left = before.subtracting(members).sorted(by: order).map { member in
                DaemonState.ProcessGroupDeparture(member, nodeLeft: !nodes[j].delivered.contains(member.nodeID))
            }
            await input(j, .groupMembership(members: members.sorted(by: order), joined: members.subtracting(before).sorted(by: order), left: left))
        }
    }

    // MARK: - Proof and leases

    /// Proven (`RingEvidence`): its own report came back in its current ring while that ring was quorate, and the
    /// ring's token came within the proof window.
    func isProven(_ i: Int) -> Bool {
        guard let daemon = nodes[i].daemon, nodes[i].corosync, let ring = nodes[i].ring, daemon.anchoredRing == ring,
            DaemonRuntime.ringMayHoldGroups(quorate: quorate(nodes[i].delivered, i), quorumRequired: configuration.quorumRequired)
        else { return false }
        return nodes[i].tokenLostAt.map { now - $0 <= proofWindow } ?? true
    }

    mutating func updateProofs() async {
        for i in nodes.indices where nodes[i].daemon != nil {
            let proven = isProven(i)
            guard proven != nodes[i].daemon!.provenSent else { continue }
            nodes[i].daemon!.provenSent = proven
            await input(i, .proven(proven))
            if proven { nodes[i].daemon!.needsReconcile = true }
        }
    }

    /// `EffectGate.mayRefresh`: proven, the core loop running, and its own messages coming back.
    func mayRefresh(_ i: Int) -> Bool {
        guard let daemon = nodes[i].daemon, daemon.frozenSince == nil, isProven(i), let echo = daemon.state.lastOwnDelivery else { return false }
        return now - echo <= DaemonTimings.ownEchoLimit
    }

    /// An address the reconciler added gets its lifetime.
    mutating func registerNewAddresses() {
        for i in nodes.indices {
            let present = Set(nodes[i].addresses.all.map(\.address))
            nodes[i].leaseExpiry = nodes[i].leaseExpiry.filter { present.contains($0.key) }
            for address in present where nodes[i].leaseExpiry[address] == nil { nodes[i].leaseExpiry[address] = now + scenario.lease }
        }
    }

    /// Leases are extended while the daemon may; the kernel removes an address whose lifetime ran out; a daemon
    /// that finds a held VIP gone no longer holds its group (placement decides again).
    mutating func runLeases() async {
        registerNewAddresses()
        for i in nodes.indices where nodes[i].powered {
            if mayRefresh(i) {
                for address in nodes[i].leaseExpiry.keys { nodes[i].leaseExpiry[address] = now + scenario.lease }
            }
            for (address, expiry) in nodes[i].leaseExpiry.sorted(by: { $0.key.description < $1.key.description }) where expiry <= now {
                nodes[i].leaseExpiry[address] = nil
                nodes[i].addresses.expire(address)
                log(.action, [nodes[i].name], "VIP \(address) lease ran out: the kernel removed it")
            }
            guard nodes[i].daemonActive, let reconciler = nodes[i].daemon?.reconciler else { continue }
            let lapsed = await reconciler.refreshLeases(allowed: false)
            if !lapsed.isEmpty {
                log(.daemon, [nodes[i].name], "VIP leases ran out: \(lapsed.sorted().joined(separator: ", ")) no longer held here")
                nodes[i].daemon!.needsReport = true
                nodes[i].daemon!.needsReconcile = true
            }
        }
    }

    // MARK: - Health and failures

    func detectionPeriod(ofService name: String) -> Duration {
        let service = configuration.groups.flatMap(\.services).first { $0.name == name }
        guard let check = service?.healthCheck else { return .seconds(5) }
        return check.interval * check.failuresBeforeUnhealthy
    }

    /// A failing service's health check reports `becameUnhealthy`, then `stillUnhealthy` every detection period,
    /// to the node's real reconciler, which restarts it within its failure policy or fails its group.
    mutating func judgeFailures() async {
        for i in nodes.indices where nodes[i].daemonActive {
            let reconciler = nodes[i].daemon!.reconciler
            for (service, judgement) in nodes[i].nextJudgement.sorted(by: { $0.key < $1.key }) where judgement.due <= now {
                guard nodes[i].serviceFaults.contains(service),
                    let group = configuration.groups.first(where: { $0.services.contains { $0.name == service } }),
                    holdings(i).contains(group.name)
                else {
                    nodes[i].nextJudgement[service] = (now + detectionPeriod(ofService: service), judgement.reported)
                    continue
                }
                let event = HealthEvent(
                    check: service, kind: judgement.reported ? .stillUnhealthy : .becameUnhealthy,
                    status: HealthStatus(healthy: false), result: .unhealthy("simulated failure"))
                log(.health, [nodes[i].name], "\(service) unhealthy (\(event.kind.rawValue))")
                logActions(i, await reconciler.handle(event), nil)
                nodes[i].daemon!.needsReport = true
                nodes[i].nextJudgement[service] = (now + detectionPeriod(ofService: service), true)
            }
            // Failures time out on the reconciler's clock: the report says when a group is no longer blocked.
            if await reconciler.failedGroups != nodes[i].daemon!.state.blockedGroups { nodes[i].daemon!.needsReport = true }
        }
    }

    // MARK: - Invariants

    mutating func violation(_ text: String) {
        violations.append("\(now): \(text)")
        log(.violation, [], text)
    }

    mutating func checkInvariants() {
        for group in configuration.groups where !group.vips.isEmpty {
            let addresses = Set(group.vips.map(\.address))
            let holders = nodes.filter { node in node.addresses.all.contains { addresses.contains($0.address) } }.map(\.name)
            if holders.count > 1 { violation("\(group.name)'s VIPs are on \(holders.joined(separator: " and ")) at once") }
        }
        guard !configuration.maintenance else { return }
        for i in nodes.indices where nodes[i].powered && !holdings(i).isEmpty {
            // corosync's view of this node's partition: a VIP must be gone before corosync says it has no quorum.
            if configuration.quorumRequired && !(nodes[i].corosync && quorate(nodes[i].delivered, i)) {
                violation("\(nodes[i].name) holds \(holdings(i).sorted().joined(separator: ",")) without quorum")
            }
        }
        // A frozen sfhad cannot stop its services when its VIPs' leases run out: nothing it does is checked.
        for node in nodes where node.daemon?.frozenSince == nil {
            let present = Set(node.addresses.all.map(\.address))
            let active = node.units.active
            for group in configuration.groups where !group.vips.isEmpty {
                let running = group.services.filter { active.contains($0.unit) || active.contains($0.systemdUnitName) }
                if !running.isEmpty, !group.vips.allSatisfy({ present.contains($0.address) }) {
                    violation("\(node.name) runs \(group.name)'s services without all its VIPs")
                }
            }
        }
    }
}
