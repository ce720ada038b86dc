/// One node of the cluster as corosync sees it now.
public struct ClusterMember: Sendable, Equatable, Codable {
    public var nodeID: UInt32
    /// The node's `name` in corosync.conf's nodelist (nil when the nodelist has none).
    public var name: String?
    /// ring0_addr, ring1_addr, … from the nodelist, in ring order.
    public var addresses: [String]
    /// Member of this node's current ring.
    public var online: Bool
    /// Votes votequorum counts for the node (nil when votequorum does not know it).
    public var votes: UInt32?
    public var isLocal: Bool

    public init(nodeID: UInt32, name: String?, addresses: [String], online: Bool, votes: UInt32?, isLocal: Bool) {
        self.nodeID = nodeID
        self.name = name
        self.addresses = addresses
        self.online = online
        self.votes = votes
        self.isLocal = isLocal
    }
}

/// The cluster as seen from this node at one instant: the same facts `corosync-quorumtool -s` prints.
public struct ClusterSnapshot: Sendable, Equatable, Codable {
    public var clusterName: String?
    public var localNodeID: UInt32
    public var ring: RingID?
    /// The quorate flag as corosync reported it for `quorumRing`. corosync announces a new ring's members before
    /// its quorum, so right after a membership change the flag may still describe the previous ring: it speaks for
    /// the current ring only when `quorumIsCurrent`.
    public var quorate: Bool
    /// The ring the last quorum notification was for (nil when unknown).
    public var quorumRing: RingID?
    public var expectedVotes: UInt32
    public var highestExpected: UInt32
    public var totalVotes: UInt32
    public var quorum: UInt32
    public var flags: QuorumFlags
    /// Every node of the nodelist plus any ring member missing from it, by node id.
    public var members: [ClusterMember]

    public init(
        clusterName: String?, localNodeID: UInt32, ring: RingID?, quorate: Bool, quorumRing: RingID? = nil,
        expectedVotes: UInt32, highestExpected: UInt32, totalVotes: UInt32, quorum: UInt32, flags: QuorumFlags,
        members: [ClusterMember]
    ) {
        self.clusterName = clusterName
        self.localNodeID = localNodeID
        self.ring = ring
        self.quorate = quorate
        self.quorumRing = quorumRing ?? ring
        self.expectedVotes = expectedVotes
        self.highestExpected = highestExpected
        self.totalVotes = totalVotes
        self.quorum = quorum
        self.flags = flags
        self.members = members
    }

    public var onlineMembers: [ClusterMember] { members.filter(\.online) }

    /// Whether `quorate` was reported for the current ring (and not carried over from the previous one).
    public var quorumIsCurrent: Bool { quorumRing == ring }

    /// Quorate in the current ring: false while the current ring's quorum is not known yet.
    public var quorateInCurrentRing: Bool { quorate && quorumIsCurrent }

    public func member(_ nodeID: UInt32) -> ClusterMember? { members.first { $0.nodeID == nodeID } }
}

/// A change of this node's ring: who is in it now, who joined and who left.
public struct MembershipChange: Sendable, Equatable, Codable {
    public var ring: RingID
    public var members: [UInt32]
    public var joined: [UInt32]
    public var left: [UInt32]

    public init(ring: RingID, members: [UInt32], joined: [UInt32], left: [UInt32]) {
        self.ring = ring
        self.members = members
        self.joined = joined
        self.left = left
    }
}

/// What `ClusterMonitor` reports. Every event but `connectionLost` carries the snapshot taken right after it.
public enum ClusterEvent: Sendable, Equatable {
    /// Connected (first time, or again after a loss) — the snapshot is the state at that moment.
    case connected(ClusterSnapshot)
    case membershipChanged(MembershipChange, ClusterSnapshot)
    case quorumChanged(quorate: Bool, ClusterSnapshot)
    /// Expected votes, votes or quorum flags changed.
    case votesChanged(ClusterSnapshot)
    /// corosync.conf's nodelist changed in cmap (after a reload).
    case nodeListChanged(ClusterSnapshot)
    /// corosync went away. The monitor reconnects by itself and reports `connected` when it is back.
    case connectionLost(CorosyncError)

    public var snapshot: ClusterSnapshot? {
        switch self {
        case .connected(let s), .membershipChanged(_, let s), .quorumChanged(_, let s), .votesChanged(let s),
            .nodeListChanged(let s):
            s
        case .connectionLost:
            nil
        }
    }
}

extension AsyncStream<ClusterEvent>.Iterator {
    /// Waits for the monitor's next `connected` event (skipping the `connectionLost` a corosync that is still
    /// starting can cause; the monitor retries by itself) and returns its snapshot; nil when the stream ends.
    public mutating func nextConnection() async -> ClusterSnapshot? {
        while let event = await next() {
            if case .connected(let snapshot) = event { return snapshot }
        }
        return nil
    }
}
