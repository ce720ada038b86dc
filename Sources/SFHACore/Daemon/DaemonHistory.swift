import Foundation
import Logging
import SFHABase

/// One thing worth remembering about the cluster, as this node saw it (`sfha history`).
public struct HistoryEntry: Sendable, Equatable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable, Codable {
        /// A group's holder changed (placement's decision, with why).
        case move
        /// A service or resource failed here (restart limit reached, a VIP that cannot be applied).
        case failure
        /// An operator command that changes something (who ran it, what, and the answer).
        case command
    }

    public var time: Date
    public var kind: Kind
    /// The node that recorded it.
    public var node: String
    public var text: String
    /// For commands: the caller on the control socket (`uid 0, pid 4242 (sfha)`).
    public var who: String?

    public init(time: Date = Date(), kind: Kind, node: String, text: String, who: String? = nil) {
        self.time = time
        self.kind = kind
        self.node = node
        self.text = text
        self.who = who
    }

    public var description: String {
        "\(ISO8601DateFormatter().string(from: time)) \(node) \(kind.rawValue): \(text)" + (who.map { " (by \($0))" } ?? "")
    }
}

/// `history.jsonl` next to the cluster document: one JSON entry per line, appended; read back at start so the
/// history survives a restart. Bounded: past `maximumEntries` it is rewritten (atomically) with the newest half.
/// An actor beside the core loop: the runtime never waits for it.
public actor DaemonHistory {
    public static let maximumEntries = 2000
    nonisolated let path: String?
    nonisolated let logger: Logger
    private var entries: [HistoryEntry] = []
    private var loaded = false
    private var failedOnce = false

    /// `path` nil: kept in memory only (tests, tools).
    public init(path: String?, logger: Logger) {
        self.path = path
        self.logger = logger
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    private func loadIfNeeded() {
        guard !loaded else { return }
        loaded = true
        guard let path, let bytes = try? AtomicFile.read(path) else { return }
        // A damaged line (a crash mid-append) is skipped, the rest kept.
        entries = bytes.split(separator: UInt8(ascii: "\n")).compactMap { try? Self.decoder.decode(HistoryEntry.self, from: Data($0)) }
        if entries.count > Self.maximumEntries { entries.removeFirst(entries.count - Self.maximumEntries) }
    }

    public func record(_ entry: HistoryEntry) {
        loadIfNeeded()
        entries.append(entry)
        guard let path, let line = try? Self.encoder.encode(entry) else { return }
        do {
            if entries.count > Self.maximumEntries {
                entries.removeFirst(entries.count - Self.maximumEntries / 2)
                let text = try entries.map { String(decoding: try Self.encoder.encode($0), as: UTF8.self) }.joined(separator: "\n") + "\n"
                try AtomicFile.write(text, to: path, mode: 0o600)
            } else {
                try Self.append(Array(line) + [UInt8(ascii: "\n")], to: path)
            }
            failedOnce = false
        } catch {
            if !failedOnce { logger.warning("could not write the history to \(path): \(error); it is kept in memory") }
            failedOnce = true
        }
    }

    /// The newest `limit` entries, oldest first.
    public func recent(_ limit: Int) -> [HistoryEntry] {
        loadIfNeeded()
        return Array(entries.suffix(max(0, limit)))
    }

    private static func append(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw SFHAError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw SFHAError(.io, "short write to \(path)") }
    }
}
