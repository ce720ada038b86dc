import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One line of sfhad's log, as `GET /v1/logs` returns it.
public struct DaemonLogEntry: Sendable, Equatable, Codable {
    public var sequence: UInt64
    /// ISO 8601, UTC, milliseconds.
    public var time: String
    public var level: String
    public var message: String
}

public struct DaemonLogPage: Sendable, Equatable, Codable {
    public var entries: [DaemonLogEntry]
    /// Pass as `after` to get only newer lines (`sfha logs --follow`).
    public var last: UInt64
}

/// The most recent log lines, kept in memory for `sfha logs` (journald keeps the full history when sfhad runs
/// under systemd).
public final class DaemonLogBuffer: Sendable {
    private struct State {
        var entries: [DaemonLogEntry] = []
        var next: UInt64 = 1
    }

    public let capacity: Int
    private let state = Mutex(State())

    public init(capacity: Int = 2000) { self.capacity = max(1, capacity) }

    public func append(level: Logger.Level, message: String, at date: Date = Date()) {
        let time = date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
        state.withLock { state in
            state.entries.append(DaemonLogEntry(sequence: state.next, time: time, level: level.rawValue, message: message))
            state.next += 1
            if state.entries.count > capacity { state.entries.removeFirst(state.entries.count - capacity) }
        }
    }

    /// The last `limit` lines at `minimumLevel` or above, newer than `after` when given.
    public func entries(after: UInt64?, limit: Int, minimumLevel: Logger.Level = .trace) -> DaemonLogPage {
        state.withLock { state in
            let matching = state.entries.filter { entry in
                (after.map { entry.sequence > $0 } ?? true) && (Logger.Level(rawValue: entry.level) ?? .trace) >= minimumLevel
            }
            return DaemonLogPage(entries: Array(matching.suffix(max(0, limit))), last: state.next - 1)
        }
    }
}

/// The daemon's log level, changeable at run time (`sfha reload` after editing `logging.level`).
public final class DaemonLogLevel: Sendable {
    private let value: Mutex<Logger.Level>
    public init(_ level: Logger.Level) { value = Mutex(level) }
    public var level: Logger.Level {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

/// sfhad's log handler: one line per event on standard error, in journald's format when standard error is the
/// journal (`<priority>message`, journald adds the time), otherwise with a UTC timestamp; every line also goes to
/// the in-memory buffer behind `sfha logs`.
public struct DaemonLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level {
        get { sharedLevel.level }
        set { sharedLevel.level = newValue }
    }

    private let label: String
    private let sharedLevel: DaemonLogLevel
    private let buffer: DaemonLogBuffer?
    private let journal: Bool
    private let write: @Sendable (String) -> Void

    public init(
        label: String, level: DaemonLogLevel, buffer: DaemonLogBuffer?, journal: Bool = DaemonLogHandler.stderrIsJournal(),
        write: @escaping @Sendable (String) -> Void = DaemonLogHandler.writeToStandardError
    ) {
        self.label = label
        self.sharedLevel = level
        self.buffer = buffer
        self.journal = journal
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var text = "\(event.message)"
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        if !merged.isEmpty {
            text += " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        // One event is one line (journald and grep both rely on it).
        text = text.replacingOccurrences(of: "\n", with: " ")
        buffer?.append(level: event.level, message: text)
        if journal {
            write("<\(Self.syslogPriority(event.level))>\(text)\n")
        } else {
            let time = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
            write("\(time) \(event.level.rawValue) \(text)\n")
        }
    }

    /// syslog priorities as journald reads them from `<N>` prefixes.
    static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// True when standard error is the journal stream systemd gave us (`$JOURNAL_STREAM` is `device:inode` of it).
    public static func stderrIsJournal(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(STDERR_FILENO, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    public static let writeToStandardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data(line.utf8))
    }
}

/// Writes log lines from a thread of its own, so that logging never waits for standard error: a busy journald, or a
/// disk throttling writers during writeback, would otherwise stall whoever logs — the core loop among them (the stall
/// watchdog ended sfhad for that under load). Bounded: past `capacity` waiting lines, new ones are counted, dropped,
/// and the count written once there is room (they stay in `sfha logs`' buffer either way).
public final class BackgroundLineWriter: Sendable {
    public static let capacity = 10_000

    private struct Queue {
        var lines: [String] = []
        var dropped = 0
    }

    private let queue = Mutex(Queue())
    /// Held while lines go to the sink: a flush waits for the batch in flight, so lines keep their order.
    private let writing = Mutex(())
    private let wake = DispatchSemaphore(value: 0)
    private let sink: @Sendable (String) -> Void

    public init(sink: @escaping @Sendable (String) -> Void = DaemonLogHandler.writeToStandardError) {
        self.sink = sink
        Thread.detachNewThread { [self] in
            Thread.current.name = "sfha-log-writer"
            while true {
                wake.wait()
                drain()
            }
        }
    }

    /// Queues `line` (it ends with a newline); never blocks on the sink.
    public func write(_ line: String) {
        let first = queue.withLock { queue -> Bool in
            guard queue.lines.count < Self.capacity else {
                queue.dropped += 1
                return false
            }
            queue.lines.append(line)
            return queue.lines.count == 1
        }
        if first { wake.signal() }
    }

    /// Writes every queued line now, on the caller's thread (before the process exits).
    public func flush() { drain() }

    private func drain() {
        writing.withLock { _ in
            let (lines, dropped) = queue.withLock { queue in
                defer { queue = Queue() }
                return (queue.lines, queue.dropped)
            }
            if !lines.isEmpty { sink(lines.joined()) }
            // The dropped lines came after the queued ones (the queue was full): the count follows them.
            if dropped > 0 { sink("\(dropped) log lines dropped: standard error did not keep up (see 'sfha logs')\n") }
        }
    }
}

extension LogLevel {
    /// The swift-log level for a configuration `logging.level`.
    public var loggerLevel: Logger.Level {
        switch self {
        case .debug: .debug
        case .info: .info
        case .warn: .warning
        case .error: .error
        }
    }
}
