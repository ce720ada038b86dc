import SFHABase
import Synchronization

/// A check's current state.
public struct HealthStatus: Sendable, Equatable, CustomStringConvertible {
    public var healthy: Bool
    public var consecutiveFailures: Int
    public var consecutiveSuccesses: Int
    /// Probes run so far.
    public var probes: Int
    public var lastResult: ProbeResult?

    public init(healthy: Bool = true, consecutiveFailures: Int = 0, consecutiveSuccesses: Int = 0, probes: Int = 0, lastResult: ProbeResult? = nil) {
        self.healthy = healthy
        self.consecutiveFailures = consecutiveFailures
        self.consecutiveSuccesses = consecutiveSuccesses
        self.probes = probes
        self.lastResult = lastResult
    }

    public var description: String {
        (healthy ? "healthy" : "unhealthy") + " (\(consecutiveFailures) failures, \(consecutiveSuccesses) successes in a row)"
    }
}

/// A change worth acting on.
public struct HealthEvent: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        /// `failuresBeforeUnhealthy` failures in a row while healthy.
        case becameUnhealthy
        /// Still failing: another `failuresBeforeUnhealthy` failures in a row since the last event (lets the
        /// reconciler judge a restart by the check itself, not by "systemd says active").
        case stillUnhealthy
        /// `successesBeforeHealthy` successes in a row while unhealthy.
        case becameHealthy
    }

    public var check: String
    public var kind: Kind
    public var status: HealthStatus
    public var result: ProbeResult

    public init(check: String, kind: Kind, status: HealthStatus, result: ProbeResult) {
        self.check = check
        self.kind = kind
        self.status = status
        self.result = result
    }

    public var description: String { "\(check): \(kind.rawValue) (\(result))" }
}

/// Hysteresis of one check. Starts healthy (as the original): failures make it unhealthy only after
/// `failuresBeforeUnhealthy` in a row, and it needs `successesBeforeHealthy` in a row to recover.
public struct HealthHysteresis: Sendable, Equatable {
    public let failuresBeforeUnhealthy: Int
    public let successesBeforeHealthy: Int
    public private(set) var status = HealthStatus()

    public init(failuresBeforeUnhealthy: Int, successesBeforeHealthy: Int) {
        self.failuresBeforeUnhealthy = max(failuresBeforeUnhealthy, 1)
        self.successesBeforeHealthy = max(successesBeforeHealthy, 1)
    }

    public init(_ check: HealthCheck) {
        self.init(failuresBeforeUnhealthy: check.failuresBeforeUnhealthy, successesBeforeHealthy: check.successesBeforeHealthy)
    }

    /// Records one probe; returns the event it causes, if any.
    public mutating func record(_ result: ProbeResult) -> HealthEvent.Kind? {
        status.probes += 1
        status.lastResult = result
        if result.healthy {
            status.consecutiveFailures = 0
            status.consecutiveSuccesses += 1
            if !status.healthy && status.consecutiveSuccesses >= successesBeforeHealthy {
                status.healthy = true
                return .becameHealthy
            }
            return nil
        }
        status.consecutiveSuccesses = 0
        status.consecutiveFailures += 1
        if status.healthy {
            guard status.consecutiveFailures >= failuresBeforeUnhealthy else { return nil }
            status.healthy = false
            return .becameUnhealthy
        }
        let beyond = status.consecutiveFailures - failuresBeforeUnhealthy
        return beyond > 0 && beyond % failuresBeforeUnhealthy == 0 ? .stillUnhealthy : nil
    }
}

/// Runs health checks at their interval (first probe at once, then on a fixed schedule from the start: a slow
/// probe skips the slots it overran, probes of one check never overlap), enforces each check's timeout on the
/// injected clock, applies hysteresis and publishes events on `events`.
public actor HealthMonitor {
    public nonisolated let events: AsyncStream<HealthEvent>
    private let continuation: AsyncStream<HealthEvent>.Continuation
    private let checks: [HealthCheck]
    private let probe: any HealthProbe
    private let clock: any Clock<Duration>
    private var hysteresis: [String: HealthHysteresis] = [:]
    private var tasks: [Task<Void, Never>] = []

    public init(checks: [HealthCheck], probe: any HealthProbe, clock: any Clock<Duration> = ContinuousClock()) {
        self.checks = checks
        self.probe = probe
        self.clock = clock
        (events, continuation) = AsyncStream.makeStream(of: HealthEvent.self, bufferingPolicy: .bufferingNewest(1024))
        for check in checks { hysteresis[check.name] = HealthHysteresis(check) }
    }

    /// Starts one task per check (idempotent).
    public func start() {
        guard tasks.isEmpty else { return }
        for check in checks {
            tasks.append(Task { await self.run(check) })
        }
    }

    /// Stops every check and ends `events`.
    public func stop() {
        tasks.forEach { $0.cancel() }
        tasks = []
        continuation.finish()
    }

    public func status(of check: String) -> HealthStatus? { hysteresis[check]?.status }
    public var statuses: [String: HealthStatus] { hysteresis.mapValues(\.status) }

    /// Probes one check now (outside the schedule) and records the result.
    @discardableResult
    public func probeNow(_ name: String) async -> HealthEvent? {
        guard let check = checks.first(where: { $0.name == name }) else { return nil }
        let result = await Self.probe(check, with: probe, anyClock: clock)
        return record(check.name, result)
    }

    private func record(_ name: String, _ result: ProbeResult) -> HealthEvent? {
        guard var state = hysteresis[name] else { return nil }
        let kind = state.record(result)
        hysteresis[name] = state
        guard let kind else { return nil }
        let event = HealthEvent(check: name, kind: kind, status: state.status, result: result)
        continuation.yield(event)
        return event
    }

    private func run(_ check: HealthCheck) async {
        await run(check, clock: clock)
    }

    private func run<C: Clock<Duration>>(_ check: HealthCheck, clock: C) async {
        let origin = clock.now
        let interval = max(check.interval, .milliseconds(1))
        var slot: Int64 = 0
        while !Task.isCancelled {
            let result = await Self.probe(check, with: probe, clock: clock)
            if Task.isCancelled { return }
            _ = record(check.name, result)
            // Next slot on the fixed schedule that is still ahead.
            let elapsed = origin.duration(to: clock.now)
            slot = max(slot + 1, Int64(elapsed / interval) + 1)
            do {
                try await clock.sleep(untilOffset: interval * slot, from: origin)
            } catch {
                return
            }
        }
    }

    static func probe(_ check: HealthCheck, with probe: any HealthProbe, anyClock: any Clock<Duration>) async -> ProbeResult {
        await Self.probe(check, with: probe, clock: anyClock)
    }

    /// The probe, cut off at the check's timeout (on `clock`): a probe that does not answer in time is a failure.
    static func probe<C: Clock<Duration>>(_ check: HealthCheck, with probe: any HealthProbe, clock: C) async -> ProbeResult {
        let gate = ResumeOnce()
        return await withCheckedContinuation { (continuation: CheckedContinuation<ProbeResult, Never>) in
            let work = Task {
                let result = await probe.probe(check.kind, timeout: check.timeout)
                gate.resume(continuation, with: result)
            }
            let timer = Task {
                do {
                    try await clock.sleep(for: check.timeout)
                } catch {
                    return
                }
                gate.resume(continuation, with: .unhealthy("timeout after \(check.timeout.sfhaText)"))
                work.cancel()
            }
            gate.onResume { timer.cancel() }
        }
    }
}

/// Resumes a continuation once, whichever side finishes first, then runs the registered cleanup.
final class ResumeOnce: Sendable {
    private let state = Mutex<(done: Bool, cleanup: (@Sendable () -> Void)?)>((false, nil))

    func resume(_ continuation: CheckedContinuation<ProbeResult, Never>, with result: ProbeResult) {
        let cleanup = state.withLock { state -> (@Sendable () -> Void)?? in
            if state.done { return .none }
            state.done = true
            return .some(state.cleanup)
        }
        guard case .some(let registered) = cleanup else { return }
        continuation.resume(returning: result)
        registered?()
    }

    func onResume(_ cleanup: @escaping @Sendable () -> Void) {
        let alreadyDone = state.withLock { state -> Bool in
            if state.done { return true }
            state.cleanup = cleanup
            return false
        }
        if alreadyDone { cleanup() }
    }
}
