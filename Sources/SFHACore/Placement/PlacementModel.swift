/// A point on one node's monotonic clock (or the simulator's virtual clock), in nanoseconds.
/// Placement compares timestamps taken on the same node only: departures are stamped when this node saw them.
public struct Timestamp: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static let zero = Timestamp(nanoseconds: 0)

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    // Saturating: instants and durations can come from other nodes' messages, and no input may trap the daemon.
    public static func + (lhs: Timestamp, rhs: Duration) -> Timestamp {
        Timestamp(nanoseconds: saturating(lhs.nanoseconds.addingReportingOverflow(rhs.nanosecondsClamped), positive: rhs > .zero))
    }

    public static func - (lhs: Timestamp, rhs: Duration) -> Timestamp {
        Timestamp(nanoseconds: saturating(lhs.nanoseconds.subtractingReportingOverflow(rhs.nanosecondsClamped), positive: rhs < .zero))
    }

    public static func - (lhs: Timestamp, rhs: Timestamp) -> Duration {
        .nanoseconds(saturating(lhs.nanoseconds.subtractingReportingOverflow(rhs.nanoseconds), positive: lhs > rhs))
    }

    private static func saturating(_ result: (partialValue: Int64, overflow: Bool), positive: Bool) -> Int64 {
        guard result.overflow else { return result.partialValue }
        return positive ? .max : .min
    }

    /// Seconds with millisecond precision, e.g. `16.000s`.
    public var description: String {
        let milliseconds = nanoseconds / 1_000_000
        let fraction = String(abs(milliseconds % 1000))
        return "\(milliseconds / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)s"
    }
}

extension Duration {
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return product.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}

/// What placement needs from one resource group's configuration.
public struct GroupPolicy: Sendable, Equatable, Codable {
    public var name: String
    /// Node name → priority for this group (overrides the node's priority).
    public var priorities: [String: Int]
    /// Move back to a higher-priority node when it becomes eligible again (after `failbackDelay`).
    public var failback: Bool
    public var failbackDelay: Duration
    /// Groups that must run on the same node as this one.
    public var colocatedWith: [String]
    /// Groups that must have a holder before this one is placed.
    public var startAfter: [String]
    /// Nodes the operator banned from this group (`sfha failover GROUP --ban NODE`): never eligible for it.
    public var bannedNodes: Set<String>

    public init(
        name: String, priorities: [String: Int] = [:], failback: Bool = false, failbackDelay: Duration = .zero,
        colocatedWith: [String] = [], startAfter: [String] = [], bannedNodes: Set<String> = []
    ) {
        self.bannedNodes = bannedNodes
        self.name = name
        self.priorities = priorities
        self.failback = failback
        self.failbackDelay = failbackDelay
        self.colocatedWith = colocatedWith
        self.startAfter = startAfter
    }
}

/// The cluster-wide rules placement applies (derived from the cluster configuration document).
public struct PlacementPolicy: Sendable, Equatable, Codable {
    public var quorumRequired: Bool
    /// How long after a holder left the membership before another node may take its groups (unless fenced).
    public var takeoverDelay: Duration
    /// The delay when the holder's *daemon* left while its node stayed in the membership (killed or hung): its
    /// VIPs stay on the machine until their lease runs out, so this never drops below the lease window.
    public var daemonTakeoverDelay: Duration
    /// Cluster-wide maintenance: decisions are frozen (every holder keeps what it holds; nothing moves).
    public var maintenance: Bool
    /// Cluster-wide node priorities (win over the priority a node publishes).
    public var nodePriorities: [String: Int]
    /// Groups in configuration order.
    public var groups: [GroupPolicy]

    public init(
        quorumRequired: Bool = true, takeoverDelay: Duration = ClusterConfiguration.defaultTakeoverDelay,
        daemonTakeoverDelay: Duration = PlacementPolicy.leaseWindow, maintenance: Bool = false,
        nodePriorities: [String: Int] = [:], groups: [GroupPolicy]
    ) {
        self.quorumRequired = quorumRequired
        self.takeoverDelay = takeoverDelay
        self.daemonTakeoverDelay = daemonTakeoverDelay
        self.maintenance = maintenance
        self.nodePriorities = nodePriorities
        self.groups = groups
    }
}

extension PlacementPolicy {
    /// How long a dead daemon's VIPs can still be on its machine: the 1 s lease plus the kernel's up-to-1 s expiry
    /// granularity, plus margin.
    public static let leaseWindow: Duration = .milliseconds(2500)
}

/// What one node's daemon publishes about itself (over CPG in sfhad), as placement sees it.
public struct NodeReport: Sendable, Equatable, Codable {
    public var name: String
    public var nodeID: UInt32
    /// The node's own priority (`node.priority`), used when the cluster configuration gives none.
    public var priority: Int
    public var standby: Bool
    /// Node-level critical health checks pass.
    public var healthy: Bool
    /// Groups this node may not hold right now (over its failure threshold, until the failure timeout or cleanup).
    public var blockedGroups: Set<String>
    /// Groups this node holds right now.
    public var holdings: Set<String>
    /// Since when this node has been eligible-capable (joined the membership with a live daemon), for failback delay.
    public var upSince: Timestamp
    /// Service failures counted on this node (for operators; placement uses `blockedGroups`).
    public var failures: Int
    /// The node is proven to be in the quorate ring now (`RingEvidence`): without that it may neither take nor
    /// keep a group.
    public var proven: Bool
    /// Of `holdings`, the groups that are up here: every VIP added, every service started (a claim, or an
    /// acquisition under way, is held but not running). What `sfha failover --to` waits for.
    public var running: Set<String>
    /// The node's network interfaces (nil: not known, or a daemon that predates it): a VIP added on an interface a
    /// node lacks is refused when that node says so.
    public var interfaces: [String]?
    /// Groups whose resources this node cannot apply (a VIP's interface or a service's unit missing here), with
    /// what is missing: the node is not eligible for them.
    public var cannotApply: [String: String]

    public init(
        name: String, nodeID: UInt32, priority: Int = 100, standby: Bool = false, healthy: Bool = true,
        blockedGroups: Set<String> = [], holdings: Set<String> = [], upSince: Timestamp = .zero, failures: Int = 0,
        proven: Bool = true, running: Set<String> = [], interfaces: [String]? = nil, cannotApply: [String: String] = [:]
    ) {
        self.running = running
        self.interfaces = interfaces
        self.cannotApply = cannotApply
        self.name = name
        self.nodeID = nodeID
        self.priority = priority
        self.standby = standby
        self.healthy = healthy
        self.blockedGroups = blockedGroups
        self.holdings = holdings
        self.upSince = upSince
        self.failures = failures
        self.proven = proven
    }

    enum CodingKeys: String, CodingKey {
        case name, nodeID, priority, standby, healthy, blockedGroups, holdings, upSince, failures, proven, running, interfaces
        case cannotApply
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        nodeID = try c.decode(UInt32.self, forKey: .nodeID)
        priority = try c.decode(Int.self, forKey: .priority)
        standby = try c.decode(Bool.self, forKey: .standby)
        healthy = try c.decode(Bool.self, forKey: .healthy)
        blockedGroups = try c.decode(Set<String>.self, forKey: .blockedGroups)
        holdings = try c.decode(Set<String>.self, forKey: .holdings)
        upSince = try c.decode(Timestamp.self, forKey: .upSince)
        failures = try c.decode(Int.self, forKey: .failures)
        proven = try c.decode(Bool.self, forKey: .proven)
        // Absent in reports of daemons that predate it.
        running = try c.decodeIfPresent(Set<String>.self, forKey: .running) ?? []
        interfaces = try c.decodeIfPresent([String].self, forKey: .interfaces)
        cannotApply = try c.decodeIfPresent([String: String].self, forKey: .cannotApply) ?? [:]
    }
}

/// An operator's request to move a group (`sfha failover [GROUP] [--to NODE]`).
public enum MoveRequest: Sendable, Equatable, Codable {
    case to(String)
    case awayFrom(String)
}

/// Everything placement decides from. Every node that has the same input computes the same output.
public struct PlacementInput: Sendable, Equatable {
    public var quorate: Bool
    /// Node ids in this node's corosync membership.
    public var members: Set<UInt32>
    /// Reports of the daemons that are alive (in the sfha process group). A node without a report has no daemon.
    public var reports: [NodeReport]
    /// The last node known to hold each group (it may have left since).
    public var lastKnownHolders: [String: String]
    /// The last node that ran each group (reported it up, not merely claimed), also after it released it. When
    /// nobody holds a group any more and that node is eligible, it takes it again: a holder whose VIP lease lapsed
    /// for a moment (its ring proof broke while a node joined) keeps the group, instead of the group moving to the
    /// first node by priority.
    public var previousHolders: [String: String]
    /// When each node was last seen leaving the membership (or its daemon leaving the group).
    public var departures: [String: Timestamp]
    /// Of `departures`, the nodes whose daemon left while the node stayed in the membership.
    public var daemonDepartures: Set<String>
    /// Nodes confirmed fenced since they left (STONITH): their groups may be taken over at once.
    public var fencedNodes: Set<String>
    public var moveRequests: [String: MoveRequest]
    /// Node ids whose daemon is in the process group (and the membership) but whose report has not arrived yet.
    /// While any is awaited, no group is given to a node that does not already hold it: the missing report may say
    /// that another node holds it (typical right after a partition heals).
    public var awaitedReports: Set<UInt32>
    /// Until when a group that no live daemon of this ring is known to hold may not be given to anyone: the moment
    /// every node outside the ring has lost its VIPs for certain (`AcquisitionFence`). nil: no fence.
    public var fence: Timestamp?
    /// Groups a live daemon of the current ring has reported holding since the ring formed: their whereabouts are
    /// known, the fence does not apply to them.
    public var accountedGroups: Set<String>
    public var now: Timestamp

    public init(
        quorate: Bool, members: Set<UInt32>, reports: [NodeReport], lastKnownHolders: [String: String] = [:],
        previousHolders: [String: String] = [:],
        departures: [String: Timestamp] = [:], daemonDepartures: Set<String> = [], fencedNodes: Set<String> = [],
        moveRequests: [String: MoveRequest] = [:], awaitedReports: Set<UInt32> = [], fence: Timestamp? = nil,
        accountedGroups: Set<String> = [], now: Timestamp
    ) {
        self.quorate = quorate
        self.members = members
        self.reports = reports
        self.lastKnownHolders = lastKnownHolders
        self.previousHolders = previousHolders
        self.departures = departures
        self.daemonDepartures = daemonDepartures
        self.fencedNodes = fencedNodes
        self.moveRequests = moveRequests
        self.awaitedReports = awaitedReports
        self.fence = fence
        self.accountedGroups = accountedGroups
        self.now = now
    }
}

/// Why a node may not hold a group.
public enum Ineligibility: String, Sendable, Equatable, Codable, CaseIterable {
    case notMember = "not in the quorate membership"
    case daemonDown = "sfhad not running"
    case standby = "in standby"
    case unhealthy = "node health checks failing"
    case notProven = "not proven to be in the quorate ring"
    case blocked = "over its failure limit for this group"
    case movedAway = "operator moved the group away"
    case banned = "banned from the group by the operator"
    case cannotApply = "cannot apply the group's resources (see its report in sfha status)"
}

/// Why a group is (or is not) where placement put it.
public enum PlacementReason: Sendable, Equatable, Codable, CustomStringConvertible {
    case noQuorum
    case maintenance
    case kept
    /// Nobody holds it; the node that held it last is eligible and takes it again (stickiness across a lapse).
    case previousHolder
    case highestPriority
    case failback(from: String)
    case requested
    case colocated(with: String)
    case waitingForTakeover(previousHolder: String, until: Timestamp)
    case waitingForRelease(by: String, next: String)
    case waitingForOrder(after: String)
    case waitingForReports(from: [UInt32])
    case waitingForFence(until: Timestamp)
    case noEligibleNode([String: Ineligibility])

    public var description: String {
        switch self {
        case .noQuorum: "no quorum: nothing may run"
        case .maintenance: "maintenance mode: placement frozen"
        case .kept: "current holder is still eligible (stickiness)"
        case .previousHolder: "it held the group last and is eligible (stickiness)"
        case .highestPriority: "highest-priority eligible node"
        case .failback(let from): "failback from \(from) to the higher-priority node"
        case .requested: "operator request"
        case .colocated(let group): "colocated with group \(group)"
        case .waitingForTakeover(let holder, let until):
            "waiting until \(until) before taking over from \(holder), which left the membership"
        case .waitingForRelease(let holder, let next): "waiting for \(holder) to release it before \(next) takes it"
        case .waitingForOrder(let group): "waiting for group \(group) to be placed first"
        case .waitingForReports(let nodes): "waiting for the state of node(s) \(nodes.map(String.init).joined(separator: ", "))"
        case .waitingForFence(let until):
            "waiting until \(until), when every node outside this ring has lost its VIPs for certain"
        case .noEligibleNode(let why):
            why.isEmpty
                ? "no node in the membership"
                : "no eligible node: " + why.keys.sorted().map { "\($0) \(why[$0]!.rawValue)" }.joined(separator: ", ")
        }
    }
}

public struct GroupAssignment: Sendable, Equatable, Codable {
    public var group: String
    /// The node that must hold the group now (nil: nobody may).
    public var holder: String?
    public var reason: PlacementReason

    public init(group: String, holder: String?, reason: PlacementReason) {
        self.group = group
        self.holder = holder
        self.reason = reason
    }
}

public struct Placement: Sendable, Equatable, Codable {
    /// One assignment per group, in configuration order.
    public var assignments: [GroupAssignment]

    public func assignment(of group: String) -> GroupAssignment? { assignments.first { $0.group == group } }
    public func holder(of group: String) -> String? { assignment(of: group)?.holder }
    /// The groups `node` must hold.
    public func groups(heldBy node: String) -> Set<String> { Set(assignments.filter { $0.holder == node }.map(\.group)) }
}
