/// The error every sfha layer reports to operators: what happened (`message`), a stable machine-readable `code`,
/// and optionally the lower-level error that caused it.
public struct SFHAError: Error, Sendable, CustomStringConvertible, Equatable {
    public struct Code: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let invalidArgument = Code(rawValue: "invalid_argument")
        /// A configuration file that does not load (the CLI exits 2 for it).
        public static let invalidConfiguration = Code(rawValue: "invalid_configuration")
        public static let notFound = Code(rawValue: "not_found")
        public static let exists = Code(rawValue: "exists")
        public static let invalidState = Code(rawValue: "invalid_state")
        public static let timeout = Code(rawValue: "timeout")
        public static let unavailable = Code(rawValue: "unavailable")
        public static let unauthorized = Code(rawValue: "unauthorized")
        public static let notQuorate = Code(rawValue: "not_quorate")
        /// A concurrent change or a reference prevents the request; re-read and try again.
        public static let conflict = Code(rawValue: "conflict")
        public static let io = Code(rawValue: "io")
        public static let commandFailed = Code(rawValue: "command_failed")
        public static let internalError = Code(rawValue: "internal")
    }

    public var code: Code
    public var message: String
    /// Description of the underlying error, kept as text so the error stays `Sendable` and `Equatable`.
    public var cause: String?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause.map { String(describing: $0) }
    }

    public var description: String {
        if let cause { return "\(message) (\(cause))" }
        return message
    }
}
