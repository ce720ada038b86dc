import SFHABase

/// A corosync.conf document kept losslessly: every item remembers its original line text and line ending, so
/// `CorosyncConf(parsing: text).render() == text` byte for byte for every file corosync's parser accepts.
/// Edits (``addNode(name:addresses:)``, ``set(_:_:)``, …) only rewrite or insert the lines they are about.
public struct CorosyncConf: Sendable, Equatable {
    /// The top-level items in file order.
    public internal(set) var items: [CorosyncConfItem]

    /// An empty document (renders as the empty string).
    public init() {
        items = []
    }

    /// Parses `text` with the rules of corosync 3.1.7's `parse_section` (see ``CorosyncConfParser``).
    public init(parsing text: String) throws(CorosyncConfError) {
        items = try CorosyncConfParser.parse(text)
    }

    /// The document as text; identical to the parsed input for untouched documents.
    public func render() -> String {
        var output = ""
        output.reserveCapacity(items.count * 32)
        Self.render(items, into: &output)
        return output
    }

    private static func render(_ items: [CorosyncConfItem], into output: inout String) {
        for item in items {
            switch item {
            case .blank(let line), .comment(let line):
                output += line.text
                output += line.ending.rawValue
            case .pair(let pair):
                output += pair.line.text
                output += pair.line.ending.rawValue
            case .section(let section):
                output += section.openLine.text
                output += section.openLine.ending.rawValue
                render(section.children, into: &output)
                output += section.closeLine.text
                output += section.closeLine.ending.rawValue
            }
        }
    }
}

/// How a physical line ended in the file. `cr` only occurs on the last line (corosync strips a lone trailing `\r`).
public enum CorosyncLineEnding: String, Sendable, Hashable {
    case lf = "\n"
    case crlf = "\r\n"
    case cr = "\r"
    /// The last line of a file without a final newline.
    case none = ""
}

/// One physical line: its text without the line ending, and the ending.
public struct CorosyncConfLine: Sendable, Hashable {
    public internal(set) var text: String
    public internal(set) var ending: CorosyncLineEnding

    init(text: String, ending: CorosyncLineEnding) {
        self.text = text
        self.ending = ending
    }

    /// The line as it appears in the file.
    public var rendered: String { text + ending.rawValue }
}

/// A `key: value` line. `key` and `value` are what corosync sees (trimmed); `line` is the original text.
public struct CorosyncConfPair: Sendable, Hashable {
    public internal(set) var key: String
    public internal(set) var value: String
    public internal(set) var line: CorosyncConfLine
}

/// A `name {` … `}` block.
public struct CorosyncConfSection: Sendable, Hashable {
    public internal(set) var name: String
    public internal(set) var openLine: CorosyncConfLine
    public internal(set) var children: [CorosyncConfItem]
    public internal(set) var closeLine: CorosyncConfLine
}

public enum CorosyncConfItem: Sendable, Hashable {
    /// An empty or whitespace-only line (or one starting with a NUL byte, which corosync reads as empty).
    case blank(CorosyncConfLine)
    /// A line whose first non-blank character is `#` (corosync has no inline comments).
    case comment(CorosyncConfLine)
    case pair(CorosyncConfPair)
    case section(CorosyncConfSection)
}

/// Why a document could not be parsed or edited.
public struct CorosyncConfError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The text is not valid corosync.conf syntax; `line` says where.
        case syntax
        /// An edit or generation argument was rejected (bad name, address, value, path…).
        case invalidArgument
        /// The thing to remove or change does not exist.
        case notFound
        /// The node name or address is already used.
        case alreadyExists
    }

    public var kind: Kind
    /// 1-based line number of a syntax error; 0 for errors that are not about a line of the file.
    public var line: Int
    /// 1-based column (counted in characters) of what is wrong within `line`; 0 when the error is about the line as
    /// a whole or not about a line.
    public var column: Int
    public var reason: String

    public init(kind: Kind = .syntax, line: Int, column: Int = 0, reason: String) {
        self.kind = kind
        self.line = line
        self.column = column
        self.reason = reason
    }

    static func invalid(_ reason: String) -> CorosyncConfError {
        CorosyncConfError(kind: .invalidArgument, line: 0, reason: reason)
    }

    public var description: String {
        switch (line, column) {
        case (0, _): "corosync.conf: \(reason)"
        case (_, 0): "corosync.conf:\(line): \(reason)"
        default: "corosync.conf:\(line):\(column): \(reason)"
        }
    }
}

extension CorosyncConfError {
    /// The same problem as an `SFHAError`, for layers that report only those.
    public var sfhaError: SFHAError {
        let code: SFHAError.Code
        switch kind {
        case .syntax, .invalidArgument: code = .invalidArgument
        case .notFound: code = .notFound
        case .alreadyExists: code = .exists
        }
        return SFHAError(code, description)
    }
}
