import SFHABase

/// One finding in a configuration file, located by file, line, column (1-based, 0 when the finding concerns the
/// whole file) and key path (`services[0].healthcheck.target`; empty for YAML syntax errors).
public struct ConfigurationDiagnostic: Sendable, Equatable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var keyPath: String
    /// What is wrong and what is expected.
    public var message: String

    public init(file: String, line: Int, column: Int, keyPath: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.keyPath = keyPath
        self.message = message
    }

    /// `file:line:column: keyPath: message` (the compiler's format, so editors can jump to it).
    public var description: String {
        var text = file
        if line > 0 { text += ":\(line):\(column)" }
        text += ": "
        if !keyPath.isEmpty { text += "\(keyPath): " }
        return text + message
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
        var text = file
        if line > 0 { text += ":\(line):\(column)" }
        text += ": warning: "
        if !keyPath.isEmpty { text += "\(keyPath): " }
        return text + message
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
