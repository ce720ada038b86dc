import Foundation
import SFHABase
import Testing

@testable import SFHACore

@Suite(.timeLimit(.minutes(2))) struct NodeHealthTests {
    @Test func hysteresisNeedsConsecutiveFailuresAndSuccesses() {
        var state = HealthHysteresis(failuresBeforeUnhealthy: 3, successesBeforeHealthy: 2)
        let bad = ProbeResult.unhealthy("HTTP 500")
        let good = ProbeResult.healthy()
        // Two failures, a success, two failures: never three in a row.
        #expect([bad, bad, good, bad, bad].map { state.record($0) } == [nil, nil, nil, nil, nil])
        #expect(state.status.healthy)
        #expect(state.record(bad) == .becameUnhealthy)
        #expect(state.status.consecutiveFailures == 3)
        // Re-reported every further `failuresBeforeUnhealthy` failures.
        #expect([bad, bad, bad, bad].map { state.record($0) } == [nil, nil, .stillUnhealthy, nil])
        // One success is not enough; a failure in between restarts the count.
        #expect([good, bad, good, good].map { state.record($0) } == [nil, nil, nil, .becameHealthy])
        #expect(state.status.healthy)
        #expect(state.status.probes == 14)
    }

    static func check(_ name: String = "web", interval: Duration = .seconds(1), timeout: Duration = .milliseconds(500), failures: Int = 2, successes: Int = 1) -> HealthCheck {
        HealthCheck(
            name: name, kind: .tcp(host: "10.0.0.1", port: 80), interval: interval, timeout: timeout,
            failuresBeforeUnhealthy: failures, successesBeforeHealthy: successes)
    }

    /// Waits until the monitor has run `count` probes of `check` (false after the deadline).
    static func waitForProbes(_ monitor: HealthMonitor, _ check: String, _ count: Int) async -> Bool {
        await eventually(within: .seconds(20)) { await monitor.status(of: check)?.probes ?? 0 >= count }
    }

    @Test func monitorProbesOnScheduleAndReportsTransitions() async {
        let clock = ManualClock()
        let probe = FakeHealthProbe(results: [.unhealthy("refused"), .unhealthy("refused"), .healthy("connected")])
        let monitor = HealthMonitor(checks: [Self.check()], probe: probe, clock: clock)
        var events = monitor.events.makeAsyncIterator()
        await monitor.start()
        // First probe at once.
        #expect(await Self.waitForProbes(monitor, "web", 1))
        #expect(await clock.waitForSleepers(atLeast: 1))
        // Half an interval: nothing runs.
        clock.advance(by: .milliseconds(500))
        #expect(probe.callCount == 1)
        clock.advance(by: .milliseconds(500))
        #expect(await Self.waitForProbes(monitor, "web", 2))
        let down = await events.next()
        #expect(down?.kind == .becameUnhealthy)
        #expect(down?.result == .unhealthy("refused"))
        #expect(await clock.waitForSleepers(atLeast: 1))
        clock.advance(by: .seconds(1))
        #expect(await Self.waitForProbes(monitor, "web", 3))
        let up = await events.next()
        #expect(up?.kind == .becameHealthy)
        #expect(await monitor.status(of: "web")?.healthy == true)
        await monitor.stop()
        #expect(await events.next() == nil)
    }

    @Test func aProbeThatDoesNotAnswerInTimeIsAFailure() async {
        let clock = ManualClock()
        // Never answers on its own (a real sleep far longer than the test; cancelled by the timeout).
        let probe = FakeHealthProbe { _, _ in
            try? await Task.sleep(for: .seconds(3600))
            return .healthy("too late")
        }
        let monitor = HealthMonitor(checks: [Self.check(timeout: .seconds(2), failures: 1)], probe: probe, clock: clock)
        var events = monitor.events.makeAsyncIterator()
        await monitor.start()
        // The timeout timer sleeps on the manual clock.
        #expect(await clock.waitForSleepers(atLeast: 1))
        clock.advance(by: .seconds(2))
        let event = await events.next()
        #expect(event?.kind == .becameUnhealthy)
        #expect(event?.result.detail.contains("timeout") == true)
        #expect(await monitor.status(of: "web")?.probes == 1)
        await monitor.stop()
    }

    @Test func probeNowRecordsOutsideTheSchedule() async {
        let probe = FakeHealthProbe(results: [.unhealthy("exit 1")])
        let monitor = HealthMonitor(checks: [Self.check(failures: 1)], probe: probe, clock: ManualClock())
        let event = await monitor.probeNow("web")
        #expect(event?.kind == .becameUnhealthy)
        #expect(await monitor.probeNow("nope") == nil)
        #expect(await monitor.statuses.keys.sorted() == ["web"])
    }

    @Test func manualClockWakesSleepersInDeadlineOrderAndHonoursCancellation() async throws {
        let clock = ManualClock()
        let order = FakeEffectLog()
        let late = Task {
            try await clock.sleep(for: .seconds(2))
            order.append("late")
        }
        let early = Task {
            try await clock.sleep(for: .seconds(1))
            order.append("early")
        }
        let cancelled = Task { try await clock.sleep(for: .seconds(1)) }
        #expect(await clock.waitForSleepers(atLeast: 3))
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        clock.advance(by: .seconds(1))
        try await early.value
        #expect(order.all == ["early"])
        clock.advance(by: .seconds(5))
        try await late.value
        #expect(order.all == ["early", "late"])
        #expect(clock.now == ManualClock.Instant(offset: .seconds(6)))
    }
}

@Suite(.timeLimit(.minutes(2))) struct NodePeriodicReannounceTests {
    @Test func heldVIPsAreReannouncedEveryIntervalUntilStopped() async {
        let clock = ManualClock()
        let (reconciler, _, fakes) = NodeFixtures.make(clock: clock)
        _ = await reconciler.apply(["mail"])
        #expect(fakes.announcer.announced == [IPAddress("10.0.0.2")!])
        await reconciler.setPeriodicReannounce(every: .seconds(30))
        #expect(await clock.waitForSleepers(atLeast: 1))
        clock.advance(by: .seconds(30))
        #expect(await eventually(within: .seconds(20)) { fakes.announcer.announced.count == 2 })
        await reconciler.setPeriodicReannounce(every: nil)
        #expect(await eventually(within: .seconds(20)) { clock.sleeperCount == 0 })
        clock.advance(by: .seconds(60))
        #expect(fakes.announcer.announced.count == 2)
    }
}
