/// Decides, for every resource group, which node must hold it now. A pure, deterministic function of its input:
/// every node computes the same placement from the same (totally ordered) history.
///
/// Rules, in order:
/// 1. Maintenance freezes placement: whoever holds a group keeps it; nothing else moves.
/// 2. Without quorum (when required) nobody holds anything.
/// 3. A node is eligible for a group when it is in the membership, its daemon is alive, it is not in standby, its
///    node-level critical checks pass, it is not over its failure limit for the group, no operator moved the
///    group away from it, and no operator banned it from the group (or from a group colocated with it).
/// 4. The current holder keeps the group while eligible (stickiness), unless failback applies (the group allows it,
///    a strictly higher-priority node has been eligible for `failbackDelay`) or an operator asked to move it to
///    another eligible node. Otherwise the highest-priority eligible node wins, ties to the lowest node id.
/// 5. Colocated groups are placed as one unit (the first of them in configuration order leads); a group is placed
///    only once the groups it starts after are running on their holders.
/// 6. Safety: a group is never given to a node while another live node still holds it (that node releases first),
///    nor while a live daemon's state is still unknown (its report may say it holds the group), nor — when no live
///    daemon of this ring has reported holding it — before the ring's fence (every node outside the ring has lost
///    its VIPs by then); a node not proven to be in the quorate ring is not eligible. A holder whose daemon died
///    while its node stayed waits at least the VIP lease window, and a group whose last holder left the membership
///    is given away only `takeoverDelay` after it left, or at once when that node is confirmed fenced.
public enum Placer {
    public static func place(_ input: PlacementInput, policy: PlacementPolicy) -> Placement {
        let context = Context(input: input, policy: policy)
        var decisions: [String: GroupAssignment] = [:]
        for component in context.components {
            for assignment in context.decide(component) { decisions[assignment.group] = assignment }
        }
        context.applyOrder(&decisions)
        return Placement(assignments: policy.groups.compactMap { decisions[$0.name] })
    }

    /// Why each node may not hold `group` now (nodes absent from the answer may): what `sfha status` shows beside
    /// the group, whoever holds it.
    public static func ineligibleNodes(for group: String, _ input: PlacementInput, policy: PlacementPolicy) -> [String: Ineligibility] {
        let context = Context(input: input, policy: policy)
        guard let component = context.components.first(where: { $0.contains { $0.name == group } }) else { return [:] }
        return context.ineligibilityReport(component)
    }

    /// Why `group` went from `previous` to the node `assignment` gives it: what became of the previous holder
    /// (left, its daemon stopped, no longer eligible), else placement's own reason (an operator request, failback,
    /// or the first placement). `vacatedBy`: why this node saw the group without a holder in between, if it did — a
    /// node that lost quorum (cut off) learns of the new holder only once back, when its own state no longer says why.
    public static func cause(
        ofMoveFrom previous: String?, to assignment: GroupAssignment, _ input: PlacementInput, policy: PlacementPolicy,
        vacatedBy: PlacementReason? = nil
    ) -> MoveCause {
        guard let previous, previous != assignment.holder else { return .placed(reason: assignment.reason) }
        if vacatedBy == .noQuorum { return .placed(reason: .noQuorum) }
        guard input.reports.contains(where: { $0.name == previous && input.members.contains($0.nodeID) }) else {
            return input.daemonDepartures.contains(previous) ? .holderDaemonStopped(node: previous) : .holderLeft(node: previous)
        }
        if let why = ineligibleNodes(for: assignment.group, input, policy: policy)[previous] {
            return .holderIneligible(node: previous, why: why)
        }
        return .placed(reason: assignment.reason)
    }
}

/// Why a group's holder changed (`sfha status`'s last move, the log, `sfha history`).
public enum MoveCause: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Placement's reason on its own: the first placement, an operator's request, failback.
    case placed(reason: PlacementReason)
    /// The previous holder left the corosync membership (node loss, or a partition).
    case holderLeft(node: String)
    /// The previous holder's sfhad stopped (or was killed) while its node stayed in the membership.
    case holderDaemonStopped(node: String)
    /// The previous holder may no longer hold it (standby, failure limit, health, ban, operator move).
    case holderIneligible(node: String, why: Ineligibility)

    public var description: String {
        switch self {
        case .placed(let reason): "\(reason)"
        case .holderLeft(let node): "\(node) left the membership (node lost or cut off)"
        case .holderDaemonStopped(let node): "sfhad on \(node) stopped"
        case .holderIneligible(let node, let why): "\(node) may not hold it: \(why.rawValue)"
        }
    }
}

private struct Context {
    let input: PlacementInput
    let policy: PlacementPolicy
    /// Reports of live daemons on member nodes, by name (the first report wins if a name repeats).
    let live: [String: NodeReport]
    let groupsByName: [String: GroupPolicy]
    /// Colocation components in configuration order; each lists its groups in configuration order.
    let components: [[GroupPolicy]]

    init(input: PlacementInput, policy: PlacementPolicy) {
        self.input = input
        self.policy = policy
        var live: [String: NodeReport] = [:]
        for report in input.reports.sorted(by: { $0.nodeID < $1.nodeID }) where input.members.contains(report.nodeID) {
            if live[report.name] == nil { live[report.name] = report }
        }
        self.live = live
        var byName: [String: GroupPolicy] = [:]
        for group in policy.groups where byName[group.name] == nil { byName[group.name] = group }
        groupsByName = byName
        components = Self.colocationComponents(policy.groups)
    }

    /// Groups linked by colocation (in either direction) form one component.
    static func colocationComponents(_ groups: [GroupPolicy]) -> [[GroupPolicy]] {
        var parent: [String: String] = [:]
        func find(_ name: String) -> String {
            var current = name
            while let next = parent[current], next != current { current = next }
            return current
        }
        for group in groups { parent[group.name] = parent[group.name] ?? group.name }
        for group in groups {
            for other in group.colocatedWith where parent[other] != nil {
                let (a, b) = (find(group.name), find(other))
                if a != b { parent[b] = a }
            }
        }
        var order: [String] = []
        var members: [String: [GroupPolicy]] = [:]
        var seen = Set<String>()
        for group in groups where seen.insert(group.name).inserted {
            let root = find(group.name)
            if members[root] == nil { order.append(root) }
            members[root, default: []].append(group)
        }
        return order.map { members[$0]! }
    }

    func priority(of node: NodeReport, for group: GroupPolicy) -> Int {
        group.priorities[node.name] ?? policy.nodePriorities[node.name] ?? node.priority
    }

    /// Why `node` may not hold any group of `component` (nil: it may).
    func ineligibility(_ node: NodeReport, _ component: [GroupPolicy]) -> Ineligibility? {
        if node.standby { return .standby }
        if !node.healthy { return .unhealthy }
        // A holder whose proof lapses (a membership change under way) keeps its place: its VIP leases, no longer
        // extended, end its holding if the proof does not come back. A node without proof takes nothing new.
        if !node.proven && node.holdings.isDisjoint(with: component.map(\.name)) { return .notProven }
        if component.contains(where: { node.blockedGroups.contains($0.name) }) { return .blocked }
        for group in component {
            if case .awayFrom(let away)? = input.moveRequests[group.name], away == node.name { return .movedAway }
        }
        if component.contains(where: { $0.bannedNodes.contains(node.name) }) { return .banned }
        // A node that lacks what the group needs would only fail it (a holder saying so gives it up).
        if component.contains(where: { node.cannotApply[$0.name] != nil }) { return .cannotApply }
        return nil
    }

    func decide(_ component: [GroupPolicy]) -> [GroupAssignment] {
        let lead = component[0]
        func all(_ holder: String?, _ reason: PlacementReason) -> [GroupAssignment] {
            component.enumerated().map { index, group in
                let ownReason: PlacementReason = (index == 0 || holder == nil) ? reason : .colocated(with: lead.name)
                return GroupAssignment(group: group.name, holder: holder, reason: ownReason)
            }
        }

        if policy.maintenance {
            // Frozen: each group stays with whoever reports holding it (lowest node id if several do).
            return component.map { group in
                let holder = input.reports.sorted { $0.nodeID < $1.nodeID }.first { $0.holdings.contains(group.name) }
                return GroupAssignment(group: group.name, holder: holder?.name, reason: .maintenance)
            }
        }
        if policy.quorumRequired && !input.quorate { return all(nil, .noQuorum) }

        let names = Set(component.map(\.name))
        let byPreference: (NodeReport, NodeReport) -> Bool = { a, b in
            let (pa, pb) = (priority(of: a, for: lead), priority(of: b, for: lead))
            return pa != pb ? pa > pb : a.nodeID < b.nodeID
        }
        let eligible = live.values.filter { ineligibility($0, component) == nil }.sorted(by: byPreference)
        // Live nodes holding any group of the component: the one holding most of it first.
        let holding = live.values.filter { !$0.holdings.isDisjoint(with: names) }.sorted { a, b in
            let (ca, cb) = (a.holdings.intersection(names).count, b.holdings.intersection(names).count)
            return ca != cb ? ca > cb : byPreference(a, b)
        }
        let current = holding.first { candidate in eligible.contains { $0.name == candidate.name } }

        var target: NodeReport?
        var reason: PlacementReason
        let requestedTarget = component.lazy.compactMap { group -> String? in
            if case .to(let node)? = input.moveRequests[group.name] { return node }
            return nil
        }.first
        if let requestedTarget, let node = eligible.first(where: { $0.name == requestedTarget }) {
            (target, reason) = (node, .requested)
        } else if let current {
            let best = eligible.first
            if lead.failback, let best, best.name != current.name,
                priority(of: best, for: lead) > priority(of: current, for: lead),
                input.now - best.upSince >= lead.failbackDelay
            {
                (target, reason) = (best, .failback(from: current.name))
            } else {
                (target, reason) = (current, .kept)
            }
        } else if let previous = input.previousHolders[lead.name], let node = eligible.first(where: { $0.name == previous }),
            !(lead.failback && eligible.first.map { priority(of: $0, for: lead) > priority(of: node, for: lead) } == true)
        {
            (target, reason) = (node, .previousHolder)
        } else if let best = eligible.first {
            (target, reason) = (best, .highestPriority)
        } else {
            return all(nil, .noEligibleNode(ineligibilityReport(component)))
        }
        guard let target else { return all(nil, .noEligibleNode(ineligibilityReport(component))) }

        // A daemon whose state is not known yet may hold the group: acquire nothing new until it has reported.
        if !input.awaitedReports.isEmpty, !holding.contains(where: { $0.name == target.name }) {
            return all(nil, .waitingForReports(from: input.awaitedReports.sorted()))
        }
        let targetHolds = holding.contains { $0.name == target.name }
        // Never two holders: another live node still holding part of the component releases first.
        if let other = holding.first(where: { $0.name != target.name }) {
            return all(nil, .waitingForRelease(by: other.name, next: target.name))
        }
        // A node outside this ring may still hold a group no live daemon here has reported: not before the fence.
        if !targetHolds, let fence = input.fence, input.now < fence,
            component.contains(where: { !input.accountedGroups.contains($0.name) })
        {
            return all(nil, .waitingForFence(until: fence))
        }
        // The fence above covers a departed holder's VIPs; what is left is the operator's extra delay and, for a daemon
        // that died while its node stayed in the ring (no fence applies), its lease window.
        for group in component {
            guard let previous = input.lastKnownHolders[group.name], previous != target.name, live[previous] == nil,
                !input.fencedNodes.contains(previous)
            else { continue }
            // A departure this node never saw is treated as happening now: the delay is never skipped.
            let delay = input.daemonDepartures.contains(previous)
                ? max(policy.takeoverDelay, policy.daemonTakeoverDelay) : policy.takeoverDelay
            let until = (input.departures[previous] ?? input.now) + delay
            if input.now < until { return all(nil, .waitingForTakeover(previousHolder: previous, until: until)) }
        }
        return all(target.name, reason)
    }

    func ineligibilityReport(_ component: [GroupPolicy]) -> [String: Ineligibility] {
        var report: [String: Ineligibility] = [:]
        for node in input.reports {
            if !input.members.contains(node.nodeID) {
                report[node.name] = .notMember
            } else if let why = ineligibility(node, component) {
                report[node.name] = why
            }
        }
        let reported = Set(input.reports.map(\.nodeID))
        for member in input.members where !reported.contains(member) { report["nodeid \(member)"] = .daemonDown }
        return report
    }

    /// A group whose `startAfter` groups have no holder — or whose holder does not hold them yet — gets none
    /// (repeated until nothing changes), so a group starts only after its predecessors run.
    func applyOrder(_ decisions: inout [String: GroupAssignment]) {
        func running(_ group: String) -> Bool {
            guard let holder = decisions[group]?.holder else { return false }
            return live[holder]?.holdings.contains(group) ?? false
        }
        var changed = true
        var rounds = 0
        while changed && rounds <= policy.groups.count {
            changed = false
            rounds += 1
            for group in policy.groups {
                guard let decision = decisions[group.name], decision.holder != nil else { continue }
                if let waiting = group.startAfter.first(where: { decisions[$0] != nil && !running($0) }) {
                    decisions[group.name] = GroupAssignment(group: group.name, holder: nil, reason: .waitingForOrder(after: waiting))
                    changed = true
                }
            }
        }
    }
}
