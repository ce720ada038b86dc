import Foundation
import Synchronization
import Testing

@testable import SFHACore

/// Logging never waits for standard error: a sink that blocks (a busy journald, a disk throttling writers) does not
/// block whoever logs; lines keep their order, a flush writes what is queued, and a full queue drops and says so.
@Suite(.timeLimit(.minutes(1))) struct LogWriterTests {
    /// A sink that blocks until released, recording what it was given.
    final class BlockingSink: Sendable {
        let written = Mutex<[String]>([])
        let gate = DispatchSemaphore(value: 0)
        let blocking = Mutex(true)

        func write(_ text: String) {
            if blocking.withLock({ $0 }) { gate.wait() }
            written.withLock { $0.append(text) }
        }

        func release() {
            blocking.withLock { $0 = false }
            gate.signal()
        }

        var lines: [String] { written.withLock { $0 }.joined().split(separator: "\n").map(String.init) }
    }

    @Test func aBlockedSinkNeverBlocksTheLoggerAndOrderIsKept() async throws {
        let sink = BlockingSink()
        let writer = BackgroundLineWriter(sink: { sink.write($0) })
        let clock = ContinuousClock()
        let started = clock.now
        for index in 0..<1000 { writer.write("line \(index)\n") }
        // Queued, not written: the sink is still blocked on the first batch, and the callers returned.
        #expect(clock.now - started < .seconds(5))
        #expect(sink.lines.isEmpty)
        sink.release()
        let deadline = clock.now + .seconds(10)
        while sink.lines.count < 1000, clock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        writer.flush()
        #expect(sink.lines == (0..<1000).map { "line \($0)" })
    }

    @Test func aFullQueueDropsAndSaysHowMany() async throws {
        let sink = BlockingSink()
        let writer = BackgroundLineWriter(sink: { sink.write($0) })
        // "first" goes to the sink (blocked there) with at most the part of the flood queued before the writer thread
        // woke; the rest (over twice the capacity) overflows the queue.
        writer.write("first\n")
        for index in 0..<(2 * BackgroundLineWriter.capacity + 2) { writer.write("x\(index)\n") }
        sink.release()
        writer.flush()
        let lines = sink.lines
        #expect(lines.contains { $0.hasSuffix("log lines dropped: standard error did not keep up (see 'sfha logs')") }, "\(lines.suffix(3))")
        #expect(lines.first == "first")
    }
}
