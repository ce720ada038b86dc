import CorosyncKit

/// What this node can prove about its place in corosync's ring, from corosync's own counters (`TotemSample`s) and
/// the process group's total order. Pure: the daemon feeds it; tests drive it with made-up readings.
///
/// - **Epochs.** corosync enters its gather state whenever this node leaves a ring, so every value of the gather
///   counter names one stretch of at most one ring. A token counted between two readings whose gather counter did
///   not move belongs to that epoch's ring; a token counted across a change of the counter belongs to neither for
///   certain (it only moves the old epoch's upper bound).
/// - **Anchor.** corosync's notifications say which ring is quorate, but not which epoch that ring is. The daemon
///   ties them together with one of its own messages: it reads the gather counter, sends, sees the message
///   delivered in ring R (the process group says in which ring, in order), and reads the counter again. If the
///   counter did not move across the round trip, the epoch *is* ring R. Without an anchor nothing is proven.
/// - **Proof.** This node is proven to be in its quorate ring until `window` after the earliest instant its latest
///   token may have arrived, while the anchored epoch is still the current one. A node that is cut off, or stuck in
///   corosync's membership protocol (where its quorum flag keeps the old value for seconds), stops receiving tokens,
///   so its proof runs out `window` after the last token whatever corosync's notifications say.
public struct RingEvidence: Sendable, Equatable {
    public typealias Instant = ContinuousClock.Instant

    /// One value of the gather counter and what is known of the tokens received under it.
    public struct Epoch: Sendable, Equatable {
        public var gather: UInt64
        /// The latest token of this epoch arrived at or after this instant (nil: none attributed for certain).
        public var lastTokenNotBefore: Instant?
        /// Every token of this epoch arrived at or before this instant (nil: none seen).
        public var lastTokenNotAfter: Instant?
        /// This node had left the epoch's ring (entered gather) by this instant (nil: still in it).
        public var leftNotAfter: Instant?

        public init(gather: UInt64, lastTokenNotBefore: Instant? = nil, lastTokenNotAfter: Instant? = nil, leftNotAfter: Instant? = nil) {
            self.gather = gather
            self.lastTokenNotBefore = lastTokenNotBefore
            self.lastTokenNotAfter = lastTokenNotAfter
            self.leftNotAfter = leftNotAfter
        }
    }

    /// An epoch proven to be a quorate ring.
    public struct Anchor: Sendable, Equatable {
        public var gather: UInt64
        public var ring: RingID
    }

    private struct PendingAnchor: Sendable, Equatable {
        var base: UInt64
        var ring: RingID
        var deliveredAt: Instant
    }

    /// The latest reading.
    public private(set) var latest: TotemSample?
    /// The epoch of the latest reading.
    public private(set) var current: Epoch?
    /// The most recent earlier epoch in which this node was in a ring (tokens attributed to it for certain): the ring
    /// it was in before the current one.
    public private(set) var previous: Epoch?
    public private(set) var anchor: Anchor?
    private var pending: PendingAnchor?

    public init() {}

    /// A new reading of corosync's counters.
    public mutating func observe(_ sample: TotemSample) {
        defer {
            latest = sample
            confirmPendingAnchor(with: sample)
        }
        guard let last = latest, var epoch = current else {
            current = Epoch(gather: sample.gatherAfter)
            return
        }
        if sample.gatherBefore < last.gatherAfter || sample.tokensReceived < last.tokensReceived {
            // The counters went back: corosync restarted. Nothing read before says anything about the new process.
            corosyncUnavailable()
            current = Epoch(gather: sample.gatherAfter)
            return
        }
        let tokensArrived = sample.tokensReceived > last.tokensReceived
        // The tokens counted now arrived between the two token reads, which lie between `last`'s first gather read
        // and this sample's last one: they belong to one epoch for certain only if the counter did not move over
        // that whole stretch.
        if last.gatherBefore == sample.gatherAfter {
            if tokensArrived {
                epoch.lastTokenNotBefore = last.startedAt
                epoch.lastTokenNotAfter = sample.endedAt
            }
            current = epoch
            return
        }
        if epoch.gather == sample.gatherAfter {
            // The counter moved while `last` was read, not since: the tokens may be the old epoch's last ones or
            // the current epoch's first ones. Upper bounds move; nothing is proven by them.
            if tokensArrived {
                previous?.lastTokenNotAfter = sample.endedAt
                epoch.lastTokenNotAfter = sample.endedAt
            }
            current = epoch
            return
        }
        // The counter moved since `last`: this node left the current epoch's ring. Tokens counted now may still be
        // that ring's last ones — if it was a ring: an epoch in which no token was ever attributed for certain was
        // only a gather attempt, and what arrives then says nothing about the ring before it.
        let wasRing = epoch.lastTokenNotBefore != nil
        if tokensArrived && wasRing { epoch.lastTokenNotAfter = sample.endedAt }
        epoch.leftNotAfter = sample.endedAt
        if wasRing { previous = epoch }
        current = Epoch(gather: sample.gatherAfter)
        if let anchor, anchor.gather != sample.gatherAfter { self.anchor = nil }
    }

    /// corosync could not be read: nothing is proven, and every earlier reading is void.
    public mutating func corosyncUnavailable() {
        latest = nil
        current = nil
        previous = nil
        anchor = nil
        pending = nil
    }

    /// The gather counter an anchor message sent now is based on: that of the latest reading, provided the counter
    /// did not move during it. nil: no anchor can be started now.
    public var anchorBase: UInt64? {
        guard let latest, latest.gatherBefore == latest.gatherAfter else { return nil }
        return latest.gatherAfter
    }

    /// An anchor message sent on `base` was delivered in `ring`, which corosync reports quorate, at `deliveredAt`
    /// (when the daemon processed the delivery). It anchors once a reading that started afterwards shows the same
    /// gather counter.
    public mutating func anchorDelivered(base: UInt64, ring: RingID, at deliveredAt: Instant) {
        pending = PendingAnchor(base: base, ring: ring, deliveredAt: deliveredAt)
        if let latest { confirmPendingAnchor(with: latest) }
    }

    /// The anchored ring is no longer quorate (or corosync said something that voids it).
    public mutating func dropAnchor() {
        anchor = nil
        pending = nil
    }

    private mutating func confirmPendingAnchor(with sample: TotemSample) {
        guard let candidate = pending, sample.startedAt > candidate.deliveredAt else { return }
        pending = nil
        // No gather between the reading before the send and this one: the delivery happened in epoch `base`.
        guard sample.gatherAfter == candidate.base else { return }
        anchor = Anchor(gather: candidate.base, ring: candidate.ring)
    }

    /// Whether an anchor for `ring` is being confirmed or is in place.
    public func isAnchoring(_ ring: RingID) -> Bool { anchor?.ring == ring || pending?.ring == ring }

    /// Until when this node is proven to be in its quorate ring (nil: not proven).
    public func provenUntil(window: Duration) -> Instant? {
        guard let anchor, let current, anchor.gather == current.gather, let token = current.lastTokenNotBefore else { return nil }
        return token + window
    }

    public func isProven(at now: Instant, window: Duration) -> Bool {
        provenUntil(window: window).map { now < $0 } ?? false
    }

    /// An upper bound of the instant this node left the ring it was in before the current epoch (it entered
    /// corosync's gather state: from then on it relays none of that ring's tokens) — valid only from a reading that
    /// started after this node learnt of its current ring.
    public func previousRingLeft(learntAt: Instant) -> Instant? {
        guard let latest, latest.startedAt > learntAt else { return nil }
        return previous?.leftNotAfter
    }
}
