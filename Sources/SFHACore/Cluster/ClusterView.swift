/// What one node knows about the cluster, built from the ordered history it receives: corosync membership and
/// quorum, which daemons are alive (the sfha process group), and the reports those daemons publish.
///
/// sfhad keeps one (fed by CorosyncKit and CPG); the simulator keeps one per simulated node. Both derive placement
/// from it with `placementInput(now:)`, so the daemon and `sfha simulate` decide with the same code.
public struct ClusterView: Sendable, Equatable {
    public let localNode: String
    public private(set) var quorate = false
    /// Node ids in this node's corosync membership.
    public private(set) var members: Set<UInt32> = []
    /// Reports of live daemons, by node name.
    public private(set) var reports: [String: NodeReport] = [:]
    public private(set) var lastKnownHolders: [String: String] = [:]
    /// The last node that reported running each group (up: VIPs and services, not merely claimed), kept after it
    /// released it (see `PlacementInput`). A claim does not count: two nodes that each dropped their claim for the
    /// other would otherwise each name the other, and neither would take the group.
    public private(set) var previousHolders: [String: String] = [:]
    public private(set) var departures: [String: Timestamp] = [:]
    /// Of `departures`, the daemons that left while their node stayed (their VIPs may linger until the lease ends).
    public private(set) var daemonDepartures: Set<String> = []
    public var fencedNodes: Set<String> = []
    /// Node ids whose daemon is in the sfha process group (from CPG).
    public private(set) var daemons: Set<UInt32> = []
    public var moveRequests: [String: MoveRequest] = [:]
    /// The current ring's acquisition fence and the groups accounted for in it (see `PlacementInput`).
    public var fence: Timestamp?
    public var accountedGroups: Set<String> = []

    public init(localNode: String) { self.localNode = localNode }

    /// corosync reported a new membership / quorum state at `time`.
    public mutating func membershipChanged(members newMembers: Set<UInt32>, quorate: Bool, at time: Timestamp) {
        for report in reports.values where !newMembers.contains(report.nodeID) {
            // Its daemon may have gone with it; either way it is no longer a live member.
            departures[report.name] = time
            reports[report.name] = nil
        }
        members = newMembers
        self.quorate = quorate
    }

    /// corosync went away on this node: treat as no quorum and no membership.
    public mutating func corosyncLost(at time: Timestamp) {
        membershipChanged(members: [], quorate: false, at: time)
        daemons = []
    }

    /// A daemon left the sfha process group (crashed, stopped, or its node left).
    public mutating func daemonLeft(_ name: String, at time: Timestamp) {
        guard reports.removeValue(forKey: name) != nil else { return }
        departures[name] = time
        daemonDepartures.insert(name)
    }

    /// The sfha process group's members changed (node ids of the daemons in it).
    public mutating func daemonsChanged(_ nodeIDs: Set<UInt32>) { daemons = nodeIDs }

    /// A daemon published its state (it is alive and in the group).
    public mutating func received(_ report: NodeReport) {
        reports[report.name] = report
        for group in report.holdings { lastKnownHolders[group] = report.name }
        for group in report.running { previousHolders[group] = report.name }
        for (group, holder) in lastKnownHolders where holder == report.name && !report.holdings.contains(group) {
            // It released the group: nobody is known to hold it any more.
            lastKnownHolders[group] = nil
        }
        // A holder that departed and came back clears its departure.
        departures[report.name] = nil
        daemonDepartures.remove(report.name)
        fencedNodes.remove(report.name)
    }

    /// Whether a live daemon reports holding `group` where `request` wants it.
    public func moveSatisfied(_ group: String, _ request: MoveRequest) -> Bool {
        switch request {
        case .to(let target): reports[target]?.holdings.contains(group) == true
        case .awayFrom(let away): reports.values.contains { $0.name != away && $0.holdings.contains(group) }
        }
    }

    /// A node was confirmed fenced (STONITH): its groups may be taken over without waiting.
    public mutating func fenced(_ name: String) { fencedNodes.insert(name) }

    public func placementInput(now: Timestamp) -> PlacementInput {
        PlacementInput(
            quorate: quorate, members: members, reports: reports.values.sorted { $0.nodeID < $1.nodeID },
            lastKnownHolders: lastKnownHolders, previousHolders: previousHolders, departures: departures,
            daemonDepartures: daemonDepartures,
            fencedNodes: fencedNodes,
            moveRequests: moveRequests,
            awaitedReports: daemons.intersection(members).subtracting(reports.values.map(\.nodeID)), fence: fence,
            accountedGroups: accountedGroups, now: now)
    }
}

extension PlacementPolicy {
    /// The placement rules of a cluster configuration.
    public init(_ configuration: ClusterConfiguration) {
        self.init(
            quorumRequired: configuration.quorumRequired, takeoverDelay: configuration.takeoverDelay,
            maintenance: configuration.maintenance, nodePriorities: configuration.nodePriorities,
            groups: configuration.groups.map {
                GroupPolicy(
                    name: $0.name, priorities: $0.priorities, failback: $0.failback, failbackDelay: $0.failbackDelay,
                    colocatedWith: $0.colocatedWith, startAfter: $0.startAfter,
                    bannedNodes: Set(configuration.bannedNodes[$0.name] ?? []))
            })
    }
}
