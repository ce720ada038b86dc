import Glibc
import Synchronization
internal import CSFHAShim

/// One reading of corosync's totem counters: how many times this node has entered the membership protocol's
/// gather state (it does so whenever it leaves a ring), and how many ring tokens it has received.
///
/// The gather counter is read before and after the token counter, so a reading says whether the node left its ring
/// while the token counter was being read.
public struct TotemSample: Sendable, Equatable {
    /// Just before the first read.
    public var startedAt: ContinuousClock.Instant
    /// Just after the last read.
    public var endedAt: ContinuousClock.Instant
    public var gatherBefore: UInt64
    public var tokensReceived: UInt64
    public var gatherAfter: UInt64

    public init(
        startedAt: ContinuousClock.Instant, endedAt: ContinuousClock.Instant, gatherBefore: UInt64, tokensReceived: UInt64,
        gatherAfter: UInt64
    ) {
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.gatherBefore = gatherBefore
        self.tokensReceived = tokensReceived
        self.gatherAfter = gatherAfter
    }
}

/// What `TotemActivityMonitor` reports.
public enum TotemActivity: Sendable, Equatable {
    case sample(TotemSample)
    /// corosync cannot be read (not running, restarting): every earlier reading is void.
    case unavailable(CorosyncError)
}

/// Reads corosync's live totem counters (`stats.srp.gather_entered`, `stats.srp.orf_token_rx`) at a fixed interval
/// on a thread of its own, and hands each reading to `observe`.
///
/// corosync's client libraries report a ring change only once the new ring has formed, and keep the old ring's
/// quorate flag meanwhile — on a node cut off mid-way through a membership change that lasts seconds. These counters
/// move as the ring works (a token every few hundred milliseconds at rest) and stop when it does not, which is what
/// proves that this node is still in its ring. Reading them costs corosync a local IPC request, no cluster traffic.
///
/// The thread asks for real-time scheduling (like corosync itself) so that readings stay on time while other
/// processes keep the CPUs busy; without the privilege it runs at normal priority and `realTime` says so.
public final class TotemActivityMonitor: Sendable {
    /// The real-time priority of the reading thread: above every normal process, far below corosync's own.
    public static let realTimePriority: Int32 = 10

    private struct State {
        var running = false
        var stopped = false
        var realTime: Bool?
    }

    private let endpoint: CorosyncEndpoint
    private let interval: Duration
    private let observe: @Sendable (TotemActivity) -> Void
    private let state = Mutex(State())

    public init(endpoint: CorosyncEndpoint = .local, interval: Duration, observe: @escaping @Sendable (TotemActivity) -> Void) {
        self.endpoint = endpoint
        self.interval = interval
        self.observe = observe
    }

    /// Whether the reading thread got real-time scheduling (nil until it started).
    public var realTime: Bool? { state.withLock { $0.realTime } }

    /// Starts the reading thread (once).
    public func start() {
        let first = state.withLock { state -> Bool in
            defer { state.running = true }
            return !state.running
        }
        guard first else { return }
        // A plain pthread (CorosyncKit does not link Foundation): the closure travels as an unmanaged box.
        let box = Unmanaged.passRetained(ThreadBody { [self] in run() })
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { context in
            let body = Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue()
            _ = sfha_set_thread_name("sfha-totem")
            body.run()
            return nil
        }, box.toOpaque())
        if rc == 0 {
            pthread_detach(thread)
        } else {
            box.release()
            observe(.unavailable(CorosyncError(code: .library, function: "pthread_create", subject: "totem monitor")))
        }
    }

    /// Stops the reading thread after its current reading.
    public func stop() { state.withLock { $0.stopped = true } }

    private var isStopped: Bool { state.withLock { $0.stopped } }

    private func run() {
        var parameters = sched_param()
        parameters.sched_priority = Self.realTimePriority
        let gotRealTime = pthread_setschedparam(pthread_self(), SCHED_FIFO, &parameters) == 0
        state.withLock { $0.realTime = gotRealTime }
        let clock = ContinuousClock()
        var connection: CMap?
        var next = clock.now
        while !isStopped {
            do throws(CorosyncError) {
                let stats: CMap
                if let connection {
                    stats = connection
                } else {
                    stats = try CMap(endpoint: endpoint, map: .stats)
                    connection = stats
                }
                observe(.sample(try Self.read(stats, clock: clock)))
            } catch {
                connection?.close()
                connection = nil
                observe(.unavailable(error))
            }
            next = max(next + interval, clock.now)
            let pause = next - clock.now
            if pause > .zero { Self.sleep(pause) }
        }
        connection?.close()
    }

    private static func read(_ stats: CMap, clock: ContinuousClock) throws(CorosyncError) -> TotemSample {
        let startedAt = clock.now
        let gatherBefore = try counter(stats, "stats.srp.gather_entered")
        let tokens = try counter(stats, "stats.srp.orf_token_rx")
        let gatherAfter = try counter(stats, "stats.srp.gather_entered")
        return TotemSample(
            startedAt: startedAt, endedAt: clock.now, gatherBefore: gatherBefore, tokensReceived: tokens, gatherAfter: gatherAfter)
    }

    private static func counter(_ stats: CMap, _ key: String) throws(CorosyncError) -> UInt64 {
        guard let value = try stats.unsignedNow(key) else { throw CorosyncError(code: .notExist, function: "cmap_get", subject: key) }
        return value
    }

    private static func sleep(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}

private final class ThreadBody: Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}
