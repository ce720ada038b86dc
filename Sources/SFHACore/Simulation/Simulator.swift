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

/// Runs the real placement against simulated nodes on a virtual clock, with corosync's timings modelled:
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

    public func run() -> SimulationResult {
        var engine = Engine(scenario: scenario, configuration: configuration)
        engine.run()
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
    /// The membership corosync last delivered to this node (ids), and whether it is quorate.
    var delivered: Set<UInt32> = []
    var settleAt: Timestamp?
    var standby = false
    var priority: Int
    var upSince = Timestamp.zero
    var serviceFaults: Set<String> = []
    var checkFaults: Set<String> = []
    /// Group → VIP expiry (nil: refreshed by a live daemon).
    var vips: [String: Timestamp?] = [:]
    /// Groups whose services run here.
    var services: Set<String> = []
    /// Group → restart times inside the failure window.
    var restarts: [String: [Timestamp]] = [:]
    /// Group → blocked until (nil inside: until cleanup).
    var blocked: [String: Timestamp?] = [:]
    /// Service → when its failure is next judged.
    var nextJudgement: [String: Timestamp] = [:]
    var seenAllNodes = false

    var holdings: Set<String> { Set(vips.keys).union(services) }
    /// sfhad runs (it reconciles, and keeps its VIPs' leases fresh).
    var daemonRunning: Bool { powered && daemon }
    /// sfhad runs and is in the sfha process group (needs corosync).
    var daemonLive: Bool { powered && corosync && daemon }
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
    var timeline: [TimelineEntry] = []
    var violations: [String] = []
    var failedExpectations: [String] = []
    /// Last decision line printed per (node, group), to print changes only.
    var lastDecision: [String: String] = [:]

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

    mutating func run() {
        var pending = scenario.events[...]
        let step = Duration.milliseconds(100)
        var tick = Timestamp.zero
        while tick <= scenario.end {
            // Events due before the next tick run at their own instant.
            while let next = pending.first, next.time <= tick {
                now = next.time
                pending = pending.dropFirst()
                if case .expect = next.event {} else { log(.event, [], next.event.description) }
                apply(next.event)
                advance()
            }
            now = tick
            advance()
            tick = tick + step
        }
    }

    /// Everything time-driven at `now`: corosync settling, VIP expiry, failure judgement, then convergence.
    mutating func advance() {
        settleMemberships()
        expireLeases()
        judgeFailures()
        converge()
        checkInvariants()
    }

    // MARK: Events

    mutating func apply(_ event: ScenarioEvent) {
        switch event {
        case .start(let names):
            for name in names.isEmpty ? scenario.nodes : names {
                let i = index(name)
                nodes[i].powered = true
                nodes[i].corosync = true
                nodes[i].daemon = true
                nodes[i].upSince = now
            }
            scheduleSettles()
        case .powerOff(let name):
            let i = index(name)
            nodes[i].powered = false
            nodes[i].corosync = false
            nodes[i].daemon = false
            nodes[i].vips = [:]
            nodes[i].services = []
            nodes[i].delivered = []
            nodes[i].view = ClusterView(localNode: name)
            nodes[i].seenAllNodes = false
            cleanLeavers.remove(nodes[i].id)
            scheduleSettles()
        case .powerOn(let name):
            let i = index(name)
            nodes[i].powered = true
            nodes[i].corosync = true
            nodes[i].daemon = true
            nodes[i].upSince = now
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
            // Services are bound to sfhad and stop with it; VIPs live until their lease runs out.
            nodes[i].services = []
            for group in nodes[i].vips.keys where nodes[i].vips[group]! == nil { nodes[i].vips[group] = now + scenario.lease }
            daemonLeft(name)
        case .restart(let name):
            let i = index(name)
            guard nodes[i].powered, !nodes[i].daemon else { return }
            nodes[i].daemon = true
            nodes[i].upSince = now
            nodes[i].view = ClusterView(localNode: name)
            // A starting daemon first removes every VIP it was not assigned (it has been assigned nothing yet).
            if !nodes[i].vips.isEmpty {
                log(.action, [name], "startup cleanup: remove leftover VIPs of " + nodes[i].vips.keys.sorted().joined(separator: ", "))
                nodes[i].vips = [:]
            }
            if nodes[i].corosync {
                nodes[i].view.membershipChanged(members: nodes[i].delivered, quorate: quorate(nodes[i].delivered, i), at: now)
            }
        case .stop(let name):
            let i = index(name)
            guard nodes[i].daemon else { return }
            // Graceful: release everything (VIPs first), tell the peers, then leave.
            release(i, groups: nodes[i].holdings, why: "sfhad stopping")
            publish(i)
            nodes[i].daemon = false
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
            nodes[i].nextJudgement[service] = now + detectionPeriod(ofService: service)
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
        case .failover(let group, let target):
            let holder = nodes.first { $0.holdings.contains(group) }?.name
            let request: MoveRequest? = target.map { .to($0) } ?? holder.map { .awayFrom($0) }
            if let request { for i in nodes.indices { nodes[i].view.moveRequests[group] = request } }
        case .cleanup(let group, let name):
            for i in nodes.indices where name == nil || nodes[i].name == name {
                nodes[i].blocked[group] = nil
                nodes[i].restarts[group] = nil
            }
        case .setNodePriority(let name, let priority):
            configuration.nodePriorities[name] = priority
        case .setFailback(let group, let enabled):
            if let g = configuration.groups.firstIndex(where: { $0.name == group }) { configuration.groups[g].failback = enabled }
        case .expect(let group, let holder):
            let holders = nodes.filter { $0.vips.keys.contains(group) || $0.services.contains(group) }.map(\.name)
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
        var blocked = Set(node.blocked.compactMap { group, until in (until.map { $0 > now } ?? true) ? group : nil })
        // A group that needs a node check (a colocation with a check) may not run where that check fails.
        for group in configuration.groups where group.requiredChecks.contains(where: node.checkFaults.contains) {
            blocked.insert(group.name)
        }
        return NodeReport(
            name: node.name, nodeID: node.id, priority: node.priority, standby: node.standby, healthy: !criticalFailing,
            blockedGroups: blocked, holdings: node.holdings, upSince: node.upSince)
    }

    /// Delivers node `i`'s report to every live daemon that shares its membership (CPG).
    mutating func publish(_ i: Int) {
        let current = report(i)
        for j in nodes.indices where nodes[j].daemonLive && nodes[j].view.members.contains(nodes[i].id)
            && nodes[i].view.members.contains(nodes[j].id) || j == i
        {
            if nodes[j].view.reports[current.name] != current { nodes[j].view.received(current) }
        }
    }

    mutating func converge() {
        for _ in 0..<8 {
            for i in nodes.indices where nodes[i].daemonLive { publish(i) }
            // Every running daemon decides from its own view; the decisions are printed before anyone acts.
            var desired: [Int: Set<String>] = [:]
            for i in nodes.indices where nodes[i].daemonRunning {
                let placement = Placer.place(nodes[i].view.placementInput(now: now), policy: policy)
                noteDecisions(i, placement)
                desired[i] = placement.groups(heldBy: nodes[i].name)
            }
            flushDecisions()
            var changed = false
            for (i, groups) in desired.sorted(by: { $0.key < $1.key }) where !policy.maintenance {
                let toRelease = nodes[i].holdings.subtracting(groups)
                let toAcquire = groups.subtracting(nodes[i].holdings)
                if !toRelease.isEmpty { release(i, groups: toRelease, why: "no longer assigned here") }
                if !toAcquire.isEmpty { acquire(i, groups: toAcquire) }
                if !toRelease.isEmpty || !toAcquire.isEmpty {
                    changed = true
                    publish(i)
                }
            }
            clearSatisfiedRequests()
            if !changed { break }
        }
    }

    var pendingDecisions: [(node: String, line: String)] = []

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
                let holder = nodes.first { $0.holdings.contains(group) }?.name
                switch request {
                case .to(let target) where holder == target: nodes[i].view.moveRequests[group] = nil
                case .awayFrom(let away) where holder != nil && holder != away: nodes[i].view.moveRequests[group] = nil
                default: break
                }
            }
        }
    }

    func group(_ name: String) -> ResourceGroup? { configuration.groups.first { $0.name == name } }

    /// Groups in configuration order.
    func ordered(_ groups: Set<String>) -> [String] {
        configuration.groups.map(\.name).filter(groups.contains) + groups.subtracting(configuration.groups.map(\.name)).sorted()
    }

    mutating func release(_ i: Int, groups: Set<String>, why: String) {
        for name in ordered(groups).reversed() {
            let definition = group(name)
            var parts: [String] = []
            if nodes[i].vips.removeValue(forKey: name) != nil, let definition, !definition.vips.isEmpty {
                parts.append("remove " + definition.vips.map(\.cidr).joined(separator: ", "))
            }
            if nodes[i].services.remove(name) != nil, let definition, !definition.services.isEmpty {
                parts.append("stop " + definition.services.reversed().map(\.name).joined(separator: ", "))
            }
            log(.action, [nodes[i].name], "release \(name) (\(why))" + (parts.isEmpty ? "" : ": " + parts.joined(separator: ", then ")))
        }
    }

    mutating func acquire(_ i: Int, groups: Set<String>) {
        for name in ordered(groups) {
            let definition = group(name)
            // Order: a group starts only once every group it starts after runs somewhere.
            for predecessor in definition?.startAfter ?? [] where !nodes.contains(where: { $0.holdings.contains(predecessor) }) {
                violation("\(name) starts on \(nodes[i].name) while \(predecessor), which it starts after, runs nowhere")
            }
            var parts: [String] = []
            if let definition, !definition.vips.isEmpty {
                nodes[i].vips[name] = .some(nil)
                parts.append("add " + definition.vips.map(\.cidr).joined(separator: ", ") + " + announce")
            }
            if let definition, !definition.services.isEmpty {
                nodes[i].services.insert(name)
                parts.append("start " + definition.services.map(\.name).joined(separator: ", "))
                for service in definition.services where nodes[i].serviceFaults.contains(service.name) {
                    nodes[i].nextJudgement[service.name] = now + detectionPeriod(ofService: service.name)
                }
            }
            if definition == nil || (definition!.vips.isEmpty && definition!.services.isEmpty) { nodes[i].services.insert(name) }
            log(.action, [nodes[i].name], "acquire \(name)" + (parts.isEmpty ? "" : ": " + parts.joined(separator: ", then ")))
        }
    }

    mutating func expireLeases() {
        for i in nodes.indices {
            for (group, expiry) in nodes[i].vips {
                guard let expiry, expiry <= now else { continue }
                nodes[i].vips[group] = nil
                log(.action, [nodes[i].name], "VIP lease of \(group) expired (no live sfhad refreshed it): addresses gone")
            }
        }
    }

    // MARK: Health and failures

    func detectionPeriod(ofService name: String) -> Duration {
        let service = configuration.groups.flatMap(\.services).first { $0.name == name }
        guard let check = service?.healthCheck else { return .seconds(5) }
        return check.interval * check.failuresBeforeUnhealthy
    }

    mutating func judgeFailures() {
        for i in nodes.indices where nodes[i].daemonLive {
            for (service, due) in nodes[i].nextJudgement where due <= now {
                guard let group = configuration.groups.first(where: { $0.services.contains { $0.name == service } }),
                    nodes[i].services.contains(group.name), nodes[i].serviceFaults.contains(service),
                    let definition = group.services.first(where: { $0.name == service })
                else {
                    nodes[i].nextJudgement[service] = nil
                    continue
                }
                let policy = definition.failurePolicy
                let recent = (nodes[i].restarts[group.name] ?? []).filter { now - $0 < policy.window }
                if recent.count < policy.maxRestarts {
                    nodes[i].restarts[group.name] = recent + [now]
                    log(.health, [nodes[i].name], "\(service) unhealthy: restart \(recent.count + 1)/\(policy.maxRestarts)")
                    nodes[i].nextJudgement[service] = now + detectionPeriod(ofService: service)
                } else {
                    let until = policy.failureTimeout.map { now + $0 }
                    nodes[i].blocked[group.name] = .some(until)
                    nodes[i].nextJudgement[service] = nil
                    log(.health, [nodes[i].name],
                        "\(service) still unhealthy after \(policy.maxRestarts) restart(s): \(group.name) may not run here "
                            + (until.map { "until \($0)" } ?? "until cleanup"))
                }
            }
        }
    }

    // MARK: Invariants

    mutating func violation(_ text: String) {
        violations.append("\(now): \(text)")
        log(.violation, [], text)
    }

    mutating func checkInvariants() {
        for group in configuration.groups where !group.vips.isEmpty {
            let holders = nodes.filter { $0.vips.keys.contains(group.name) }.map(\.name)
            if holders.count > 1 { violation("\(group.name)'s VIPs are on \(holders.joined(separator: " and ")) at once") }
        }
        guard !configuration.maintenance else { return }
        for node in nodes where node.daemonRunning && !node.holdings.isEmpty {
            if configuration.quorumRequired && !node.view.quorate {
                violation("\(node.name) holds \(node.holdings.sorted().joined(separator: ",")) without quorum")
            }
        }
        for node in nodes {
            for name in node.services {
                if let group = group(name), !group.vips.isEmpty, !node.vips.keys.contains(name) {
                    violation("\(node.name) runs \(name)'s services without its VIPs")
                }
            }
        }
    }
}
