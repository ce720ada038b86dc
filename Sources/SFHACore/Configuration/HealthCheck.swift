import Foundation
import SFHABase

/// A periodic probe with hysteresis: `failuresBeforeUnhealthy` consecutive failures make it unhealthy,
/// `successesBeforeHealthy` consecutive successes healthy again. It starts healthy.
public struct HealthCheck: Sendable, Equatable, Codable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable, Codable, CustomStringConvertible {
        /// GET over plain HTTP; healthy on a 2xx answer.
        case http(URL)
        /// GET over TLS; healthy on a 2xx answer.
        case https(URL, verifyCertificate: Bool = true)
        /// A TCP connection to `host:port` succeeds. `host` is a canonical IP address or a DNS name.
        case tcp(host: String, port: UInt16)
        /// `systemctl is-active <unit>` says `active`.
        case systemd(unit: String)
        /// The program exits 0. `arguments[0]` is the program (absolute path or looked up in PATH); no shell.
        case exec(arguments: [String])

        /// The `type:` value in the YAML.
        public var typeName: String {
            switch self {
            case .http: "http"
            case .https: "https"
            case .tcp: "tcp"
            case .systemd: "systemd"
            case .exec: "exec"
            }
        }

        public var description: String {
            switch self {
            case .http(let url): "http \(url.absoluteString)"
            case .https(let url, let verify): "https \(url.absoluteString)" + (verify ? "" : " (certificate not verified)")
            case .tcp(let host, let port): "tcp \(host.contains(":") ? "[\(host)]" : host):\(port)"
            case .systemd(let unit): "systemd \(unit)"
            case .exec(let arguments): "exec \(arguments)"
            }
        }

        enum CodingKeys: String, CodingKey { case type, url, verifyCertificate, host, port, unit, arguments }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            func url() throws -> URL {
                let text = try c.decode(String.self, forKey: .url)
                guard let url = URL(string: text) else {
                    throw DecodingError.dataCorruptedError(forKey: .url, in: c, debugDescription: "invalid URL \(text)")
                }
                return url
            }
            switch try c.decode(String.self, forKey: .type) {
            case "http": self = .http(try url())
            case "https": self = .https(try url(), verifyCertificate: try c.decode(Bool.self, forKey: .verifyCertificate))
            case "tcp": self = .tcp(host: try c.decode(String.self, forKey: .host), port: try c.decode(UInt16.self, forKey: .port))
            case "systemd": self = .systemd(unit: try c.decode(String.self, forKey: .unit))
            case "exec": self = .exec(arguments: try c.decode([String].self, forKey: .arguments))
            case let other:
                throw DecodingError.dataCorruptedError(forKey: .type, in: c, debugDescription: "unknown check type \(other)")
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(typeName, forKey: .type)
            switch self {
            case .http(let url):
                try c.encode(url.absoluteString, forKey: .url)
            case .https(let url, let verify):
                try c.encode(url.absoluteString, forKey: .url)
                try c.encode(verify, forKey: .verifyCertificate)
            case .tcp(let host, let port):
                try c.encode(host, forKey: .host)
                try c.encode(port, forKey: .port)
            case .systemd(let unit):
                try c.encode(unit, forKey: .unit)
            case .exec(let arguments):
                try c.encode(arguments, forKey: .arguments)
            }
        }
    }

    /// For a service's check, the service name; for a node check, its `name:`.
    public var name: String
    public var kind: Kind
    public var interval: Duration
    public var timeout: Duration
    public var failuresBeforeUnhealthy: Int
    public var successesBeforeHealthy: Int
    /// Node checks: a critical check that becomes unhealthy makes the node ineligible for every group.
    /// Service checks: the service's own `critical` flag (the service's failure policy decides what happens).
    public var critical: Bool
    /// Node checks only (`health_checks[].restart_service`): a unit to restart once before the node gives up its
    /// groups.
    public var restartUnit: String?

    public static let defaultFailuresBeforeUnhealthy = 3
    public static let defaultSuccessesBeforeHealthy = 2
    /// Defaults of a service's `healthcheck:` (as the original).
    public static let defaultServiceInterval: Duration = .milliseconds(5000)
    public static let defaultServiceTimeout: Duration = .milliseconds(2000)
    /// Defaults of a node check (`health_checks:`, as the original).
    public static let defaultNodeInterval: Duration = .milliseconds(10000)
    public static let defaultNodeTimeout: Duration = .milliseconds(5000)

    public init(
        name: String, kind: Kind, interval: Duration, timeout: Duration,
        failuresBeforeUnhealthy: Int = HealthCheck.defaultFailuresBeforeUnhealthy,
        successesBeforeHealthy: Int = HealthCheck.defaultSuccessesBeforeHealthy, critical: Bool = false,
        restartUnit: String? = nil
    ) {
        self.name = name
        self.kind = kind
        self.interval = interval
        self.timeout = timeout
        self.failuresBeforeUnhealthy = failuresBeforeUnhealthy
        self.successesBeforeHealthy = successesBeforeHealthy
        self.critical = critical
        self.restartUnit = restartUnit
    }

    public var description: String {
        var text = "check \(name): \(kind) every \(interval.sfhaText) (timeout \(timeout.sfhaText), "
            + "\(failuresBeforeUnhealthy) failures/\(successesBeforeHealthy) successes"
        if critical { text += ", critical" }
        if let restartUnit { text += ", restarts \(restartUnit)" }
        return text + ")"
    }

    enum CodingKeys: String, CodingKey {
        case name, kind, intervalMilliseconds, timeoutMilliseconds, failuresBeforeUnhealthy, successesBeforeHealthy,
             critical, restartUnit
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        kind = try c.decode(Kind.self, forKey: .kind)
        interval = try c.decodeMilliseconds(forKey: .intervalMilliseconds)
        timeout = try c.decodeMilliseconds(forKey: .timeoutMilliseconds)
        failuresBeforeUnhealthy = try c.decode(Int.self, forKey: .failuresBeforeUnhealthy)
        successesBeforeHealthy = try c.decode(Int.self, forKey: .successesBeforeHealthy)
        critical = try c.decode(Bool.self, forKey: .critical)
        restartUnit = try c.decodeIfPresent(String.self, forKey: .restartUnit)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(kind, forKey: .kind)
        try c.encodeMilliseconds(interval, forKey: .intervalMilliseconds)
        try c.encodeMilliseconds(timeout, forKey: .timeoutMilliseconds)
        try c.encode(failuresBeforeUnhealthy, forKey: .failuresBeforeUnhealthy)
        try c.encode(successesBeforeHealthy, forKey: .successesBeforeHealthy)
        try c.encode(critical, forKey: .critical)
        try c.encodeIfPresent(restartUnit, forKey: .restartUnit)
    }
}

extension HealthCheck {
    /// The short form `sfha service add --check` takes: `http://…`, `https://…`, `tcp:HOST:PORT`, `systemd:UNIT`
    /// or `exec:PROGRAM [ARGUMENT…]` (split on spaces, no quoting: sfha never runs a shell; anything that needs more
    /// goes in config.yml). `interval`/`timeout` are durations as config.yml writes them (`5s`, `500ms`); absent,
    /// a service check's defaults. Every part is validated as the loader validates the same check.
    public static func parseShortForm(
        _ text: String, service: String, interval: String? = nil, timeout: String? = nil, critical: Bool = false
    ) throws(SFHAError) -> HealthCheck {
        func duration(_ text: String?, _ what: String, default fallback: Duration, range: ClosedRange<Duration>) throws(SFHAError) -> Duration {
            guard let text else { return fallback }
            switch DurationParser.parse(text, defaultUnit: .seconds) {
            case .failure(let problem):
                throw SFHAError(.invalidArgument, "the check \(what) '\(text)' is not a duration: \(problem.message) (write 5s or 500ms)")
            case .success(let value):
                guard range.contains(value) else {
                    throw SFHAError(.invalidArgument, "the check \(what) \(value.sfhaText) is out of range (\(range.lowerBound.sfhaText) to \(range.upperBound.sfhaText))")
                }
                return value
            }
        }
        let kind: Kind
        if text.hasPrefix("http://") || text.hasPrefix("https://") {
            switch Validators.httpURL(text) {
            case .failure(let problem): throw SFHAError(.invalidArgument, "--check \(problem.message)")
            case .success(let url): kind = url.scheme?.lowercased() == "https" ? .https(url, verifyCertificate: true) : .http(url)
            }
        } else if text.hasPrefix("tcp:") {
            switch Validators.hostPort(String(text.dropFirst(4))) {
            case .failure(let problem): throw SFHAError(.invalidArgument, "--check tcp: \(problem.message)")
            case .success(let hostPort): kind = .tcp(host: hostPort.host, port: hostPort.port)
            }
        } else if text.hasPrefix("systemd:") {
            let unit = String(text.dropFirst(8))
            if let problem = Validators.unitName(unit) {
                throw SFHAError(.invalidArgument, "--check systemd: '\(unit)' is not a valid unit name: \(problem)")
            }
            kind = .systemd(unit: unit)
        } else if text.hasPrefix("exec:") {
            let arguments = text.dropFirst(5).split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard let program = arguments.first else {
                throw SFHAError(.invalidArgument, "--check exec: needs a program, e.g. exec:/usr/local/bin/check-web --quiet")
            }
            guard !program.hasPrefix("-"), !program.contains("/") || program.hasPrefix("/") else {
                throw SFHAError(.invalidArgument, "--check exec: '\(program)' is not a program: expected an absolute path or a name looked up in PATH")
            }
            guard !arguments.contains(where: { $0.contains("\0") || $0.contains("\n") }) else {
                throw SFHAError(.invalidArgument, "--check exec: arguments cannot contain NUL or newline characters")
            }
            kind = .exec(arguments: arguments)
        } else {
            throw SFHAError(
                .invalidArgument,
                "--check '\(text)' is not a check: expected http://…, https://…, tcp:HOST:PORT, systemd:UNIT or exec:PROGRAM [ARGUMENT…]")
        }
        let everyRange: ClosedRange<Duration> = .milliseconds(100) ... .seconds(3600)
        let timeoutRange: ClosedRange<Duration> = .milliseconds(100) ... .seconds(600)
        let every = try duration(interval, "interval", default: defaultServiceInterval, range: everyRange)
        let limit = try duration(timeout, "timeout", default: min(defaultServiceTimeout, every), range: timeoutRange)
        guard limit <= every else {
            throw SFHAError(.invalidArgument, "the check timeout (\(limit.sfhaText)) is longer than its interval (\(every.sfhaText))")
        }
        return HealthCheck(name: service, kind: kind, interval: every, timeout: limit, critical: critical)
    }
}
