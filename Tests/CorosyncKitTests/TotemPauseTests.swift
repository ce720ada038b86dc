@testable import CorosyncKit
import Testing

/// When the totem reader goes quiet: after a reading that shows this node entering corosync's gather state
/// (a membership change begins; corosync will hold back cmap requests while it synchronises the new ring).
@Suite("the totem reader's pause during a membership change", .timeLimit(.minutes(1))) struct TotemPauseTests {
    static func sample(before: UInt64, after: UInt64, tokens: UInt64 = 10) -> TotemSample {
        let now = ContinuousClock.now
        return TotemSample(startedAt: now, endedAt: now, gatherBefore: before, tokensReceived: tokens, gatherAfter: after)
    }

    @Test func aSteadyRingIsNoChange() {
        #expect(!TotemActivityMonitor.enteredGather(Self.sample(before: 3, after: 3, tokens: 20), since: Self.sample(before: 3, after: 3)))
    }

    @Test func gatherSinceThePreviousReadingIsAChange() {
        #expect(TotemActivityMonitor.enteredGather(Self.sample(before: 4, after: 4), since: Self.sample(before: 3, after: 3)))
    }

    @Test func gatherDuringTheReadingIsAChange() {
        #expect(TotemActivityMonitor.enteredGather(Self.sample(before: 3, after: 4), since: Self.sample(before: 3, after: 3)))
    }

    @Test func countersStartingAgainAreAChange() {
        // corosync restarted: its counters begin again from zero.
        #expect(TotemActivityMonitor.enteredGather(Self.sample(before: 0, after: 0), since: Self.sample(before: 7, after: 7)))
    }

    @Test func theWithdrawalBoundsAreOrdered() {
        // The watchdog looks often enough to withdraw a held-back reading soon after the bound, and the first pause
        // after a withdrawal is no shorter than the bound itself.
        #expect(TotemActivityMonitor.watchdogCheck < TotemActivityMonitor.withdrawAfter)
        #expect(TotemActivityMonitor.firstBackoff >= TotemActivityMonitor.withdrawAfter)
    }
}
