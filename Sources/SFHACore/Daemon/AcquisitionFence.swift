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
    /// Since the sender's last token in its previous ring (nil: not known).
    public var lastTokenAgeMilliseconds: UInt64?

    public init(ring: RingID, members: [UInt32], formedAgeMilliseconds: UInt64, lastTokenAgeMilliseconds: UInt64?) {
        self.ring = ring
        self.members = members
        self.formedAgeMilliseconds = formedAgeMilliseconds
        self.lastTokenAgeMilliseconds = lastTokenAgeMilliseconds
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
    public var lastTokenAtMost: Timestamp?

    public init(currentRing: RingID, members: [UInt32], learntAt: Timestamp, lastTokenAtMost: Timestamp?) {
        self.currentRing = currentRing
        self.members = members
        self.learntAt = learntAt
        self.lastTokenAtMost = lastTokenAtMost
    }

    /// The summary as sent at `now`. Ages are rounded down, so the receiver's instants only move later.
    public func summary(at now: Timestamp) -> PreviousRingSummary {
        func age(_ instant: Timestamp) -> UInt64 {
            let nanoseconds = now.nanoseconds.subtractingReportingOverflow(instant.nanoseconds)
            guard !nanoseconds.overflow, nanoseconds.partialValue > 0 else { return 0 }
            return min(UInt64(nanoseconds.partialValue / 1_000_000), PreviousRingSummary.maximumAge)
        }
        return PreviousRingSummary(
            ring: currentRing, members: members, formedAgeMilliseconds: age(learntAt),
            lastTokenAgeMilliseconds: lastTokenAtMost.map(age))
    }
}

/// When a node of the current ring may take a group that no daemon of this ring is known to hold: once every node
/// that is not here now has lost its VIPs for certain.
///
/// Why it holds (Docs/Daemon.md, "Never two holders"): a node keeps a VIP only while it is proven to be in a
/// quorate ring (`RingEvidence`), and loses it at most `holderOverhang` after its last token there. Any two quorate
/// rings share a node; that node was in the absent node's last quorate ring and is in ours, and its summary bounds
/// when that ring's last token can have been: its own last token there plus one token timeout per absent node that
/// may have relayed the token on (corosync retransmits a lost token only until its token timeout), or, when the
/// absent node was not in its previous ring, the moment it learnt of that ring (the absent node's ring ended before).
public enum AcquisitionFence {
    public struct Parameters: Sendable, Equatable {
        /// corosync's effective token timeout (`runtime.config.totem.token`).
        public var tokenTimeout: Duration
        /// How long after its last token a node may still hold a VIP: the proof window, the VIP lease and the
        /// kernel's expiry granularity (`DaemonTimings.holderOverhang`).
        public var holderOverhang: Duration
        /// Nodes in corosync's nodelist.
        public var nodeCount: Int

        public init(tokenTimeout: Duration, holderOverhang: Duration, nodeCount: Int) {
            self.tokenTimeout = tokenTimeout
            self.holderOverhang = holderOverhang
            self.nodeCount = nodeCount
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
        let absentCount = max(1, parameters.nodeCount - accounted.count)
        let token = parameters.tokenTimeout
        // A member that said nothing (no daemon, or no summary) left its previous ring before this one formed.
        var bound: Timestamp? = members.contains(where: { summaries[$0] == nil }) ? learntAt + token * absentCount : nil
        for member in members {
            guard let received = summaries[member] else { continue }
            let summary = received.summary
            let formed = received.at - .milliseconds(Int64(clamping: summary.formedAgeMilliseconds))
            var memberBound = formed + token * absentCount
            let absentThere = summary.members.filter { !accounted.contains($0) }.count
            if absentThere > 0 {
                let lastToken = summary.lastTokenAgeMilliseconds.map { received.at - .milliseconds(Int64(clamping: $0)) } ?? learntAt
                memberBound = max(memberBound, lastToken + token * absentThere)
            }
            bound = max(bound ?? memberBound, memberBound)
        }
        return bound.map { $0 + parameters.holderOverhang }
    }
}
