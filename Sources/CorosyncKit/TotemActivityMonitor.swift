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
///
/// **Quiet while a membership change is synchronised.** While corosync synchronises its services after forming a
/// ring, it holds back every cmap request, and its main loop (real-time, level-triggered) spins on a connection
/// whose request waits: a reading sent then keeps corosync busy on a CPU until the synchronisation ends (libqb's
/// `qb_ipcs_dispatch_connection_request` returns without reading while flow control is on). On a small machine
/// that starves whatever carries corosync's packets (wireguard-go, another node's corosync in the lab) and the
/// synchronisation may never end. So with `pauseAfterGather`, once a reading shows that this node entered the gather
/// state since the one before, no reading is sent until `resumeSignal` changes (the owner bumps it when corosync has
/// delivered the new ring) or the pause runs out. A reading during the change would prove nothing anyway: the ring
/// it would show is not formed yet.
public final class TotemActivityMonitor: Sendable {
    /// The real-time priority of the reading thread: above every normal process, far below corosync's own.
    public static let realTimePriority: Int32 = 10

    private struct State {
        var running = false
        var stopped = false
        var realTime: Bool?
        /// The current reading thread; a thread whose number is not this one was abandoned and exits.
        var generation: UInt64 = 0
        /// A reading thread's reading in flight: when it started, on which connection, the resume signal then. It
        /// was withdrawn when its generation is no longer the current one.
        var reading: (generation: UInt64, startedAt: ContinuousClock.Instant, connection: CMap, signal: UInt64)?
        /// The pause before the next connection after a withdrawal (doubles while readings keep being withdrawn).
        var backoff = TotemActivityMonitor.firstBackoff
    }

    /// A reading that corosync has not answered after this long is held back (corosync is synchronising a membership
    /// change): the watchdog withdraws it. An answer normally takes well under a millisecond (corosync and this
    /// thread run at real-time priority); every millisecond a held-back reading waits is a millisecond every CPU may
    /// spend spinning in corosync, so the bound is tight. A ring change that follows the previous reading closely
    /// (a join's ring forms in tens of milliseconds) can still catch one reading.
    static let withdrawAfter: Duration = .milliseconds(30)
    /// How often the watchdog looks at the reading in flight.
    static let watchdogCheck: Duration = .milliseconds(10)
    /// After a withdrawn reading, the next connection waits at least this long (doubling while readings keep being
    /// withdrawn, up to `pauseAfterGather`), unless corosync delivers a new ring first.
    static let firstBackoff: Duration = .milliseconds(200)

    private let endpoint: CorosyncEndpoint
    private let interval: Duration
    private let pauseAfterGather: Duration?
    private let resumeSignal: @Sendable () -> UInt64
    private let observe: @Sendable (TotemActivity) -> Void
    private let state = Mutex(State())

    /// `pauseAfterGather`: the longest pause after a reading that saw this node enter the gather state (nil: never
    /// pause, no watchdog); `resumeSignal`: a counter the owner increments when a pause may end (a new ring was
    /// delivered).
    public init(
        endpoint: CorosyncEndpoint = .local, interval: Duration, pauseAfterGather: Duration? = nil,
        resumeSignal: @escaping @Sendable () -> UInt64 = { 0 }, observe: @escaping @Sendable (TotemActivity) -> Void
    ) {
        self.endpoint = endpoint
        self.interval = interval
        self.pauseAfterGather = pauseAfterGather
        self.resumeSignal = resumeSignal
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
        guard spawnReader(generation: 0, resumingAfter: nil) else { return }
        if pauseAfterGather != nil {
            _ = spawn { [self] in watch() }
        }
    }

    /// Starts a reading thread; a thread that cannot be started is reported as corosync's counters unavailable.
    private func spawnReader(generation: UInt64, resumingAfter withdrawal: (signal: UInt64, backoff: Duration)?) -> Bool {
        let started = spawn { [self] in read(generation: generation, resumingAfter: withdrawal) }
        if !started { observe(.unavailable(CorosyncError(code: .library, function: "pthread_create", subject: "totem monitor"))) }
        return started
    }

    /// Stops the reading thread after its current reading.
    public func stop() { state.withLock { $0.stopped = true } }

    private var isStopped: Bool { state.withLock { $0.stopped } }

    /// Starts a detached plain pthread (CorosyncKit does not link Foundation): the closure travels as an unmanaged box.
    private func spawn(_ body: @escaping @Sendable () -> Void) -> Bool {
        let box = Unmanaged.passRetained(ThreadBody(body))
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { context in
            let body = Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue()
            body.run()
            return nil
        }, box.toOpaque())
        guard rc == 0 else {
            box.release()
            return false
        }
        pthread_detach(thread)
        return true
    }

    /// The watchdog runs at corosync's own real-time priority: when corosync spins on a held-back request it takes
    /// every CPU from lower priorities, and only a thread of its level gets a turn (round robin) to withdraw it.
    /// Withdrawing abandons the stuck reading thread (libqb keeps the call waiting up to 2 s before it notices) and
    /// starts a fresh one, which reconnects after the backoff or as soon as corosync delivers a new ring.
    private func watch() {
        _ = sfha_set_thread_name("sfha-totem-wd")
        var parameters = sched_param()
        parameters.sched_priority = sched_get_priority_max(SCHED_RR)
        _ = pthread_setschedparam(pthread_self(), SCHED_RR, &parameters)
        let clock = ContinuousClock()
        while !isStopped {
            Self.sleep(Self.watchdogCheck)
            let replacement = state.withLock { state -> (generation: UInt64, signal: UInt64, backoff: Duration)? in
                guard let reading = state.reading, reading.generation == state.generation,
                    clock.now - reading.startedAt > Self.withdrawAfter
                else { return nil }
                // Under the lock: the reading thread cannot close this connection meanwhile.
                reading.connection.withdrawPendingRequest()
                state.generation &+= 1
                let backoff = state.backoff
                if let limit = pauseAfterGather { state.backoff = min(state.backoff * 2, limit) }
                return (state.generation, reading.signal, backoff)
            }
            if let replacement {
                _ = spawnReader(generation: replacement.generation, resumingAfter: (replacement.signal, replacement.backoff))
            }
        }
    }

    private func isCurrent(_ generation: UInt64) -> Bool { state.withLock { !$0.stopped && $0.generation == generation } }

    /// A reading thread: reads until stopped or abandoned. `resumingAfter`: this thread replaces one whose reading
    /// was withdrawn (the resume signal when that reading began, the pause to keep at most).
    private func read(generation: UInt64, resumingAfter withdrawal: (signal: UInt64, backoff: Duration)?) {
        _ = sfha_set_thread_name("sfha-totem")
        var parameters = sched_param()
        parameters.sched_priority = Self.realTimePriority
        let gotRealTime = pthread_setschedparam(pthread_self(), SCHED_FIFO, &parameters) == 0
        state.withLock { $0.realTime = gotRealTime }
        let clock = ContinuousClock()
        if let withdrawal, let limit = pauseAfterGather {
            waitForResume(from: withdrawal.signal, atMost: min(withdrawal.backoff, limit), clock: clock)
        }
        var connection: CMap?
        var next = clock.now
        // The previous reading and the resume signal when it started.
        var previous: (sample: TotemSample, signal: UInt64)?
        while isCurrent(generation) {
            let signal = resumeSignal()
            var reading: TotemSample?
            do throws(CorosyncError) {
                let stats: CMap
                if let connection {
                    stats = connection
                } else {
                    stats = try CMap(endpoint: endpoint, map: .stats)
                    connection = stats
                }
                state.withLock { $0.reading = (generation, clock.now, stats, signal) }
                let result = Result { () throws(CorosyncError) in try Self.read(stats, clock: clock) }
                let abandoned = state.withLock { state -> Bool in
                    if state.reading?.generation == generation { state.reading = nil }
                    return state.generation != generation
                }
                if abandoned {
                    // Withdrawn: a newer thread reads now; this answer (or failure) is stale.
                    stats.close()
                    return
                }
                let sample = try result.get()
                reading = sample
                state.withLock { $0.backoff = Self.firstBackoff }
                observe(.sample(sample))
            } catch {
                connection?.close()
                connection = nil
                observe(.unavailable(error))
            }
            if let limit = pauseAfterGather, let reading, let previous,
                Self.enteredGather(reading, since: previous.sample), resumeSignal() == previous.signal
            {
                // No new ring was delivered since the previous reading began: the change is still under way.
                waitForResume(from: previous.signal, atMost: limit, clock: clock)
                next = clock.now
            } else {
                next = max(next + interval, clock.now)
                let pause = next - clock.now
                if pause > .zero { Self.sleep(pause) }
            }
            previous = reading.map { ($0, signal) }
        }
        connection?.close()
    }

    /// Whether `sample` shows this node entering corosync's gather state since `earlier` (or during the reading).
    static func enteredGather(_ sample: TotemSample, since earlier: TotemSample) -> Bool {
        sample.gatherAfter != earlier.gatherAfter || sample.gatherBefore != sample.gatherAfter
    }

    /// Sleeps until `resumeSignal` moves past `signal`, the monitor stops or `limit` has passed. The signal is a
    /// plain counter in the owner's memory: checking it often costs corosync nothing.
    private func waitForResume(from signal: UInt64, atMost limit: Duration, clock: ContinuousClock) {
        let deadline = clock.now + limit
        while !isStopped && resumeSignal() == signal && clock.now < deadline {
            Self.sleep(Self.resumeCheck)
        }
    }

    /// How often a pause checks whether it may end.
    static let resumeCheck: Duration = .milliseconds(5)

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
