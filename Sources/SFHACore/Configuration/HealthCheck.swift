import Foundation

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
