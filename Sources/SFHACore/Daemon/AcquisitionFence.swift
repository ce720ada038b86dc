import CorosyncKit

/// What a daemon tells the others, in a new ring, about the ring it was in just before: enough for them to bound how
/// long any node that is not with them now may have been proven to hold a VIP.
///
/// Ages are measured when the message is handed to corosync, so a receiver gets an instant no earlier than the real
/// one by subtracting the age from the moment it receives the message (the message took time to arrive).
public struct PreviousRingSummary: Sendable, Equatable, Codable {
    /// The ring the sender is in (the summary speaks about the ring before it; it counts only in this ring).
    public var ring: RingID
    /// Node ids of the previous ring.
    public var members: [UInt32]
    /// Since the sender learnt of its previous ring (an instant after that ring formed).
    public var formedAgeMilliseconds: UInt64
    /// Since the sender left its previous ring — entered corosync's gather state — (nil: not known).
    public var leftAgeMilliseconds: UInt64?

    public init(ring: RingID, members: [UInt32], formedAgeMilliseconds: UInt64, leftAgeMilliseconds: UInt64?) {
        self.ring = ring
        self.members = members
        self.formedAgeMilliseconds = formedAgeMilliseconds
        self.leftAgeMilliseconds = leftAgeMilliseconds
    }

    /// The longest age accepted (a week): anything longer is no longer evidence of anything.
    public static let maximumAge: UInt64 = 7 * 24 * 3_600_000
}

/// The same summary on the sender's side, as instants of its clock (turned into ages when sent).
public struct PreviousRing: Sendable, Equatable {
    /// The ring the sender is in now.
    public var currentRing: RingID
    public var members: [UInt32]
    public var learntAt: Timestamp
    public var leftAtMost: Timestamp?

    public init(currentRing: RingID, members: [UInt32], learntAt: Timestamp, leftAtMost: Timestamp?) {
        self.currentRing = currentRing
        self.members = members
        self.learntAt = learntAt
        self.leftAtMost = leftAtMost
    }

    /// The summary as sent at `now`. Ages are rounded down, so the receiver's instants only move later.
    public func summary(at now: Timestamp) -> PreviousRingSummary {
        func age(_ instant: Timestamp) -> UInt64 {
            let nanoseconds = now.nanoseconds.subtractingReportingOverflow(instant.nanoseconds)
            guard !nanoseconds.overflow, nanoseconds.partialValue > 0 else { return 0 }
            return min(UInt64(nanoseconds.partialValue / 1_000_000), PreviousRingSummary.maximumAge)
        }
        return PreviousRingSummary(
            ring: currentRing, members: members, formedAgeMilliseconds: age(learntAt), leftAgeMilliseconds: leftAtMost.map(age))
    }
}

/// When a node of the current ring may take a group that no daemon of this ring is known to hold: once every node
/// that is not here now has lost its VIPs for certain.
///
/// Why it holds (Docs/Daemon.md, "Never two holders"): a node keeps a VIP only while it is proven to be in a
/// quorate ring (`RingEvidence`: a token of that ring within its proof window), and loses it at most
/// `holderOverhang` after its last token there. Any two quorate rings share a node. An absent node's last token of
/// a ring came from the node before it in that ring, which stops relaying the token when it enters corosync's gather
/// state; it does so at the latest when the membership messages of any other member of the new ring reach it
/// (`joinPropagation`) — every member of this ring reports when it left its previous ring. One absent node before
/// another can still pass the token on until its own token timeout. A node that was not in a member's previous ring
/// lost its ring before that ring formed (the member reports when it learnt of it).
public enum AcquisitionFence {
    public struct Parameters: Sendable, Equatable {
        /// corosync's effective token timeout (`runtime.config.totem.token`).
        public var tokenTimeout: Duration
        /// How long after its last token a node may still hold a VIP (`DaemonTimings.holderOverhang`).
        public var holderOverhang: Duration
        /// Nodes in corosync's nodelist.
        public var nodeCount: Int
        /// `DaemonTimings.joinPropagation`.
        public var joinPropagation: Duration

        public init(tokenTimeout: Duration, holderOverhang: Duration, nodeCount: Int, joinPropagation: Duration = DaemonTimings.joinPropagation) {
            self.tokenTimeout = tokenTimeout
            self.holderOverhang = holderOverhang
            self.nodeCount = nodeCount
            self.joinPropagation = joinPropagation
        }
    }

    /// One member's summary and when it was received here.
    public struct Received: Sendable, Equatable {
        public var summary: PreviousRingSummary
        public var at: Timestamp

        public init(_ summary: PreviousRingSummary, at: Timestamp) {
            self.summary = summary
            self.at = at
        }
    }

    /// The fence of the current ring, or nil when every node of the cluster has a live daemon here (each one's own
    /// report then says what it holds).
    ///
    /// - `members`: node ids of the current ring; `learntAt`: when this node learnt of it (after it formed).
    /// - `live`: the members whose daemon has reported in this ring; `summaries`: their previous-ring summaries.
    public static func fence(
        members: Set<UInt32>, learntAt: Timestamp, live: Set<UInt32>, summaries: [UInt32: Received], parameters: Parameters
    ) -> Timestamp? {
        let accounted = live.intersection(members)
        guard accounted.count < parameters.nodeCount else { return nil }
        // Absent nodes that may have passed the token on to another absent node, each until its token timeout.
        let relays = parameters.tokenTimeout * max(0, parameters.nodeCount - accounted.count - 1)
        let slack = parameters.joinPropagation + relays
        // A member that said nothing (no daemon, or no summary) left its previous ring before this one formed.
        var bound: Timestamp? = members.contains(where: { summaries[$0] == nil }) ? learntAt + slack : nil
        for member in members {
            guard let received = summaries[member] else { continue }
            let summary = received.summary
            var left = received.at - .milliseconds(Int64(clamping: summary.formedAgeMilliseconds))
            if summary.members.contains(where: { !accounted.contains($0) }) {
                left = max(left, summary.leftAgeMilliseconds.map { received.at - .milliseconds(Int64(clamping: $0)) } ?? learntAt)
            }
            bound = max(bound ?? left + slack, left + slack)
        }
        return bound.map { $0 + parameters.holderOverhang }
    }
}
