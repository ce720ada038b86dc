import CorosyncKit
import Synchronization

/// The daemon's clock: `Timestamp`s count from the daemon's start on the monotonic clock.
public struct DaemonClock: Sendable {
    public let origin: ContinuousClock.Instant

    public init(origin: ContinuousClock.Instant = .now) { self.origin = origin }

    public var now: Timestamp { timestamp(ContinuousClock.now) }

    public func timestamp(_ instant: ContinuousClock.Instant) -> Timestamp {
        Timestamp(nanoseconds: (instant - origin).nanosecondsClamped)
    }

    public func instant(_ timestamp: Timestamp) -> ContinuousClock.Instant { origin + .nanoseconds(timestamp.nanoseconds) }
}

/// `RingEvidence` shared between the thread that reads corosync's counters, the daemon's core loop, the lease
/// refresher and the message sender. It tells the core loop when the proof starts or ends; the lease refresher
/// stops extending the VIPs the moment it runs out, whatever the core loop is doing.
public final class MembershipProof: Sendable {
    public enum Event: Sendable, Equatable {
        case proven(Bool)
        /// A reading started after `learntAt`: when this node left its previous ring (an upper bound) is known.
        case previousRingKnown(learntAt: ContinuousClock.Instant, leftAtMost: ContinuousClock.Instant?)
        /// corosync's counters could not be read (the proof, if any, has ended).
        case unavailable(String)
    }

    private struct State {
        var evidence = RingEvidence()
        var window: Duration
        var proven = false
        var previousRingRequests: [ContinuousClock.Instant] = []
        var lastUnavailable: String?
    }

    private let state: Mutex<State>
    /// Bumped when corosync has finished synchronising a new ring (or went away): the reading thread, quiet during a
    /// membership change, resumes on it (`TotemActivityMonitor`'s `resumeSignal`).
    private let synchronisationsEnded = Atomic<UInt64>(0)
    /// corosync delivered a new ring and has not taken or delivered a process-group message since.
    private let synchronising = Atomic<Bool>(false)
    private let continuation: AsyncStream<Event>.Continuation
    public let events: AsyncStream<Event>
    public init(window: Duration = DaemonTimings.defaultProofWindow) {
        state = Mutex(State(window: window))
        (events, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
    }

    /// The proof window, from corosync's token settings.
    public func setWindow(_ window: Duration) { state.withLock { $0.window = window } }
    public var window: Duration { state.withLock { $0.window } }

    /// A reading from `TotemActivityMonitor` (its thread).
    public func observe(_ activity: TotemActivity, now: ContinuousClock.Instant = .now) {
        var events: [Event] = []
        state.withLock { state in
            switch activity {
            case .sample(let sample):
                state.evidence.observe(sample)
                state.lastUnavailable = nil
                let ready = state.previousRingRequests.filter { sample.startedAt > $0 }
                state.previousRingRequests.removeAll { sample.startedAt > $0 }
                for learntAt in ready {
                    events.append(.previousRingKnown(learntAt: learntAt, leftAtMost: state.evidence.previousRingLeft(learntAt: learntAt)))
                }
            case .unavailable(let error):
                state.evidence.corosyncUnavailable()
                let text = "\(error)"
                if state.lastUnavailable != text { events.append(.unavailable(text)) }
                state.lastUnavailable = text
            }
            Self.updateProven(&state, now: now, events: &events)
        }
        for event in events { continuation.yield(event) }
    }

    /// Re-evaluates the proof at `now` (the reading thread does this with every reading; tests call it directly).
    public func check(now: ContinuousClock.Instant = .now) {
        var events: [Event] = []
        state.withLock { Self.updateProven(&$0, now: now, events: &events) }
        for event in events { continuation.yield(event) }
    }

    private static func updateProven(_ state: inout State, now: ContinuousClock.Instant, events: inout [Event]) {
        let proven = state.evidence.isProven(at: now, window: state.window)
        guard proven != state.proven else { return }
        state.proven = proven
        events.append(.proven(proven))
    }

    /// Until when this node is proven to be in its quorate ring (nil: not proven now).
    public func provenUntil() -> ContinuousClock.Instant? {
        state.withLock { $0.evidence.provenUntil(window: $0.window) }
    }

    public func isProven(at now: ContinuousClock.Instant = .now) -> Bool {
        state.withLock { $0.evidence.isProven(at: now, window: $0.window) }
    }

    /// The gather counter a report sent now is based on (stamped into it as its anchor).
    public var anchorBase: UInt64? { state.withLock { $0.evidence.anchorBase } }

    /// This daemon's report stamped with `base` was delivered in quorate `ring` at `deliveredAt`.
    public func anchorDelivered(base: UInt64, ring: RingID, at deliveredAt: ContinuousClock.Instant) {
        state.withLock { $0.evidence.anchorDelivered(base: base, ring: ring, at: deliveredAt) }
    }

    public func isAnchoring(_ ring: RingID) -> Bool { state.withLock { $0.evidence.isAnchoring(ring) } }

    /// The anchored ring lost its quorum (or corosync went away): nothing is proven until a new anchor.
    public func dropAnchor() {
        var events: [Event] = []
        state.withLock { state in
            state.evidence.dropAnchor()
            Self.updateProven(&state, now: .now, events: &events)
        }
        for event in events { continuation.yield(event) }
    }

    /// Asks for a `previousRingKnown` event once a reading that started after `learntAt` arrives.
    public func requestPreviousRing(learntAt: ContinuousClock.Instant) {
        state.withLock { $0.previousRingRequests.append(learntAt) }
    }

    /// corosync delivered a new ring. It delivers it (and the quorum and process-group membership of it) while it
    /// is still synchronising its services, holding back every cmap request until all are done: the end is not
    /// this event but the next process-group message corosync takes or delivers.
    public func corosyncDeliveredRing() { synchronising.store(true, ordering: .sequentiallyConsistent) }

    /// corosync took a process-group message from this daemon or delivered one: it is not synchronising (it refuses
    /// messages until the synchronisation ends, and a message delivered after a ring was sent after that ring's
    /// synchronisation ended everywhere).
    public func corosyncTookMessages() {
        if synchronising.exchange(false, ordering: .sequentiallyConsistent) {
            synchronisationsEnded.add(1, ordering: .sequentiallyConsistent)
        }
    }

    /// corosync went away: there is no synchronisation to wait for.
    public func corosyncLost() {
        synchronising.store(false, ordering: .sequentiallyConsistent)
        synchronisationsEnded.add(1, ordering: .sequentiallyConsistent)
    }

    /// How many synchronisations corosync finished (the reading thread's resume signal).
    public var synchronisationsFinished: UInt64 { synchronisationsEnded.load(ordering: .sequentiallyConsistent) }

    public func finish() { continuation.finish() }
}

/// What every effect checks at the moment it runs (not when it was decided): the group is still wanted here, this
/// node is proven to be in its quorate ring, the core loop is alive and this daemon's own messages come back.
public final class EffectGate: Sendable {
    private struct State {
        var desired: Set<String> = []
        var lastBeat: ContinuousClock.Instant = .now
        var lastOwnEcho: ContinuousClock.Instant?
        var stopping = false
    }

    private let state = Mutex(State())
    private let proof: MembershipProof
    private let requireProof: Bool

    /// `requireProof: false` only for tests and tools that run without corosync's counters.
    public init(proof: MembershipProof, requireProof: Bool = true) {
        self.proof = proof
        self.requireProof = requireProof
    }

    public func setDesired(_ groups: Set<String>) { state.withLock { $0.desired = groups } }
    public var desired: Set<String> { state.withLock { $0.desired } }
    public func beat(at now: ContinuousClock.Instant = .now) { state.withLock { $0.lastBeat = now } }
    public func ownEcho(at now: ContinuousClock.Instant = .now) { state.withLock { $0.lastOwnEcho = now } }
    public func stop() { state.withLock { $0.stopping = true } }

    /// May `group`'s VIPs go up, or its services start, now?
    public func mayAcquire(_ group: String, now: ContinuousClock.Instant = .now) -> Bool {
        let wanted = state.withLock { !$0.stopping && $0.desired.contains(group) }
        return wanted && (!requireProof || proof.isProven(at: now))
    }

    /// May the held VIPs' leases be extended now? Only while proven, with a live core loop whose own messages come
    /// back (the others declare a silent daemon hung and take over, counting on its leases to run out).
    public func mayRefresh(now: ContinuousClock.Instant = .now) -> Bool {
        let alive = state.withLock { state -> Bool in
            guard !state.stopping, now - state.lastBeat <= DaemonTimings.coreLoopLimit else { return false }
            guard let echo = state.lastOwnEcho else { return !requireProof }
            return now - echo <= DaemonTimings.ownEchoLimit
        }
        return alive && (!requireProof || proof.isProven(at: now))
    }
}
