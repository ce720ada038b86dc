import SFHABase

/// One finding in a configuration file, located by file, line, column (1-based, 0 when the finding concerns the
/// whole file) and key path (`services[0].healthcheck.target`; empty for YAML syntax errors).
///
/// Key paths and messages echo text from the file: control characters in them are escaped (`\n`, `\u{1B}`, see
/// `escapedForDisplay`) when a diagnostic is made and again when it is printed (it may have been decoded), so a key
/// cannot forge a diagnostic line or send escape sequences to a terminal.
public struct ConfigurationDiagnostic: Sendable, Equatable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var keyPath: String
    /// What is wrong and what is expected.
    public var message: String

    public init(file: String, line: Int, column: Int, keyPath: String, message: String) {
        self.file = escapedForDisplay(file)
        self.line = line
        self.column = column
        self.keyPath = escapedForDisplay(keyPath)
        self.message = escapedForDisplay(message)
    }

    /// `file:line:column: keyPath: message` (the compiler's format, so editors can jump to it).
    public var description: String {
        var text = escapedForDisplay(file)
        if line > 0 { text += ":\(line):\(column)" }
        text += ": "
        if !keyPath.isEmpty { text += "\(escapedForDisplay(keyPath)): " }
        return text + escapedForDisplay(message)
    }
}

/// Something accepted but worth the operator's attention: an unknown key (ignored), a deprecated key, a setting
/// that has no effect. `description` is `file:line:column: warning: keyPath: message`.
public struct ConfigurationWarning: Sendable, Equatable, Codable, CustomStringConvertible {
    public var diagnostic: ConfigurationDiagnostic

    public init(_ diagnostic: ConfigurationDiagnostic) {
        self.diagnostic = diagnostic
    }

    public var file: String { diagnostic.file }
    public var line: Int { diagnostic.line }
    public var column: Int { diagnostic.column }
    public var keyPath: String { diagnostic.keyPath }
    public var message: String { diagnostic.message }

    public var description: String {
        var text = escapedForDisplay(file)
        if line > 0 { text += ":\(line):\(column)" }
        text += ": warning: "
        if !keyPath.isEmpty { text += "\(escapedForDisplay(keyPath)): " }
        return text + escapedForDisplay(message)
    }
}

/// A configuration that cannot be used. Holds **every** problem found (the loader never stops at the first one),
/// in file order.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public typealias Item = ConfigurationDiagnostic

    public var items: [Item]

    public init(items: [Item]) {
        self.items = items
    }

    public init(_ item: Item) {
        self.items = [item]
    }

    /// One line per problem.
    public var description: String {
        items.map(\.description).joined(separator: "\n")
    }

    /// The same problems as an `SFHAError` (`invalid_argument`), for callers that speak only `SFHAError`.
    public var sfhaError: SFHAError {
        let count = items.count
        let header = count == 1 ? "invalid configuration:" : "invalid configuration (\(count) problems):"
        return SFHAError(.invalidArgument, header + "\n" + description)
    }
}

extension SFHAConfiguration {
    /// At most this many errors, and as many warnings, are reported for one file (the first ones in file order),
    /// followed by a line counting the others: a file with a hundred thousand unknown keys must not print a hundred
    /// thousand lines.
    public static let maximumReportedDiagnostics = 100
}

/// The diagnostics of one kind found in a file, keeping only the first `SFHAConfiguration.maximumReportedDiagnostics`
/// in file order (plus a bounded slack), so that memory stays small however many problems the file has.
struct BoundedDiagnostics {
    private struct Entry {
        var sequence: Int
        var diagnostic: ConfigurationDiagnostic
    }

    /// Every diagnostic appended, reported or not.
    private(set) var count = 0
    private var kept: [Entry] = []
    private let limit = SFHAConfiguration.maximumReportedDiagnostics
    /// Once `limit` diagnostics are known at or before this position, one found there or later is never reported.
    private var cutoff: (line: Int, column: Int)?

    var isEmpty: Bool { count == 0 }

    /// False when a diagnostic at this position would not be among those reported: the caller can skip composing
    /// it and call `countUnreported()` instead.
    func isReportable(line: Int, column: Int) -> Bool {
        guard let cutoff else { return true }
        return (line, column) < cutoff
    }

    mutating func append(_ diagnostic: ConfigurationDiagnostic) {
        guard isReportable(line: diagnostic.line, column: diagnostic.column) else { return countUnreported() }
        kept.append(Entry(sequence: count, diagnostic: diagnostic))
        count += 1
        // Trimming only every few `limit` appends keeps the cost per append constant on average.
        if kept.count >= 4 * limit {
            kept = Array(Self.inFileOrder(kept).prefix(limit))
            cutoff = kept.last.map { ($0.diagnostic.line, $0.diagnostic.column) }
        }
    }

    mutating func countUnreported() {
        count += 1
    }

    /// The first `limit` diagnostics in file order (file-level ones first; ties in the order found), then, when
    /// there were more, one line saying how many were left out.
    func reported(file: String, kind: String) -> [ConfigurationDiagnostic] {
        var result = Self.inFileOrder(kept).prefix(limit).map(\.diagnostic)
        let omitted = count - result.count
        if omitted > 0 {
            result.append(ConfigurationDiagnostic(
                file: file, line: 0, column: 0, keyPath: "",
                message: "and \(omitted) more \(kind)\(omitted == 1 ? "" : "s") not shown (the first \(limit) are above)"))
        }
        return result
    }

    private static func inFileOrder(_ entries: [Entry]) -> [Entry] {
        entries.sorted { a, b in
            let pa = (a.diagnostic.line, a.diagnostic.column)
            let pb = (b.diagnostic.line, b.diagnostic.column)
            return pa != pb ? pa < pb : a.sequence < b.sequence
        }
    }
}
