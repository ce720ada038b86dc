/// One line of a simulation timeline.
public struct TimelineEntry: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        case event, corosync, daemon, decision, action, health, expectation, violation
    }
    public var time: Timestamp
    public var kind: Kind
    /// The nodes the line is about (empty for cluster-wide lines).
    public var nodes: [String]
    public var text: String
}

/// The outcome of a simulation: the timeline, and every invariant violation and failed expectation.
public struct SimulationResult: Sendable, Equatable, Codable {
    public var scenario: String
    public var timeline: [TimelineEntry]
    public var violations: [String]
    public var failedExpectations: [String]

    public var passed: Bool { violations.isEmpty && failedExpectations.isEmpty }

    /// The timeline as readable text (the golden-file format).
    public var text: String {
        var lines = timeline.map { entry in
            let ms = entry.time.nanoseconds / 1_000_000
            let time = "\(ms / 1000).\(String(ms % 1000).leftPadded(3, "0"))s".leftPadded(9, " ")
            let who = entry.nodes.isEmpty ? "" : entry.nodes.joined(separator: ",") + ": "
            return "\(time)  \(entry.kind.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0))\(who)\(entry.text)"
        }
        lines.append(passed ? "result: ok (no invariant violated, every expectation met)" : "result: FAILED")
        return lines.joined(separator: "\n") + "\n"
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int, _ pad: Character) -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}

/// Runs the real placement and the real `LocalReconciler` (with fake effects: addresses and units live in memory)
/// against simulated nodes on a virtual clock, with corosync's timings modelled:
/// losses are noticed after `detection`, joins after `join`; a crashed daemon's VIPs expire after `lease` (the
/// daemon keeps them alive by refreshing their lifetime) and its services stop with it (they are bound to sfhad).
/// After every step it checks the invariants: never two holders of a group's VIPs, nothing held without quorum,
/// services only with their VIPs; and at every start, that the groups it starts after already run.
public struct Simulator {
    public let scenario: Scenario
    public private(set) var configuration: ClusterConfiguration

    public init(scenario: Scenario, configuration: ClusterConfiguration) {
        self.scenario = scenario
        self.configuration = configuration
    }

    public func run() async -> SimulationResult {
        var engine = Engine(scenario: scenario, configuration: configuration)
        await engine.run()
        return SimulationResult(
            scenario: scenario.name, timeline: engine.timeline, violations: engine.violations,
            failedExpectations: engine.failedExpectations)
    }
}

private struct SimulatedNode {
    let name: String
    let id: UInt32
    var powered = false
    var corosync = false
    var daemon = false
    var view: ClusterView
    /// The membership corosync last delivered to this node (ids).
    var delivered: Set<UInt32> = []
    var settleAt: Timestamp?
    var standby = false
    var priority: Int
    var upSince = Timestamp.zero
    var serviceFaults: Set<String> = []
    var checkFaults: Set<String> = []
    /// The machine's addresses and units (what is really there), shared by every daemon instance on the node.
    let addresses = FakeAddressController()
    let units = FakeServiceController()
    /// The running sfhad's reconciler (nil while sfhad is not running).
    var reconciler: LocalReconciler?
    /// Groups the reconciler reports failed here (refreshed after every health event).
    var failedGroups: Set<String> = []
    /// VIPs left behind by a dead sfhad: address → when its lease runs out.
    var leases: [IPAddress: Timestamp] = [:]
    /// Service → when its failure is next judged, and whether it was already reported unhealthy.
    var nextJudgement: [String: (due: Timestamp, reported: Bool)] = [:]
    var seenAllNodes = false

    /// sfhad runs (it reconciles, and keeps its VIPs' leases fresh).
    var daemonRunning: Bool { powered && daemon }
    /// sfhad runs and is in the sfha process group (needs corosync).
    var daemonLive: Bool { powered && corosync && daemon }

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

private struct Engine {
    let scenario: Scenario
    var configuration: ClusterConfiguration
    var nodes: [SimulatedNode]
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
    /// Last decision printed per (node, group), to print changes only.
    var lastDecision: [String: String] = [:]
    var pendingDecisions: [(node: String, line: String)] = []

    init(scenario: Scenario, configuration: ClusterConfiguration) {
        self.scenario = scenario
        self.configuration = configuration
        nodes = scenario.nodes.enumerated().map { index, name in
            SimulatedNode(
                name: name, id: UInt32(index + 1), view: ClusterView(localNode: name),
                priority: scenario.priorities[name] ?? 100)
        }
    }

    var policy: PlacementPolicy { PlacementPolicy(configuration) }

    mutating func log(_ kind: TimelineEntry.Kind, _ nodes: [String], _ text: String) {
        timeline.append(TimelineEntry(time: now, kind: kind, nodes: nodes, text: text))
    }

    func index(_ name: String) -> Int { nodes.firstIndex { $0.name == name }! }

    func holdings(_ i: Int) -> Set<String> { nodes[i].holdings(configuration.groups) }

    mutating func run() async {
        var pending = scenario.events[...]
        let step = Duration.milliseconds(100)
        var tick = Timestamp.zero
        while tick <= scenario.end {
            // Events due before the next tick run at their own instant.
            while let next = pending.first, next.time <= tick {
                await setTime(next.time)
                pending = pending.dropFirst()
                if case .expect = next.event {} else { log(.event, [], next.event.description) }
                await apply(next.event)
                await advance()
            }
            await setTime(tick)
            await advance()
            tick = tick + step
        }
    }

    mutating func setTime(_ time: Timestamp) async {
        now = time
        clock.advance(to: ManualClock.Instant(offset: .nanoseconds(time.nanoseconds)))
    }

    /// Everything time-driven at `now`: corosync settling, VIP expiry, failure judgement, then convergence.
    mutating func advance() async {
        settleMemberships()
        await expireLeases()
        await judgeFailures()
        await converge()
        checkInvariants()
    }

    // MARK: Events

    mutating func startDaemon(_ i: Int) async {
        nodes[i].daemon = true
        nodes[i].upSince = now
        nodes[i].view = ClusterView(localNode: nodes[i].name)
        nodes[i].failedGroups = []
        let effects = NodeEffects(
            addresses: nodes[i].addresses, announcer: FakeNeighbourAnnouncer(), duplicates: FakeDuplicateAddressChecker(),
            services: nodes[i].units)
        let reconciler = LocalReconciler(groups: configuration.groups, effects: effects, clock: clock)
        await reconciler.setMaintenance(configuration.maintenance)
        // A starting daemon first removes every configured VIP it was not assigned (none yet) and their units.
        let cleanup = await reconciler.startupCleanup()
        nodes[i].leases = [:]
        logActions(i, cleanup, "startup cleanup")
        nodes[i].reconciler = reconciler
        if nodes[i].corosync {
            nodes[i].view.membershipChanged(members: nodes[i].delivered, quorate: quorate(nodes[i].delivered, i), at: now)
        }
    }

    mutating func apply(_ event: ScenarioEvent) async {
        switch event {
        case .start(let names):
            for name in names.isEmpty ? scenario.nodes : names {
                let i = index(name)
                guard !nodes[i].powered else { continue }
                nodes[i].powered = true
                nodes[i].corosync = true
                await startDaemon(i)
            }
            scheduleSettles()
        case .powerOff(let name):
            let i = index(name)
            nodes[i].powered = false
            nodes[i].corosync = false
            nodes[i].daemon = false
            nodes[i].reconciler = nil
            for address in nodes[i].addresses.all {
                _ = try? await nodes[i].addresses.remove(
                    VirtualIP(name: "x", address: address.address, prefixLength: address.prefixLength, interface: address.interface))
            }
            for unit in nodes[i].units.active { nodes[i].units.kill(unit) }
            nodes[i].leases = [:]
            nodes[i].delivered = []
            nodes[i].view = ClusterView(localNode: name)
            nodes[i].seenAllNodes = false
            cleanLeavers.remove(nodes[i].id)
            scheduleSettles()
        case .powerOn(let name):
            let i = index(name)
            guard !nodes[i].powered else { return }
            nodes[i].powered = true
            nodes[i].corosync = true
            await startDaemon(i)
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
            let i = index(name)
            guard nodes[i].daemon else { return }
            nodes[i].daemon = false
            nodes[i].reconciler = nil
            // Services are bound to sfhad and stop with it; VIPs live until their lease runs out.
            for unit in nodes[i].units.active { nodes[i].units.kill(unit) }
            for address in nodes[i].addresses.all { nodes[i].leases[address.address] = now + scenario.lease }
            daemonLeft(name)
        case .restart(let name):
            let i = index(name)
            guard nodes[i].powered, !nodes[i].daemon else { return }
            await startDaemon(i)
        case .stop(let name):
            let i = index(name)
            guard nodes[i].daemon, let reconciler = nodes[i].reconciler else { return }
            // Graceful: release everything (VIPs first), tell the peers, then leave.
            logActions(i, await reconciler.releaseEverything(), "sfhad stopping")
            publish(i)
            nodes[i].daemon = false
            nodes[i].reconciler = nil
            daemonLeft(name)
        case .corosyncStop(let name):
            let i = index(name)
            nodes[i].corosync = false
            nodes[i].delivered = []
            nodes[i].view.corosyncLost(at: now)
            cleanLeavers.insert(nodes[i].id)
            log(.corosync, [name], "corosync connection lost: no quorum")
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
        case .checkRecover(let name, let check):
            nodes[index(name)].checkFaults.remove(check)
        case .standby(let name):
            nodes[index(name)].standby = true
        case .unstandby(let name):
            nodes[index(name)].standby = false
            nodes[index(name)].upSince = now
        case .maintenance(let on):
            configuration.maintenance = on
            for node in nodes { await node.reconciler?.setMaintenance(on) }
        case .failover(let group, let target):
            let holder = nodes.indices.first { holdings($0).contains(group) }.map { nodes[$0].name }
            let request: MoveRequest? = target.map { .to($0) } ?? holder.map { .awayFrom($0) }
            if let request { for i in nodes.indices { nodes[i].view.moveRequests[group] = request } }
        case .cleanup(let group, let name):
            for i in nodes.indices where name == nil || nodes[i].name == name {
                await nodes[i].reconciler?.clearFailures(group: group)
                nodes[i].failedGroups = await nodes[i].reconciler?.failedGroups ?? []
            }
        case .setNodePriority(let name, let priority):
            configuration.nodePriorities[name] = priority
        case .setFailback(let group, let enabled):
            if let g = configuration.groups.firstIndex(where: { $0.name == group }) { configuration.groups[g].failback = enabled }
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

    mutating func daemonLeft(_ name: String) {
        for i in nodes.indices where nodes[i].daemonLive && nodes[i].view.reports[name] != nil {
            nodes[i].view.daemonLeft(name, at: now)
        }
        log(.daemon, [name], "sfhad left the process group")
    }

    // MARK: corosync

    func reachable(_ a: String, _ b: String) -> Bool {
        a == b || (!isolated.contains(a) && !isolated.contains(b) && !cuts.contains([a, b].sorted()))
    }

    /// The ids corosync would put in `node`'s membership now.
    func trueMembership(_ i: Int) -> Set<UInt32> {
        guard nodes[i].powered, nodes[i].corosync else { return [] }
        return Set(nodes.filter { $0.powered && $0.corosync && reachable($0.name, nodes[i].name) }.map(\.id))
    }

    func quorate(_ members: Set<UInt32>, _ i: Int) -> Bool {
        let expected = nodes.count
        if expected == 2 { return !members.isEmpty && nodes[i].seenAllNodes }  // two_node + wait_for_all
        return members.count * 2 > expected
    }

    mutating func scheduleSettles() {
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

    mutating func settleMemberships() {
        var changed: [(Set<UInt32>, Bool, String)] = []
        for i in nodes.indices {
            guard let at = nodes[i].settleAt, at <= now else { continue }
            nodes[i].settleAt = nil
            let truth = trueMembership(i)
            guard truth != nodes[i].delivered, nodes[i].corosync else { continue }
            nodes[i].delivered = truth
            if truth.count == nodes.count { nodes[i].seenAllNodes = true }
            let isQuorate = quorate(truth, i)
            if nodes[i].daemonLive { nodes[i].view.membershipChanged(members: truth, quorate: isQuorate, at: now) }
            changed.append((truth, isQuorate, nodes[i].name))
        }
        // One line per distinct membership.
        var lines: [String: [String]] = [:]
        var order: [String] = []
        for (members, isQuorate, name) in changed {
            let text = "members [\(members.sorted().map(String.init).joined(separator: ","))], \(isQuorate ? "quorate" : "NOT quorate")"
            if lines[text] == nil { order.append(text) }
            lines[text, default: []].append(name)
        }
        for text in order { log(.corosync, lines[text]!, text) }
        if !changed.isEmpty { scheduleSettles() }
    }

    // MARK: Daemons

    func report(_ i: Int) -> NodeReport {
        let node = nodes[i]
        let criticalFailing = configuration.nodeChecks.contains { $0.critical && node.checkFaults.contains($0.name) }
        var blocked = node.failedGroups
        // A group that needs a node check (a colocation with a check) may not run where that check fails.
        for group in configuration.groups where group.requiredChecks.contains(where: node.checkFaults.contains) {
            blocked.insert(group.name)
        }
        return NodeReport(
            name: node.name, nodeID: node.id, priority: node.priority, standby: node.standby, healthy: !criticalFailing,
            // The simulated reconciler acquires at once: what it holds is up (no claim in flight).
            blockedGroups: blocked, holdings: holdings(i), upSince: node.upSince, running: holdings(i))
    }

    /// Delivers node `i`'s report to every live daemon that shares its membership (CPG), and to itself.
    mutating func publish(_ i: Int) {
        let current = report(i)
        for j in nodes.indices
        where j == i || (nodes[j].daemonLive && nodes[j].view.members.contains(nodes[i].id) && nodes[i].view.members.contains(nodes[j].id)) {
            if nodes[j].view.reports[current.name] != current { nodes[j].view.received(current) }
        }
    }

    mutating func converge() async {
        for _ in 0..<8 {
            for i in nodes.indices where nodes[i].daemonLive { publish(i) }
            // Every running daemon decides from its own view; the decisions are printed before anyone acts.
            var desired: [(Int, Set<String>)] = []
            for i in nodes.indices where nodes[i].daemonRunning {
                let placement = Placer.place(nodes[i].view.placementInput(now: now), policy: policy)
                noteDecisions(i, placement)
                desired.append((i, placement.groups(heldBy: nodes[i].name)))
            }
            flushDecisions()
            var changed = false
            for (i, groups) in desired {
                guard let reconciler = nodes[i].reconciler else { continue }
                let before = holdings(i)
                // Nothing to change on this machine: skip the (idempotent) reconciler call.
                if before == groups, await reconciler.heldGroups.count == groups.count { continue }
                for group in groups where !before.contains(group) {
                    // Order: a group starts only once every group it starts after runs somewhere.
                    for predecessor in self.group(group)?.startAfter ?? []
                    where !nodes.indices.contains(where: { holdings($0).contains(predecessor) }) {
                        violation("\(group) starts on \(nodes[i].name) while \(predecessor), which it starts after, runs nowhere")
                    }
                }
                let actions = await reconciler.apply(groups)
                logActions(i, actions, nil)
                if holdings(i) != before || actions.contains(where: { $0.outcome == .done }) {
                    changed = true
                    publish(i)
                }
            }
            clearSatisfiedRequests()
            if !changed { break }
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

    mutating func noteDecisions(_ i: Int, _ placement: Placement) {
        for assignment in placement.assignments {
            let line = "\(assignment.group) → \(assignment.holder ?? "none") (\(assignment.reason))"
            let key = "\(nodes[i].name)/\(assignment.group)"
            // Print a node's decision when the holder changes (or, with no holder, when the reason does).
            let identity = assignment.holder ?? "none: \(assignment.reason)"
            if lastDecision[key] != identity {
                lastDecision[key] = identity
                pendingDecisions.append((nodes[i].name, line))
            }
        }
    }

    mutating func flushDecisions() {
        var byLine: [String: [String]] = [:]
        var order: [String] = []
        for (node, line) in pendingDecisions {
            if byLine[line] == nil { order.append(line) }
            if !(byLine[line]?.contains(node) ?? false) { byLine[line, default: []].append(node) }
        }
        for line in order { log(.decision, byLine[line]!.sorted(), line) }
        pendingDecisions = []
    }

    mutating func clearSatisfiedRequests() {
        for i in nodes.indices {
            for (group, request) in nodes[i].view.moveRequests {
                let holder = nodes.indices.first { holdings($0).contains(group) }.map { nodes[$0].name }
                switch request {
                case .to(let target) where holder == target: nodes[i].view.moveRequests[group] = nil
                case .awayFrom(let away) where holder != nil && holder != away: nodes[i].view.moveRequests[group] = nil
                default: break
                }
            }
        }
    }

    func group(_ name: String) -> ResourceGroup? { configuration.groups.first { $0.name == name } }

    mutating func expireLeases() async {
        for i in nodes.indices where !nodes[i].daemonRunning {
            for (address, expiry) in nodes[i].leases where expiry <= now {
                nodes[i].leases[address] = nil
                for present in nodes[i].addresses.all where present.address == address {
                    _ = try? await nodes[i].addresses.remove(
                        VirtualIP(name: "x", address: present.address, prefixLength: present.prefixLength, interface: present.interface))
                }
                log(.action, [nodes[i].name], "VIP \(address) lease expired (no live sfhad refreshed it): address gone")
            }
        }
    }

    // MARK: Health and failures

    func detectionPeriod(ofService name: String) -> Duration {
        let service = configuration.groups.flatMap(\.services).first { $0.name == name }
        guard let check = service?.healthCheck else { return .seconds(5) }
        return check.interval * check.failuresBeforeUnhealthy
    }

    /// A failing service's health check reports `becameUnhealthy`, then `stillUnhealthy` every detection period,
    /// to the node's real reconciler, which restarts it within its failure policy or fails its group.
    mutating func judgeFailures() async {
        for i in nodes.indices {
            guard let reconciler = nodes[i].reconciler else { continue }
            for (service, judgement) in nodes[i].nextJudgement where judgement.due <= now {
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
                nodes[i].failedGroups = await reconciler.failedGroups
                nodes[i].nextJudgement[service] = (now + detectionPeriod(ofService: service), true)
            }
            // Failures time out on the reconciler's clock.
            nodes[i].failedGroups = await reconciler.failedGroups
        }
    }

    // MARK: Invariants

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
        for i in nodes.indices where nodes[i].daemonRunning && !holdings(i).isEmpty {
            if configuration.quorumRequired && !nodes[i].view.quorate {
                violation("\(nodes[i].name) holds \(holdings(i).sorted().joined(separator: ",")) without quorum")
            }
        }
        for node in nodes {
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
