import Foundation
import SFHABase

#if canImport(Glibc)
import Glibc
#endif

/// The real probes for every `HealthCheck.Kind`.
///
/// - http: in-process — a TCP connection and a `GET` (HTTP/1.1, `Connection: close`), healthy on a 2xx or 3xx
///   status line (redirects are not followed). No program, no libcurl.
/// - https: `curl` with an argument array: certificate verification stays on unless the check says
///   `verifyCertificate: false` (then `--insecure`); healthy on 2xx/3xx. (Foundation's URLSession would pull
///   FoundationNetworking + libcurl into the daemon; swift-nio-ssl would add its own BoringSSL and minutes of build:
///   one `curl` per interval costs a few milliseconds, see the report.)
/// - tcp: in-process non-blocking connect with a deadline, IPv4 and IPv6 (literals or names).
/// - systemd: `systemctl is-active UNIT` exits 0.
/// - exec: the program (no shell) exits 0 within the timeout.
///
/// In-process probes run on a thread of their own inside `namespace`; program probes run through `runner`.
public struct SystemHealthProbe: HealthProbe {
    public var runner: any ProgramRunner
    public var namespace: NetworkNamespace

    public init(runner: any ProgramRunner = SystemProgramRunner(), namespace: NetworkNamespace = .current) {
        self.runner = runner
        self.namespace = namespace
    }

    public func probe(_ kind: HealthCheck.Kind, timeout: Duration) async -> ProbeResult {
        switch kind {
        case .http(let url):
            guard let target = HTTPTarget(url) else { return .unhealthy("unsupported URL \(url.absoluteString)") }
            return await onThread { HTTPProbe.get(target, timeout: timeout) }
        case .https(let url, let verify):
            return await https(url, verifyCertificate: verify, timeout: timeout)
        case .tcp(let host, let port):
            return await onThread { TCPProbe.check(host: host, port: port, timeout: timeout) }
        case .systemd(let unit):
            do {
                try UnitName.validate(unit)
                let result = try await runner.run("systemctl", ["is-active", unit], timeout: timeout)
                let state = result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
                if result.timedOut { return .unhealthy("timeout") }
                return result.exitCode == 0 ? .healthy(state) : .unhealthy(state.isEmpty ? "exit \(result.exitCode)" : state)
            } catch {
                return .unhealthy(error.message)
            }
        case .exec(let arguments):
            guard let program = arguments.first, !program.isEmpty else { return .unhealthy("no program to run") }
            do {
                let result = try await runner.run(program, Array(arguments.dropFirst()), timeout: timeout)
                if result.timedOut { return .unhealthy("timeout") }
                return result.exitCode == 0 ? .healthy("exit 0") : .unhealthy("exit \(result.exitCode)")
            } catch {
                return .unhealthy(error.message)
            }
        }
    }

    private func https(_ url: URL, verifyCertificate: Bool, timeout: Duration) async -> ProbeResult {
        guard url.scheme?.lowercased() == "https" else { return .unhealthy("not an https URL: \(url.absoluteString)") }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        var arguments = [
            "--silent", "--show-error", "--output", "/dev/null", "--write-out", "%{http_code}",
            "--max-time", String(format: "%.3f", max(seconds, 0.001)), "--proto", "=https", "--noproxy", "*",
        ]
        if !verifyCertificate { arguments.append("--insecure") }
        arguments += ["--", url.absoluteString]
        do {
            let result = try await runner.run("curl", arguments, timeout: timeout + .seconds(1))
            if result.timedOut || result.exitCode == 28 { return .unhealthy("timeout") }
            let code = Int(result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            guard result.exitCode == 0 else {
                let detail = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
                return .unhealthy("curl exit \(result.exitCode)" + (detail.isEmpty ? "" : ": \(detail)"))
            }
            return (200..<400).contains(code) ? .healthy("HTTP \(code)") : .unhealthy("HTTP \(code)")
        } catch {
            return .unhealthy(error.message)
        }
    }

    /// Runs blocking socket work on a fresh thread inside the namespace.
    private func onThread(_ body: @escaping @Sendable () -> ProbeResult) async -> ProbeResult {
        let namespace = namespace
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                do throws(SFHAError) {
                    try namespace.enterForThread()
                } catch {
                    continuation.resume(returning: .unhealthy(error.message))
                    return
                }
                continuation.resume(returning: body())
            }
        }
    }
}

/// Host, port and request target of an http URL.
struct HTTPTarget: Sendable, Equatable {
    var host: String
    var port: UInt16
    var path: String
    var hostHeader: String

    init?(_ url: URL) {
        guard url.scheme?.lowercased() == "http", var host = url.host, !host.isEmpty else { return nil }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let port = url.port ?? 80
        guard (1...65535).contains(port) else { return nil }
        self.host = host
        self.port = UInt16(port)
        var path = url.path.isEmpty ? "/" : url.path
        if let query = url.query { path += "?" + query }
        self.path = path
        let bracketed = host.contains(":") ? "[\(host)]" : host
        hostHeader = port == 80 ? bracketed : "\(bracketed):\(port)"
    }
}

enum HTTPProbe {
    /// A GET on a fresh connection; healthy on a 2xx/3xx status.
    static func get(_ target: HTTPTarget, timeout: Duration) -> ProbeResult {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        let connection = TCPProbe.connect(host: target.host, port: target.port, timeout: timeout)
        guard let fd = connection.fd else { return connection.result }
        defer { close(fd) }
        let request = Array(
            ("GET \(target.path) HTTP/1.1\r\nHost: \(target.hostHeader)\r\nUser-Agent: sfha-health\r\n"
                + "Accept: */*\r\nConnection: close\r\n\r\n").utf8)
        var sent = 0
        while sent < request.count {
            guard TCPProbe.wait(fd, for: Int16(POLLOUT), until: deadline, clock) else { return .unhealthy("timeout") }
            let count = request[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                return .unhealthy("send: \(String(cString: strerror(errno)))")
            }
            sent += count
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !response.contains(UInt8(ascii: "\n")) && response.count < 8192 {
            guard TCPProbe.wait(fd, for: Int16(POLLIN), until: deadline, clock) else { return .unhealthy("timeout") }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                return .unhealthy("receive: \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            response += buffer[0..<count]
        }
        guard let code = statusCode(response) else { return .unhealthy("no HTTP status line") }
        return (200..<400).contains(code) ? .healthy("HTTP \(code)") : .unhealthy("HTTP \(code)")
    }

    /// The status of `HTTP/1.x NNN reason`.
    static func statusCode(_ response: [UInt8]) -> Int? {
        let line = String(decoding: response.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        let parts = line.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), parts[1].count == 3, let code = Int(parts[1]) else { return nil }
        return code
    }
}

enum TCPProbe {
    /// A connected non-blocking socket (caller closes it), or why not.
    static func connect(host: String, port: UInt16, timeout: Duration) -> (fd: Int32?, result: ProbeResult) {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV | (IPAddress(host) != nil ? AI_NUMERICHOST : 0)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            return (nil, .unhealthy("cannot resolve \(host): \(String(cString: gai_strerror(status)))"))
        }
        defer { freeaddrinfo(first) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            entry = current.pointee.ai_next
            let fd = socket(
                current.pointee.ai_family,
                Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { continue }
            if Glibc.connect(fd, current.pointee.ai_addr, current.pointee.ai_addrlen) == 0 {
                return (fd, .healthy("connected"))
            }
            guard errno == EINPROGRESS else {
                lastError = String(cString: strerror(errno))
                close(fd)
                continue
            }
            guard wait(fd, for: Int16(POLLOUT), until: deadline, clock) else {
                close(fd)
                return (nil, .unhealthy("timeout"))
            }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error == 0 { return (fd, .healthy("connected")) }
            lastError = String(cString: strerror(error))
            close(fd)
        }
        return (nil, .unhealthy("connect to \(host) port \(port): \(lastError)"))
    }

    /// Polls for `events` until the deadline; false on timeout.
    static func wait(_ fd: Int32, for events: Int16, until deadline: ContinuousClock.Instant, _ clock: ContinuousClock) -> Bool {
        while true {
            let remaining = deadline - clock.now
            guard remaining > .zero else { return false }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&entry, 1, max(1, SystemCall.milliseconds(remaining)))
            if ready < 0 && errno == EINTR { continue }
            return ready > 0
        }
    }
}

extension TCPProbe {
    static func check(host: String, port: UInt16, timeout: Duration) -> ProbeResult {
        let (fd, result) = connect(host: host, port: port, timeout: timeout)
        if let fd { close(fd) }
        return result
    }
}
