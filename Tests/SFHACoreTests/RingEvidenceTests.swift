import CorosyncKit
import Testing

@testable import SFHACore

/// Readings every 100 ms on a made-up clock: `gather` and `tokens` as corosync's counters would show them.
private struct Readings {
    let origin = ContinuousClock.now
    var evidence = RingEvidence()
    var time: Duration = .zero
    var gather: UInt64 = 3
    var tokens: UInt64 = 100

    func at(_ offset: Duration) -> ContinuousClock.Instant { origin + offset }

    /// One reading 100 ms after the previous one; `gatherDuring` makes the counter move between its two gather reads.
    mutating func read(tokensArrived: Bool = false, gatherDuring: Bool = false) {
        time += .milliseconds(100)
        if tokensArrived { tokens += 1 }
        let before = gather
        if gatherDuring { gather += 1 }
        evidence.observe(TotemSample(
            startedAt: at(time), endedAt: at(time + .milliseconds(1)), gatherBefore: before, tokensReceived: tokens,
            gatherAfter: gather))
    }

    mutating func leaveRing() { gather += 1 }
}

@Suite("ring evidence and the acquisition fence", .timeLimit(.minutes(2)))
struct RingEvidenceTests {
    static let ring = RingID(nodeID: 1, sequence: 0x10)
    static let window: Duration = .milliseconds(700)

    /// A node that reads tokens, anchors its epoch and keeps receiving tokens is proven; the proof runs out
    /// `window` after the last token whatever else happens.
    @Test func proofFollowsTheTokenOfTheAnchoredEpoch() {
        var r = Readings()
        r.read()
        #expect(r.evidence.provenUntil(window: Self.window) == nil, "nothing is proven before an anchor")
        let base = try! #require(r.evidence.anchorBase)
        r.evidence.anchorDelivered(base: base, ring: Self.ring, at: r.at(r.time + .milliseconds(20)))
        #expect(r.evidence.anchor == nil, "an anchor waits for a reading that started after the delivery")
        r.read(tokensArrived: true)
        #expect(r.evidence.anchor?.ring == Self.ring)
        let until = try! #require(r.evidence.provenUntil(window: Self.window))
        // The token arrived after the previous reading started: that is the instant the proof counts from.
        #expect(until == r.at(r.time - .milliseconds(100)) + Self.window)
        for _ in 0..<10 { r.read() }
        #expect(!r.evidence.isProven(at: r.at(r.time), window: Self.window), "no token for a second: no proof")
        r.read(tokensArrived: true)
        #expect(r.evidence.isProven(at: r.at(r.time), window: Self.window), "a token of the same epoch proves again")
    }

    /// The flapping node: its quorum flag stays quorate while corosync sits in gather, but its gather counter
    /// moves, which ends the anchored epoch at once.
    @Test func leavingTheRingEndsTheProof() {
        var r = Readings()
        r.read()
        r.evidence.anchorDelivered(base: r.evidence.anchorBase!, ring: Self.ring, at: r.at(r.time + .milliseconds(10)))
        r.read(tokensArrived: true)
        r.leaveRing()
        r.read(tokensArrived: true)
        #expect(r.evidence.anchor == nil)
        #expect(r.evidence.provenUntil(window: Self.window) == nil)
        // A token of the new ring never proves the old ring's quorum.
        r.read(tokensArrived: true)
        #expect(r.evidence.provenUntil(window: Self.window) == nil)
    }

    /// If the gather counter moved between the send and the confirming reading, the message may have been delivered
    /// in either epoch: no anchor.
    @Test func anchorRefusedWhenTheCounterMovedAcrossTheRoundTrip() {
        var r = Readings()
        r.read()
        let base = r.evidence.anchorBase!
        r.leaveRing()
        r.evidence.anchorDelivered(base: base, ring: Self.ring, at: r.at(r.time + .milliseconds(10)))
        r.read(tokensArrived: true)
        #expect(r.evidence.anchor == nil)
        r.read(gatherDuring: true)
        #expect(r.evidence.anchorBase == nil, "no base while the counter moves during the reading")
    }

    /// Tokens counted in a reading during which the counter moved belong to neither epoch for certain: they only
    /// push the old epoch's upper bound.
    @Test func ambiguousTokensOnlyMoveUpperBounds() {
        var r = Readings()
        r.read()
        r.read(tokensArrived: true)
        let lastCertain = r.at(r.time + .milliseconds(1))
        #expect(r.evidence.current?.lastTokenNotAfter == lastCertain)
        r.read(tokensArrived: true, gatherDuring: true)
        #expect(r.evidence.previous?.lastTokenNotAfter == r.at(r.time + .milliseconds(1)))
        #expect(r.evidence.current?.lastTokenNotBefore == nil)
        #expect(r.evidence.previousRingLeft(learntAt: r.at(r.time - .milliseconds(50))) == r.at(r.time + .milliseconds(1)))
        #expect(r.evidence.previousRingLeft(learntAt: r.at(r.time + .milliseconds(50))) == nil, "needs a reading after learning")
    }

    @Test func counterGoingBackVoidsEverything() {
        var r = Readings()
        r.read()
        r.evidence.anchorDelivered(base: r.evidence.anchorBase!, ring: Self.ring, at: r.at(r.time + .milliseconds(10)))
        r.read(tokensArrived: true)
        #expect(r.evidence.anchor != nil)
        r.tokens = 1
        r.gather = 1
        r.read()
        #expect(r.evidence.anchor == nil && r.evidence.previous == nil)
    }

    // MARK: - Fence

    static let parameters = AcquisitionFence.Parameters(
        tokenTimeout: .milliseconds(1650), holderOverhang: .milliseconds(2100), nodeCount: 3, joinPropagation: .milliseconds(200))

    static func ms(_ value: Int64) -> Timestamp { Timestamp(nanoseconds: value * 1_000_000) }

    static let newRing = RingID(nodeID: 2, sequence: 0x14)

    /// The holder (node 1) is cut off at t=10 s; nodes 2 and 3 left the old ring (token timeout) at 11.65 s and learn
    /// of their new ring at 13.7 s: the fence is when they left + the join propagation + the holder's overhang.
    @Test func fenceAfterACleanLoss() {
        let received = Self.ms(13_800)
        let summary = PreviousRingSummary(ring: Self.newRing, members: [1, 2, 3], formedAgeMilliseconds: 100_000, leftAgeMilliseconds: 2_150)
        let fence = AcquisitionFence.fence(
            members: [2, 3], learntAt: Self.ms(13_700), live: [2, 3],
            summaries: [2: .init(summary, at: received), 3: .init(summary, at: received)], parameters: Self.parameters)
        #expect(fence == Self.ms(11_650 + 200 + 2_100))
    }

    /// Everyone is here with a daemon: no fence, each report says what its node holds.
    @Test func noFenceWhenEveryNodeIsHere() {
        let summary = PreviousRingSummary(ring: Self.newRing, members: [1, 2], formedAgeMilliseconds: 10, leftAgeMilliseconds: 5)
        let fence = AcquisitionFence.fence(
            members: [1, 2, 3], learntAt: Self.ms(1000), live: [1, 2, 3],
            summaries: [1: .init(summary, at: Self.ms(1000))], parameters: Self.parameters)
        #expect(fence == nil)
    }

    /// The flapping case found by outside testing: node 1 comes back from a ring of its own and joins node 3, whose
    /// previous ring held node 2 (the holder, now cut off). When node 3 left that ring bounds node 2's last token;
    /// node 1's singleton ring says nothing about node 2, only when it formed.
    @Test func fenceAfterAMergeWithAJoiner() {
        let fromNode3 = PreviousRingSummary(ring: Self.newRing, members: [2, 3], formedAgeMilliseconds: 3_000, leftAgeMilliseconds: 100)
        let fromNode1 = PreviousRingSummary(ring: Self.newRing, members: [1], formedAgeMilliseconds: 3_900, leftAgeMilliseconds: 100)
        let fence = AcquisitionFence.fence(
            members: [1, 3], learntAt: Self.ms(7_380), live: [1, 3],
            summaries: [3: .init(fromNode3, at: Self.ms(7_400)), 1: .init(fromNode1, at: Self.ms(7_400))],
            parameters: Self.parameters)
        // node 3 left its ring with node 2 at 7.3 s; node 1's ring, without node 2, formed at 3.5 s.
        #expect(fence == Self.ms(7_300 + 200 + 2_100))
    }

    /// A member without a daemon (or without a summary) gives no bound of its own: the ring's formation counts. With
    /// two nodes absent, one may have relayed the token to the other until its token timeout.
    @Test func memberWithoutSummaryFencesFromTheRing() {
        let fence = AcquisitionFence.fence(
            members: [2, 3], learntAt: Self.ms(20_000), live: [2], summaries: [:],
            parameters: AcquisitionFence.Parameters(
                tokenTimeout: .seconds(1), holderOverhang: .seconds(2), nodeCount: 3, joinPropagation: .milliseconds(200)))
        #expect(fence == Self.ms(20_000 + 200 + 1000 + 2000))
    }

    /// Hostile ages cannot make the arithmetic trap.
    @Test func extremeAgesSaturate() {
        let summary = PreviousRingSummary(ring: Self.newRing, members: [1], formedAgeMilliseconds: .max, leftAgeMilliseconds: .max)
        let fence = AcquisitionFence.fence(
            members: [2], learntAt: Timestamp(nanoseconds: .max - 5), live: [2],
            summaries: [2: .init(summary, at: Timestamp(nanoseconds: .min + 5))], parameters: Self.parameters)
        #expect(fence != nil)
    }

    /// A gather attempt that never formed a ring does not hide the ring before it: tokens counted while the counter
    /// moves again (retransmissions, the next ring's recovery) say nothing about it.
    @Test func aGatherAttemptDoesNotDisplaceThePreviousRing() {
        var r = Readings()
        r.read()
        r.read(tokensArrived: true)
        r.leaveRing()
        r.read()
        let left = r.at(r.time + .milliseconds(1))
        r.read()
        r.leaveRing()
        r.read(tokensArrived: true)
        #expect(r.evidence.previous?.leftNotAfter == left, "the ring epoch, not the gather attempt")
        #expect(r.evidence.previousRingLeft(learntAt: r.at(r.time - .milliseconds(50))) == left)
    }
}

/// The totem reader's resume signal: corosync delivers a new ring (and its quorum and process-group membership)
/// while it still synchronises its services and holds every cmap request back; the synchronisation is over only
/// when corosync takes or delivers a process-group message again.
@Suite("the end of corosync's synchronisation", .timeLimit(.minutes(1)))
struct SynchronisationSignalTests {
    @Test func aRingAloneIsNotTheEnd() {
        let proof = MembershipProof()
        let before = proof.synchronisationsFinished
        proof.corosyncDeliveredRing()
        #expect(proof.synchronisationsFinished == before)
    }

    @Test func theFirstMessageAfterARingIsTheEndAndOnlyOnce() {
        let proof = MembershipProof()
        let before = proof.synchronisationsFinished
        proof.corosyncDeliveredRing()
        proof.corosyncTookMessages()
        #expect(proof.synchronisationsFinished == before + 1)
        // Further messages in the same ring are no new end.
        proof.corosyncTookMessages()
        #expect(proof.synchronisationsFinished == before + 1)
    }

    @Test func messagesOutsideAChangeMoveNothing() {
        let proof = MembershipProof()
        let before = proof.synchronisationsFinished
        proof.corosyncTookMessages()
        #expect(proof.synchronisationsFinished == before)
    }

    @Test func corosyncGoneEndsEveryWait() {
        let proof = MembershipProof()
        let before = proof.synchronisationsFinished
        proof.corosyncDeliveredRing()
        proof.corosyncLost()
        #expect(proof.synchronisationsFinished == before + 1)
        // The ring's wait is over: a later message is no second end.
        proof.corosyncTookMessages()
        #expect(proof.synchronisationsFinished == before + 1)
    }
}
