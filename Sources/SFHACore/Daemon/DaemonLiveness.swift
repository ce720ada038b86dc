import CSFHAShim
import Foundation
import SFHABase
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Tells systemd about the daemon's state (sd_notify protocol: `KEY=VALUE` lines in one datagram).
public protocol ServiceNotifier: Sendable {
    func notify(_ fields: [String: String])
}

/// The real notifier: a datagram to `$NOTIFY_SOCKET`; nothing when the variable is unset (not started by systemd).
public struct SystemdNotifier: ServiceNotifier {
    public let socketPath: String?
    /// systemd's watchdog interval (`$WATCHDOG_USEC`, for this process only), nil when the watchdog is off.
    public let watchdogInterval: Duration?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        let forUs = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        watchdogInterval = environment["WATCHDOG_USEC"].flatMap(Int64.init).flatMap { $0 > 0 && forUs ? .microseconds($0) : nil }
    }

    public func notify(_ fields: [String: String]) {
        guard let socketPath else { return }
        let text = Self.message(fields)
        _ = text.withCString { sfha_unix_datagram_send(socketPath, $0, strlen($0)) }
    }

    /// Fields in a stable order (READY/RELOADING/STOPPING first, as systemd reads the datagram as a whole anyway).
    static func message(_ fields: [String: String]) -> String {
        let first = ["READY", "RELOADING", "STOPPING", "MONOTONIC_USEC"]
        let ordered = first.filter { fields[$0] != nil } + fields.keys.filter { !first.contains($0) }.sorted()
        return ordered.map { "\($0)=\(fields[$0]!.replacingOccurrences(of: "\n", with: " "))" }.joined(separator: "\n") + "\n"
    }

    /// CLOCK_MONOTONIC in microseconds (RELOADING=1 needs it with systemd ≥ 253's Type=notify-reload).
    public static func monotonicMicroseconds() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return String(Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000)
    }
}

/// A notifier that records what it was told (tests).
public final class RecordingNotifier: ServiceNotifier {
    private let recorded = Mutex<[[String: String]]>([])
    public init() {}
    public func notify(_ fields: [String: String]) { recorded.withLock { $0.append(fields) } }
    public var messages: [[String: String]] { recorded.withLock { $0 } }
}

/// The core loop's proof of life. The daemon's lease loop calls `beat()` through the runtime actor every 250 ms;
/// a thread outside Swift's concurrency pool (`StallWatchdog`) watches the beats, and systemd's watchdog is fed
/// from `beat()` only — so when the actor or the pool stalls, both notice.
public final class DaemonLiveness: Sendable {
    private struct State {
        var lastBeat: ContinuousClock.Instant
        var lastWatchdogNotification: ContinuousClock.Instant?
        var stopped = false
        var vips: [VirtualIP] = []
    }

    private let state: Mutex<State>
    private let notifier: any ServiceNotifier
    private let watchdogInterval: Duration?

    public init(notifier: any ServiceNotifier = RecordingNotifier(), watchdogInterval: Duration? = nil) {
        self.notifier = notifier
        self.watchdogInterval = watchdogInterval
        state = Mutex(State(lastBeat: .now))
    }

    public func beat() {
        let now = ContinuousClock.now
        let notifyWatchdog = state.withLock { state -> Bool in
            state.lastBeat = now
            guard let interval = watchdogInterval, !state.stopped else { return false }
            // systemd recommends notifying at half the interval.
            if let last = state.lastWatchdogNotification, now - last < interval / 2 { return false }
            state.lastWatchdogNotification = now
            return true
        }
        if notifyWatchdog { notifier.notify(["WATCHDOG": "1"]) }
    }

    /// Graceful stop: the stall watchdog stands down (the shutdown itself releases the VIPs).
    public func stop() { state.withLock { $0.stopped = true } }

    /// The VIPs of the committed document: what the stall watchdog removes.
    public func setVIPs(_ vips: [VirtualIP]) { state.withLock { $0.vips = vips } }

    /// Time since the last beat, or nil once stopped.
    public func silence(at now: ContinuousClock.Instant = .now) -> Duration? {
        state.withLock { $0.stopped ? nil : now - $0.lastBeat }
    }

    public var vips: [VirtualIP] { state.withLock { $0.vips } }
}

/// The independent path that keeps a stalled daemon from holding VIPs: when the core loop has not beaten for
/// `bound`, it removes every configured VIP (through its own netlink socket, from its own thread) and ends the
/// process with status 70 so that systemd restarts it. The VIP leases would expire by themselves a moment later;
/// this makes it explicit and immediate, and stops a half-alive daemon from acting.
public final class StallWatchdog: Sendable {
    /// Safety does not wait for it: a core loop that does not beat stops refreshing the VIP leases after
    /// `DaemonTimings.coreLoopLimit`, and the kernel removes the VIPs. It only ends a daemon that is really stuck,
    /// before systemd's `WatchdogSec` would; a core loop starved for a moment must not end a healthy daemon (the lab
    /// saw 1.6 s on a 2-core machine with two CPU-bound processes while real-time corosync re-formed its ring under
    /// packet loss, and the former 1.5 s bound ended sfhad there).
    public static let defaultBound: Duration = .seconds(4)
    public static let exitStatus: Int32 = 70

    private let liveness: DaemonLiveness
    private let bound: Duration
    private let release: @Sendable ([VirtualIP]) -> [String]
    private let terminate: @Sendable (String) -> Void
    private let running = Mutex(false)

    /// `release` removes the VIPs and returns what it did (log lines); `terminate` logs its message and exits.
    public init(
        liveness: DaemonLiveness, bound: Duration = StallWatchdog.defaultBound,
        release: @escaping @Sendable ([VirtualIP]) -> [String], terminate: @escaping @Sendable (String) -> Void
    ) {
        self.liveness = liveness
        self.bound = bound
        self.release = release
        self.terminate = terminate
    }

    /// Checks now: fires (release, then terminate) when the silence exceeds the bound. Returns whether it fired.
    @discardableResult
    public func check(at now: ContinuousClock.Instant = .now) -> Bool {
        guard let silence = liveness.silence(at: now), silence > bound else { return false }
        let done = release(liveness.vips)
        terminate(
            "sfhad's core loop has not run for \(Int(silence.milliseconds)) ms (bound \(Int(bound.milliseconds)) ms): "
                + "released \(done.isEmpty ? "no VIP" : done.joined(separator: ", ")); exiting so that it is restarted")
        return true
    }

    /// Starts the watching thread (checks every tenth of the bound).
    public func start() {
        let alreadyRunning = running.withLock { value in
            defer { value = true }
            return value
        }
        guard !alreadyRunning else { return }
        let period = max(bound / 10, .milliseconds(10))
        Thread.detachNewThread { [self] in
            Thread.current.name = "sfha-stall-watchdog"
            while true {
                Thread.sleep(forTimeInterval: period.milliseconds / 1000)
                if check() { return }
            }
        }
    }

    /// The real release: each VIP removed over a fresh netlink socket (never another address), in `namespace`.
    public static func removeWithNetlink(_ vips: [VirtualIP], namespace: NetworkNamespace = .current) -> [String] {
        let addresses = NetlinkAddressController(namespace: namespace)
        return vips.compactMap { vip in
            switch addresses.removeBlocking(vip) {
            case .success(.removed): "\(vip.cidr) removed from \(vip.interface)"
            case .success: nil
            case .failure(let error): "\(vip.cidr): \(error.message)"
            }
        }
    }
}
