import Foundation
import CorosyncKit
import Logging

/// Sends this daemon's messages over the process group, beside the core loop: the core loop only queues them, so
/// a corosync that refuses messages for seconds (flow control while it forms a membership) never holds up a
/// decision, a release or the core loop's beat.
///
/// Reports replace each other (only the latest one matters) and are stamped at the moment they are handed to
/// corosync: the ring-evidence anchor (the gather counter now) and the ages of the previous ring's instants, so a
/// receiver's bound is never earlier than the truth however long the report waited. Other messages keep their
/// order and give up at their deadline.
public actor GroupSender {
    private enum Entry {
        case report(NodeStateReport, PreviousRing?)
        case message(ClusterMessage, deadline: ContinuousClock.Instant)
    }

    /// Pause between two attempts while corosync refuses messages (it says when it can take them again only by
    /// accepting them).
    static let retryPause: Duration = .milliseconds(20)

    private var group: ProcessGroup?
    private var queue: [Entry] = []
    private var wake: CheckedContinuation<Void, Never>?
    private let proof: MembershipProof
    private let clock: DaemonClock
    private let logger: Logger
    private var refusedSince: ContinuousClock.Instant?
    private var finished = false

    public init(proof: MembershipProof, clock: DaemonClock, logger: Logger) {
        self.proof = proof
        self.clock = clock
        self.logger = logger
    }

    public func attach(_ group: ProcessGroup?) {
        self.group = group
        wakeUp()
    }

    /// Queues this node's report; a report still waiting is replaced.
    public func enqueueReport(_ report: NodeStateReport, previousRing: PreviousRing?) {
        queue.removeAll { if case .report = $0 { true } else { false } }
        queue.append(.report(report, previousRing))
        wakeUp()
    }

    /// Queues a message; dropped if it could not be handed to corosync within `timeout`.
    public func enqueue(_ message: ClusterMessage, timeout: Duration) {
        queue.append(.message(message, deadline: .now + timeout))
        wakeUp()
    }

    /// Stops the sending loop (after graceful shutdown's last report went out, or not).
    public func finish() {
        finished = true
        wakeUp()
    }

    /// Waits until the queue is empty (or `timeout` passes): the handover's last report.
    public func drain(timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        while !queue.isEmpty && ContinuousClock.now < deadline && group != nil {
            try? await Task.sleep(for: Self.retryPause)
        }
    }

    private func wakeUp() {
        wake?.resume()
        wake = nil
    }

    public func run() async {
        while !finished {
            guard let group, let entry = queue.first else {
                await withCheckedContinuation { wake = $0 }
                continue
            }
            let payload: [UInt8]
            do {
                payload = try stamp(entry).encoded()
            } catch {
                logger.error("a message could not be encoded and is dropped", metadata: ["error": "\(error)"])
                queue.removeFirst()
                continue
            }
            if let error = await group.trySend(payload) {
                if case .message(_, let deadline) = entry, ContinuousClock.now >= deadline {
                    dropHead(matching: entry)
                    logger.warning("a message could not be sent before its deadline and is dropped", metadata: ["error": "\(error)"])
                }
                if error.isConnectionLoss {
                    // The process group service rejoins and attaches a new connection.
                    if self.group === group { self.group = nil }
                    continue
                }
                noteRefusal(error)
                try? await Task.sleep(for: Self.retryPause)
                continue
            }
            if let since = refusedSince {
                logger.notice("corosync takes messages again after \(DurationFormatting.human(ContinuousClock.now - since))")
                refusedSince = nil
            }
            dropHead(matching: entry)
        }
    }

    /// Removes the entry just handled, unless the queue changed meanwhile (a newer report replaced it).
    private func dropHead(matching entry: Entry) {
        guard let head = queue.first else { return }
        switch (head, entry) {
        case (.report(let a, _), .report(let b, _)) where a.sequence == b.sequence: queue.removeFirst()
        case (.message(let a, _), .message(let b, _)) where a == b: queue.removeFirst()
        default: break
        }
    }

    private func noteRefusal(_ error: CorosyncError) {
        guard refusedSince == nil else { return }
        refusedSince = .now
        logger.info("corosync refuses messages for now; the latest report will go out when it takes them again", metadata: ["error": "\(error)"])
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
