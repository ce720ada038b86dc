internal import CCorosync

/// A failed call into one of corosync's client libraries: which C function, and the `cs_error_t` it returned.
public struct CorosyncError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A `cs_error_t` value. Unknown values are kept as they are (never trapped on).
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        public static let library = Code(rawValue: 2)
        public static let timeout = Code(rawValue: 5)
        public static let tryAgain = Code(rawValue: 6)
        public static let invalidParameter = Code(rawValue: 7)
        public static let badHandle = Code(rawValue: 9)
        public static let access = Code(rawValue: 11)
        public static let notExist = Code(rawValue: 12)
        public static let exist = Code(rawValue: 14)
        public static let queueFull = Code(rawValue: 23)
        public static let noSections = Code(rawValue: 27)
        public static let security = Code(rawValue: 100)

        static let names: [UInt32: String] = [
            1: "CS_OK", 2: "CS_ERR_LIBRARY", 3: "CS_ERR_VERSION", 4: "CS_ERR_INIT", 5: "CS_ERR_TIMEOUT",
            6: "CS_ERR_TRY_AGAIN", 7: "CS_ERR_INVALID_PARAM", 8: "CS_ERR_NO_MEMORY", 9: "CS_ERR_BAD_HANDLE",
            10: "CS_ERR_BUSY", 11: "CS_ERR_ACCESS", 12: "CS_ERR_NOT_EXIST", 13: "CS_ERR_NAME_TOO_LONG",
            14: "CS_ERR_EXIST", 15: "CS_ERR_NO_SPACE", 16: "CS_ERR_INTERRUPT", 17: "CS_ERR_NAME_NOT_FOUND",
            18: "CS_ERR_NO_RESOURCES", 19: "CS_ERR_NOT_SUPPORTED", 20: "CS_ERR_BAD_OPERATION",
            21: "CS_ERR_FAILED_OPERATION", 22: "CS_ERR_MESSAGE_ERROR", 23: "CS_ERR_QUEUE_FULL",
            24: "CS_ERR_QUEUE_NOT_AVAILABLE", 25: "CS_ERR_BAD_FLAGS", 26: "CS_ERR_TOO_BIG",
            27: "CS_ERR_NO_SECTIONS", 28: "CS_ERR_CONTEXT_NOT_FOUND", 30: "CS_ERR_TOO_MANY_GROUPS",
            100: "CS_ERR_SECURITY",
        ]

        public var name: String { Self.names[rawValue] ?? "CS_ERR_UNKNOWN_\(rawValue)" }
        public var description: String { name }
    }

    public let code: Code
    /// The C function that returned the error, e.g. `cmap_get`.
    public let function: String
    /// What the call was about (a key, a group name), when that helps the operator.
    public let subject: String?

    public init(code: Code, function: String, subject: String? = nil) {
        self.code = code
        self.function = function
        self.subject = subject
    }

    init(_ rc: cs_error_t, _ function: String, subject: String? = nil) {
        self.init(code: Code(rawValue: rc.rawValue), function: function, subject: subject)
    }

    /// Results corosync documents as "try again later": worth a bounded retry.
    public var isTransient: Bool {
        code == .tryAgain || code == .queueFull || code == .timeout
    }

    /// True when the error means there is no (longer a) corosync to talk to.
    public var isConnectionLoss: Bool {
        code == .library || code == .badHandle
    }

    public var description: String {
        var text = "\(function)"
        if let subject { text += "(\(subject))" }
        text += " failed: \(code.name)"
        switch code {
        case .library:
            text += " — corosync is not reachable: is it running on this node, in this network namespace?"
        case .access, .security:
            text += " — permission denied by corosync: run as root or a user allowed in uidgid.d"
        case .tryAgain:
            text += " — corosync is busy (membership change in progress); retry in a moment"
        default:
            break
        }
        return text
    }
}

extension cs_error_t {
    var isOK: Bool { self == CS_OK }
}

/// Runs `body` until it stops returning a transient error, at most `attempts` times with a growing pause.
/// Used for requests (never for dispatch): corosync answers TRY_AGAIN while a membership change is being synced.
func retryingTransient<T>(
    attempts: Int = 20, firstPause: Duration = .milliseconds(5), maximumPause: Duration = .milliseconds(200),
    _ body: () throws(CorosyncError) -> T
) async throws(CorosyncError) -> T {
    var pause = firstPause
    var attempt = 1
    while true {
        do {
            return try body()
        } catch where error.isTransient && attempt < attempts {
            attempt += 1
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, maximumPause)
        }
    }
}
