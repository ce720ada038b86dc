import CSFHAShim
import Foundation
import Logging
import SFHABase
import Synchronization
import Testing

@testable import SFHACore

#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under /tmp (short, so socket paths stay far below the 107-byte limit), removed by `remove()`.
struct ControlTestDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/sfctl.XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard created != nil else { throw SFHAError(.io, "mkdtemp failed: \(String(cString: strerror(errno)))") }
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `run/sfhad.sock` inside the directory (`run` does not exist yet: the server creates it).
    var socketPath: String { path + "/run/sfhad.sock" }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

// MARK: - Payloads of the test routes

struct ControlTestNode: Codable, Sendable, Equatable {
    var name: String
    var id: Int
    var online: Bool
    var addresses: [String]
    var resources: [String]
}

/// About 2 KB of JSON, like a real `status` answer.
struct ControlTestStatus: Codable, Sendable, Equatable {
    var cluster: String
    var quorate: Bool
    var nodes: [ControlTestNode]
    var generatedBy: String

    static let sample = ControlTestStatus(
        cluster: "prod-eu", quorate: true,
        nodes: (1...12).map { index in
            ControlTestNode(
                name: "node-\(index).example.internal", id: index, online: index != 4,
                addresses: ["10.0.0.\(index)", "fd00::\(index)"],
                resources: ["vip-web-\(index)", "service-nginx", "service-postgres-\(index)"])
        },
        generatedBy: "sfhad test")
}

struct ControlTestEcho: Codable, Sendable, Equatable {
    var text: String
    var count: Int?
}

struct ControlTestEchoAnswer: Codable, Sendable, Equatable {
    var text: String
    var count: Int
    var method: String
}

struct ControlTestFailover: Codable, Sendable, Equatable {
    var to: String?
}

struct ControlTestFailoverAnswer: Codable, Sendable, Equatable {
    var group: String
    var to: String
}

struct ControlTestQueryAnswer: Codable, Sendable, Equatable {
    var query: [String: String]
    var json: Bool
}

struct ControlTestPeerAnswer: Codable, Sendable, Equatable {
    var pid: Int32
    var uid: UInt32
    var gid: UInt32
}

/// Lets a test hold handlers inside their handler until it opens the gate, and know how many are waiting.
final class ControlTestGate: Sendable {
    private let state = Mutex<(open: Bool, waiting: Int, waiters: [CheckedContinuation<Void, Never>])>((false, 0, []))

    func pass() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                state.waiting += 1
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    var waiting: Int { state.withLock { $0.waiting } }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }

    /// Waits until `count` handlers are inside `pass()`; throws `timeout` after 20 s.
    func waitForWaiting(_ count: Int) async throws {
        try await waitUntil("\(count) handler(s) waiting at the gate", within: .seconds(20)) { waiting >= count }
    }
}

enum ControlTestRoutes {
    /// The router most tests use.
    static func router(gate: ControlTestGate? = nil) -> ControlRouter {
        var router = ControlRouter()
        router.get("/v1/status") { _ in ControlTestStatus.sample }
        router.post("/v1/echo", body: ControlTestEcho.self) { request, echo in
            ControlTestEchoAnswer(text: echo.text, count: echo.count ?? 1, method: request.method)
        }
        router.post("/v1/groups/{name}/failover", body: ControlTestFailover.self) { request, body in
            ControlTestFailoverAnswer(group: try request.parameter("name"), to: body.to ?? "(any)")
        }
        router.get("/v1/query") { request in ControlTestQueryAnswer(query: request.query, json: request.flag("json")) }
        router.get("/v1/peer") { request in
            ControlTestPeerAnswer(pid: request.peer.pid, uid: request.peer.uid, gid: request.peer.gid)
        }
        router.get("/v1/fail/{code}") { request -> ControlEmpty in
            let code = try request.parameter("code")
            throw SFHAError(SFHAError.Code(rawValue: code), "failing on purpose with \(code)")
        }
        if let gate {
            router.post("/v1/slow") { _ in
                await gate.pass()
                return ControlEmpty()
            }
        }
        return router
    }
}

/// Starts a server on a fresh socket, runs `body`, then stops the server and removes the directory.
func withControlServer(
    router: ControlRouter = ControlTestRoutes.router(),
    configuration: ControlServerConfiguration = ControlServerConfiguration(),
    logger: Logger = quietControlLogger,
    _ body: (ControlServer, ControlClient, ControlTestDirectory) async throws -> Void
) async throws {
    let directory = try ControlTestDirectory()
    defer { directory.remove() }
    let server = ControlServer(
        socketPath: directory.socketPath, router: router, configuration: configuration, logger: logger)
    try server.start()
    let client = ControlClient(socketPath: directory.socketPath, timeout: .seconds(20))
    do {
        try await body(server, client, directory)
    } catch {
        await server.stop(gracePeriod: .seconds(1))
        throw error
    }
    await server.stop(gracePeriod: .seconds(1))
}

/// Servers in tests log only what would be a real problem (their warnings are expected here).
let quietControlLogger: Logger = {
    var logger = Logger(label: "sfha.control.test")
    logger.logLevel = .critical
    return logger
}()

/// Splits a raw HTTP answer into status, lower-case header fields and body.
func parseRawControlResponse(_ bytes: [UInt8]) -> ControlHTTPResponse? {
    guard let end = ControlHTTP.headEnd(in: bytes), let head = ControlHTTP.parseResponseHead(bytes[0..<end]) else {
        return nil
    }
    return ControlHTTPResponse(status: head.status, headers: head.headers, body: Array(bytes[end...]))
}

/// The wire error of a raw answer.
func controlErrorBody(_ response: ControlHTTPResponse?) -> ControlErrorBody? {
    guard let response else { return nil }
    return try? JSONDecoder().decode(ControlErrorBody.self, from: Data(response.body))
}

/// Leaves a socket file at `path` that nobody listens on (a crashed sfhad's leftover).
func makeStaleControlSocket(at path: String) throws {
    let fd = sfha_unix_socket(0)
    guard fd >= 0 else { throw SFHAError(.io, "socket failed") }
    defer { close(fd) }
    guard sfha_unix_bind(fd, path) == 0 else {
        throw SFHAError(.io, "bind \(path) failed: \(String(cString: strerror(errno)))")
    }
}

/// File mode bits and group of `path`.
func controlFileInfo(_ path: String) -> (mode: mode_t, gid: gid_t, isSocket: Bool)? {
    var info = stat()
    guard lstat(path, &info) == 0 else { return nil }
    return (info.st_mode & 0o7777, info.st_gid, info.st_mode & S_IFMT == S_IFSOCK)
}

/// Waits until `condition` holds, checking every few milliseconds; throws `timeout` (naming `what`) after `limit`.
func waitUntil(_ what: String, within limit: Duration, _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + limit
    while !condition() {
        guard ContinuousClock.now < deadline else {
            throw SFHAError(.timeout, "\(what) did not happen within \(limit)")
        }
        try await Task.sleep(for: .milliseconds(5))
    }
}

/// Keeps every line a logger writes, for tests that count them.
final class ControlLogRecorder: Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private struct Handler: LogHandler {
        let recorder: ControlLogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            recorder.lines.withLock {
                $0.append(Line(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
            }
        }
    }

    private let lines = Mutex<[Line]>([])

    var all: [Line] { lines.withLock { $0 } }

    /// Lines at `warning` or above whose message contains `text`.
    func warnings(containing text: String) -> [Line] {
        all.filter { $0.level >= .warning && $0.message.contains(text) }
    }

    var logger: Logger {
        Logger(label: "sfha.control.test") { _ in Handler(recorder: self) }
    }
}

/// Raw client connections that misbehave on purpose (stay silent, or send a byte at a time), driven by a thread of
/// their own so that their pace does not depend on the test's task scheduling. Records what each one received and
/// when the server closed it.
final class ControlMisbehavingClients: Sendable {
    struct Connection: Sendable {
        var fd: Int32
        var slow: Bool
        var connectedAt: ContinuousClock.Instant
        var received: [UInt8] = []
        var closedAt: ContinuousClock.Instant?

        var response: ControlHTTPResponse? { parseRawControlResponse(received) }
        /// From connect to the server closing the connection.
        var heldFor: Duration? { closedAt.map { $0 - connectedAt } }
    }

    /// What a slow client starts with; it then sends one more header byte per period, never finishing.
    static let slowStart = Array("GET /v1/status HTTP/1.1\r\nX-Slow: ".utf8)

    private let state = Mutex<(connections: [Connection], running: Bool)>(([], true))
    private let stopped = Mutex(false)

    /// Opens `idle` silent connections, then `slow` ones that send `slowStart` and then one byte every `period`.
    init(socketPath: String, idle: Int, slow: Int, period: Duration) throws {
        var opened: [Connection] = []
        for index in 0..<(idle + slow) {
            // Before connect: the server cannot have accepted the connection earlier.
            let connecting = ContinuousClock.now
            switch ControlSocket.connect(to: socketPath, until: .now + .seconds(10)) {
            case .success(let fd):
                let isSlow = index >= idle
                if isSlow { _ = ControlSocket.writeAvailable(fd, Self.slowStart, from: 0) }
                opened.append(Connection(fd: fd, slow: isSlow, connectedAt: connecting))
            case .failure(let failure):
                opened.forEach { close($0.fd) }
                throw SFHAError(.io, "could not connect to \(socketPath): \(ControlSocket.describe(errno: failure.errno))")
            }
        }
        state.withLock { $0.connections = opened }
        Thread.detachNewThread { [self] in drive(period: period) }
    }

    private func drive(period: Duration) {
        let (seconds, attoseconds) = period.components
        var pause = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        while state.withLock({ $0.running }) {
            state.withLock { state in
                for index in state.connections.indices where state.connections[index].closedAt == nil {
                    if state.connections[index].slow {
                        _ = ControlSocket.writeAvailable(state.connections[index].fd, [UInt8(ascii: "x")], from: 0)
                    }
                    Self.collect(&state.connections[index])
                }
            }
            nanosleep(&pause, nil)
        }
        state.withLock { state in state.connections.forEach { close($0.fd) } }
        stopped.withLock { $0 = true }
    }

    private static func collect(_ connection: inout Connection) {
        while true {
            switch ControlSocket.readAvailable(connection.fd, into: &connection.received, limit: 4096) {
            case .transferred: continue
            case .wouldBlock: return
            case .endOfFile, .failed: connection.closedAt = .now; return
            }
        }
    }

    /// Reads what arrived on every connection right now and returns them all.
    var connections: [Connection] {
        state.withLock { state in
            for index in state.connections.indices where state.connections[index].closedAt == nil {
                Self.collect(&state.connections[index])
            }
            return state.connections
        }
    }

    /// Stops the driving thread and closes every connection.
    func stop() async throws {
        state.withLock { $0.running = false }
        try await waitUntil("the misbehaving clients' thread to stop", within: .seconds(30)) { stopped.withLock { $0 } }
    }
}
