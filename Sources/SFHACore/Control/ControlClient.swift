import Foundation
import SFHABase

#if canImport(Glibc)
import Glibc
#endif

/// A raw answer from sfhad: status, header fields (lower-case names) and body.
public struct ControlHTTPResponse: Sendable, Equatable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int, headers: [String: String] = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public var isSuccess: Bool { (200..<300).contains(status) }

    /// The `SFHAError` an error answer carries (`{"code","message"}`), or one derived from the status when the
    /// body is not an error object. nil for 2xx.
    public var error: SFHAError? {
        guard !isSuccess else { return nil }
        if let wire = try? ControlJSON.decoder().decode(ControlErrorBody.self, from: Data(body)) { return wire.error }
        let text = String(decoding: body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return SFHAError(
            ControlStatus.code(for: status),
            "sfhad answered HTTP \(status) \(ControlStatus.reason(status))" + (text.isEmpty ? "" : ": \(text)"))
    }
}

extension SFHAError.Code {
    /// Nothing listens on the control socket (no socket file, or a stale one): sfhad is not running. Only the
    /// client reports it; a daemon that is there but cannot answer is `unavailable` or `timeout`.
    public static let notRunning = SFHAError.Code(rawValue: "not_running")
}

/// Talks to sfhad's control socket: one HTTP/1.1 request per connection, JSON in and out, errors as `SFHAError`.
///
/// When nothing listens on the socket the error is `not_running` with a hint to start sfhad, so a CLI command can
/// fall back to what it can do without the daemon. A daemon that is running but does not answer is a different
/// error (`timeout`; `unavailable` when it is busy, shutting down, or closed the connection without an answer).
public struct ControlClient: Sendable {
    public var socketPath: String
    /// Whole exchange: connect, write, read the answer.
    public var timeout: Duration
    /// Longest answer accepted.
    public var maxResponseBytes: Int

    /// How much longer than the server's handler timeout a client waits: enough for the server to cancel the
    /// handler and write its 504, so the operator learns the request timed out in sfhad, not merely that no answer
    /// came.
    public static let handlerTimeoutMargin: Duration = .seconds(5)
    /// The server's default handler timeout plus `handlerTimeoutMargin`.
    public static let defaultTimeout: Duration = ControlServerConfiguration.defaultHandlerTimeout + handlerTimeoutMargin

    public init(
        socketPath: String = ControlServer.defaultSocketPath, timeout: Duration = ControlClient.defaultTimeout,
        maxResponseBytes: Int = 64 << 20
    ) {
        self.socketPath = socketPath
        self.timeout = timeout
        self.maxResponseBytes = maxResponseBytes
    }

    /// Sends `body` (JSON) with `method` to `path` (which may carry a query: `/v1/status?json=1`) and decodes the
    /// JSON answer. Error answers become the `SFHAError` they carry.
    public func send<Response: Decodable>(_ method: String, _ path: String, body: (some Encodable)?)
        async throws(SFHAError) -> Response
    {
        let bytes: [UInt8]?
        if let body {
            do {
                bytes = try ControlJSON.encode(body)
            } catch {
                throw SFHAError(.invalidArgument, "could not encode the request body for \(method) \(path)", cause: error)
            }
        } else {
            bytes = nil
        }
        return try decode(try await exchange(method, path, body: bytes), method, path)
    }

    /// Sends a request without a body.
    public func send<Response: Decodable>(_ method: String, _ path: String) async throws(SFHAError) -> Response {
        try decode(try await exchange(method, path, body: nil), method, path)
    }

    public func get<Response: Decodable>(_ path: String, as type: Response.Type = Response.self) async throws(SFHAError)
        -> Response
    {
        try await send("GET", path)
    }

    public func post<Response: Decodable>(_ path: String, body: some Encodable, as type: Response.Type = Response.self)
        async throws(SFHAError) -> Response
    {
        try await send("POST", path, body: body)
    }

    public func delete<Response: Decodable>(_ path: String, as type: Response.Type = Response.self)
        async throws(SFHAError) -> Response
    {
        try await send("DELETE", path)
    }

    /// One exchange without interpretation: any status comes back as a value. Throws only when there is no
    /// answer (no server, timeout, broken connection).
    public func exchange(_ method: String, _ path: String, body: [UInt8]?) async throws(SFHAError) -> ControlHTTPResponse {
        let client = self
        // Blocking socket I/O stays off the cooperative pool.
        return try await ControlBlockingExecutor.shared.result { client.exchangeBlocking(method, path, body: body) }.get()
    }

    /// Builds a path from segments (each percent-encoded) and query parameters:
    /// `path("v1", "groups", name, "failover")` → `/v1/groups/web%20app/failover`.
    public static func path(_ segments: String..., query: [String: String] = [:]) -> String {
        var result = "/" + segments.map(ControlHTTP.percentEncode).joined(separator: "/")
        if !query.isEmpty {
            result += "?" + query.sorted { $0.key < $1.key }
                .map { "\(ControlHTTP.percentEncode($0.key))=\(ControlHTTP.percentEncode($0.value))" }
                .joined(separator: "&")
        }
        return result
    }

    private func decode<Response: Decodable>(_ response: ControlHTTPResponse, _ method: String, _ path: String)
        throws(SFHAError) -> Response
    {
        if let error = response.error { throw error }
        let isBlank = response.body.allSatisfy { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        do {
            return try ControlJSON.decoder().decode(Response.self, from: Data(isBlank ? Array("{}".utf8) : response.body))
        } catch {
            throw SFHAError(
                .internalError,
                "sfhad's answer to \(method) \(path) is not the expected \(Response.self) (are sfha and sfhad the same version?): \(ControlJSON.describe(error))")
        }
    }

    // MARK: - Blocking I/O

    private func exchangeBlocking(_ method: String, _ target: String, body: [UInt8]?) -> Result<ControlHTTPResponse, SFHAError> {
        guard !method.isEmpty, method.utf8.allSatisfy(ControlHTTP.isTokenByte) else {
            return .failure(SFHAError(.invalidArgument, "invalid HTTP method '\(method)'"))
        }
        guard target.hasPrefix("/"), target.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return .failure(SFHAError(
                .invalidArgument, "invalid control API path '\(target)': it must start with '/' and be percent-encoded"))
        }
        let deadline = ContinuousClock.now + timeout
        let fd: Int32
        switch connect(until: deadline) {
        case .success(let connected): fd = connected
        case .failure(let error): return .failure(error)
        }
        defer { close(fd) }
        let what = "\(method) \(target)"
        switch ControlSocket.write(fd, ControlHTTP.serializeRequest(method: method, target: target, body: body), until: deadline) {
        case .written, .failed:
            // A server that answers early (413, 403) closes while we still write: its answer is still readable.
            break
        case .timedOut:
            return .failure(SFHAError(.timeout, "sfhad did not take the request \(what) within \(ControlServer.describe(timeout))"))
        }
        return readResponse(fd, what: what, headOnly: method == "HEAD", until: deadline)
    }

    private func connect(until deadline: ContinuousClock.Instant) -> Result<Int32, SFHAError> {
        do {
            try ControlSocket.validate(path: socketPath)
        } catch {
            return .failure(error)
        }
        switch ControlSocket.connect(to: socketPath, until: deadline) {
        case .success(let fd):
            return .success(fd)
        case .failure(let failure):
            let path = socketPath
            switch failure.errno {
            case ENOENT, ENOTDIR:
                return .failure(SFHAError(
                    .notRunning, "sfhad is not running (no control socket at \(path)); start it with 'systemctl start sfhad'"))
            case ECONNREFUSED:
                return .failure(SFHAError(
                    .notRunning,
                    "sfhad is not running (no control socket at \(path) accepts connections); start it with 'systemctl start sfhad'"))
            case EACCES, EPERM:
                return .failure(SFHAError(
                    .unauthorized, "permission denied on the control socket \(path): run sfha as root"))
            case ETIMEDOUT:
                return .failure(SFHAError(
                    .timeout,
                    "sfhad did not accept a connection on \(path) within \(ControlServer.describe(timeout)) (its listen backlog stayed full)"))
            default:
                // Neither "not running" nor "running but busy": whether sfhad runs is unknown.
                return .failure(SFHAError(
                    .io, "cannot connect to sfhad at \(path): \(ControlSocket.describe(errno: failure.errno))"))
            }
        }
    }

    private func readResponse(_ fd: Int32, what: String, headOnly: Bool, until deadline: ContinuousClock.Instant)
        -> Result<ControlHTTPResponse, SFHAError>
    {
        var buffer: [UInt8] = []
        var head: ControlHTTP.ResponseHead?
        var bodyStart = 0
        var searchFrom = 0
        let headLimit = 64 * 1024
        func incomplete(_ detail: String) -> Result<ControlHTTPResponse, SFHAError> {
            .failure(SFHAError(.unavailable, "sfhad closed the connection before answering \(what) completely (\(detail))"))
        }
        while true {
            // Parse every complete head; skip interim 1xx answers.
            while head == nil, let end = ControlHTTP.headEnd(in: buffer, from: max(bodyStart, searchFrom - 3)) {
                guard let parsed = ControlHTTP.parseResponseHead(buffer[bodyStart..<end]) else {
                    return .failure(SFHAError(.internalError, "sfhad sent a malformed HTTP answer to \(what)"))
                }
                bodyStart = end
                searchFrom = end
                if parsed.status >= 200 { head = parsed }
            }
            if let head, headOnly {
                return .success(ControlHTTPResponse(status: head.status, headers: head.headers))
            }
            if let head {
                let received = buffer.count - bodyStart
                if let lengthText = head.headers["content-length"] {
                    guard let length = Int(lengthText), length >= 0, length <= maxResponseBytes else {
                        return .failure(SFHAError(.internalError, "sfhad sent an invalid Content-Length '\(lengthText)' for \(what)"))
                    }
                    if received >= length {
                        return .success(ControlHTTPResponse(
                            status: head.status, headers: head.headers, body: Array(buffer[bodyStart..<(bodyStart + length)])))
                    }
                } else if received > maxResponseBytes {
                    return .failure(SFHAError(.internalError, "sfhad's answer to \(what) exceeds \(maxResponseBytes) bytes"))
                }
            } else if buffer.count - bodyStart > headLimit {
                return .failure(SFHAError(.internalError, "sfhad's answer to \(what) has a header larger than \(headLimit) bytes"))
            }
            searchFrom = buffer.count
            switch ControlSocket.read(fd, into: &buffer, limit: 64 * 1024, until: deadline) {
            case .data:
                continue
            case .endOfFile, .failed(ECONNRESET):
                guard let head else { return incomplete(buffer.isEmpty ? "no answer" : "partial header") }
                if head.headers["content-length"] != nil { return incomplete("body shorter than Content-Length") }
                return .success(ControlHTTPResponse(status: head.status, headers: head.headers, body: Array(buffer[bodyStart...])))
            case .failed(let error):
                return incomplete(ControlSocket.describe(errno: error))
            case .timedOut:
                return .failure(SFHAError(
                    .timeout,
                    "sfhad did not answer \(what) within \(ControlServer.describe(timeout)); it accepted the connection, so it is running but stuck or overloaded: see 'journalctl -u sfhad'"))
            }
        }
    }

    // MARK: - Raw access (tests, diagnostics)

    /// Connects, writes `bytes` as they are (optionally shutting down the write side), and returns everything the
    /// server sends until it closes the connection or `timeout` passes.
    func rawExchange(_ bytes: [UInt8], shutdownWrite: Bool = true) async throws(SFHAError) -> [UInt8] {
        let client = self
        let outcome: Result<[UInt8], SFHAError> = await ControlBlockingExecutor.shared.result {
            let deadline = ContinuousClock.now + client.timeout
            switch client.connect(until: deadline) {
            case .failure(let error):
                return .failure(error)
            case .success(let fd):
                defer { close(fd) }
                _ = ControlSocket.write(fd, bytes, until: deadline)
                if shutdownWrite { shutdown(fd, Int32(SHUT_WR)) }
                var received: [UInt8] = []
                while case .data = ControlSocket.read(fd, into: &received, limit: 64 * 1024, until: deadline) {}
                return .success(received)
            }
        }
        return try outcome.get()
    }
}
