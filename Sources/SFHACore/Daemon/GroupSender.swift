import Foundation
import CorosyncKit
import Logging
import Synchronization

/// Where the sender hands messages: the process group (`ProcessGroup`), or an in-memory loopback in tests.
public protocol GroupTransport: AnyObject, Sendable {
    /// Sends once: nil when taken, else the error (`isTransient` when corosync applies flow control).
    func trySend(_ payload: [UInt8]) async -> CorosyncError?
}

extension ProcessGroup: GroupTransport {}

/// Sends this daemon's messages over the process group, beside the core loop: the core loop only queues them (a
/// lock, no waiting), so a corosync that refuses messages for seconds (flow control while it forms a membership)
/// never holds up a decision, a release or the core loop's beat. Queued messages keep their order.
///
/// Reports replace each other (only the latest one matters) and are stamped at the moment they are handed to
/// corosync: the ring-evidence anchor (the gather counter now) and the ages of the previous ring's instants, so a
/// receiver's bound is never earlier than the truth however long the report waited. Other messages give up at
/// their deadline.
public final class GroupSender: Sendable {
    private enum Entry {
        case report(NodeStateReport, PreviousRing?)
        case message(ClusterMessage, deadline: ContinuousClock.Instant)
    }

    private struct State {
        var group: (any GroupTransport)?
        var queue: [Entry] = []
        var wake: CheckedContinuation<Void, Never>?
        var finished = false
        var refusedSince: ContinuousClock.Instant?
    }

    /// Pause between two attempts while corosync refuses messages (it says when it can take them again only by
    /// accepting them).
    static let retryPause: Duration = .milliseconds(20)

    private let state = Mutex(State())
    private let proof: MembershipProof
    private let clock: DaemonClock
    private let logger: Logger

    public init(proof: MembershipProof, clock: DaemonClock, logger: Logger) {
        self.proof = proof
        self.clock = clock
        self.logger = logger
    }

    public func attach(_ group: (any GroupTransport)?) {
        update { $0.group = group }
    }

    /// Queues this node's report; a report still waiting is replaced.
    public func enqueueReport(_ report: NodeStateReport, previousRing: PreviousRing?) {
        update { state in
            state.queue.removeAll { if case .report = $0 { true } else { false } }
            state.queue.append(.report(report, previousRing))
        }
    }

    /// Queues a message; dropped if it could not be handed to corosync within `timeout`.
    public func enqueue(_ message: ClusterMessage, timeout: Duration) {
        update { $0.queue.append(.message(message, deadline: .now + timeout)) }
    }

    /// Stops the sending loop.
    public func finish() { update { $0.finished = true } }

    /// Waits until every queued message was handed to corosync (or `timeout` passes, or there is no group): the
    /// handover's last report goes out before the daemon leaves the group.
    public func drain(timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, state.withLock({ !$0.queue.isEmpty && $0.group != nil }) {
            try? await Task.sleep(for: Self.retryPause)
        }
    }

    private func update(_ change: (inout State) -> Void) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            change(&state)
            defer { state.wake = nil }
            return state.wake
        }
        waiter?.resume()
    }

    /// The sending loop (`SenderService`).
    public func run() async {
        while true {
            let next = state.withLock { state -> (finished: Bool, group: (any GroupTransport)?, entry: Entry?) in
                (state.finished, state.group, state.queue.first)
            }
            if next.finished { return }
            guard let group = next.group, let entry = next.entry else {
                await withCheckedContinuation { continuation in
                    let ready = state.withLock { state -> Bool in
                        if state.finished || (state.group != nil && !state.queue.isEmpty) { return true }
                        state.wake = continuation
                        return false
                    }
                    if ready { continuation.resume() }
                }
                continue
            }
            let payload: [UInt8]
            do {
                payload = try stamp(entry).encoded()
            } catch {
                logger.error("a message could not be encoded and is dropped", metadata: ["error": "\(error)"])
                dropHead(matching: entry)
                continue
            }
            if let error = await group.trySend(payload) {
                if case .message(_, let deadline) = entry, ContinuousClock.now >= deadline {
                    dropHead(matching: entry)
                    logger.warning("a message could not be sent before its deadline and is dropped", metadata: ["error": "\(error)"])
                }
                if error.isConnectionLoss {
                    // The process group service rejoins and attaches a new connection.
                    state.withLock { state in if state.group === group { state.group = nil } }
                    continue
                }
                noteRefusal(error)
                try? await Task.sleep(for: Self.retryPause)
                continue
            }
            proof.corosyncTookMessages()
            if let since = state.withLock({ state -> ContinuousClock.Instant? in
                defer { state.refusedSince = nil }
                return state.refusedSince
            }) {
                logger.notice("corosync takes messages again after \(DurationFormatting.human(ContinuousClock.now - since))")
            }
            dropHead(matching: entry)
        }
    }

    /// Removes the entry just handled, unless the queue changed meanwhile (a newer report replaced it).
    private func dropHead(matching entry: Entry) {
        state.withLock { state in
            guard let head = state.queue.first else { return }
            switch (head, entry) {
            case (.report(let a, _), .report(let b, _)) where a.sequence == b.sequence: state.queue.removeFirst()
            case (.message(let a, _), .message(let b, _)) where a == b: state.queue.removeFirst()
            default: break
            }
        }
    }

    private func noteRefusal(_ error: CorosyncError) {
        let first = state.withLock { state -> Bool in
            guard state.refusedSince == nil else { return false }
            state.refusedSince = .now
            return true
        }
        if first {
            logger.info("corosync refuses messages for now; the latest report will go out when it takes them again", metadata: ["error": "\(error)"])
        }
    }

    private func stamp(_ entry: Entry) -> ClusterMessage {
        switch entry {
        case .report(var report, let previousRing):
            let now = clock.now
            report.anchorBase = proof.anchorBase
            report.previousRing = previousRing?.summary(at: now)
            return .report(report)
        case .message(let message, _):
            return message
        }
    }
}

/// Durations in the units an operator reads ("0.2 ms", "350 ms", "2.4 s").
public enum DurationFormatting {
    public static func human(_ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        let magnitude = abs(seconds)
        if magnitude < 0.001 { return String(format: "%.1f ms", seconds * 1000) }
        if magnitude < 1 { return String(format: "%.0f ms", seconds * 1000) }
        if magnitude < 60 { return String(format: "%.1f s", seconds) }
        return String(format: "%.0f min %.0f s", (seconds / 60).rounded(.towardZero), seconds.truncatingRemainder(dividingBy: 60))
    }
}
