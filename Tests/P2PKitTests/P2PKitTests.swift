import Foundation
import Logging
import SFHABase
import ServiceLifecycle
import Synchronization
import Testing

@testable import P2PKit

#if canImport(Glibc)
import Glibc
#endif

@Suite("P2P: signatures and the authenticator", .timeLimit(.minutes(1)))
struct P2PAuthenticationTests {
    static let key = P2PKey.generate()
    static let now: Int64 = 1_800_000_000

    static func signed(_ method: String = "POST", _ path: String = "/v1/ping", body: [UInt8] = Array("{}".utf8), key: P2PKey = key, at time: Int64 = now, nonce: String = P2PSignature.newNonce())
        -> (timestamp: String, nonce: String, signature: String)
    {
        (String(time), nonce, P2PSignature.request(method: method, path: path, timestamp: time, nonce: nonce, body: body, key: key))
    }

    @Test func aSignedRequestPassesOnceAndEveryAlterationFails() {
        let authenticator = P2PAuthenticator()
        let body = Array("{}".utf8)
        let good = Self.signed()
        #expect(authenticator.verify(method: "POST", path: "/v1/ping", timestamp: good.timestamp, nonce: good.nonce, signature: good.signature, body: body, key: Self.key, now: Self.now) == nil)
        #expect(authenticator.verify(method: "POST", path: "/v1/ping", timestamp: good.timestamp, nonce: good.nonce, signature: good.signature, body: body, key: Self.key, now: Self.now) == .replayed)

        let fresh = Self.signed()
        let cases: [(String, P2PAuthenticator.Refusal, String?, String?, String?, String, String, [UInt8], Int64)] = [
            ("unsigned", .missingHeaders, nil, nil, nil, "POST", "/v1/ping", body, Self.now),
            ("tampered body", .badSignature, fresh.timestamp, fresh.nonce, fresh.signature, "POST", "/v1/ping", Array("{ }".utf8), Self.now),
            ("another path", .badSignature, fresh.timestamp, fresh.nonce, fresh.signature, "POST", "/v1/leave", body, Self.now),
            ("another method", .badSignature, fresh.timestamp, fresh.nonce, fresh.signature, "GET", "/v1/ping", body, Self.now),
            ("stale", .stale(skew: -31), fresh.timestamp, fresh.nonce, fresh.signature, "POST", "/v1/ping", body, Self.now + 31),
            ("future", .stale(skew: 31), fresh.timestamp, fresh.nonce, fresh.signature, "POST", "/v1/ping", body, Self.now - 31),
            ("malformed time", .malformedHeaders, "+18", fresh.nonce, fresh.signature, "POST", "/v1/ping", body, Self.now),
            ("malformed nonce", .malformedHeaders, fresh.timestamp, "xyz", fresh.signature, "POST", "/v1/ping", body, Self.now),
            ("malformed signature", .badSignature, fresh.timestamp, fresh.nonce, "zz", "POST", "/v1/ping", body, Self.now),
        ]
        for (what, refusal, timestamp, nonce, signature, method, path, requestBody, time) in cases {
            #expect(authenticator.verify(method: method, path: path, timestamp: timestamp, nonce: nonce, signature: signature, body: requestBody, key: Self.key, now: time) == refusal, "\(what)")
        }
        let otherKey = Self.signed(key: P2PKey.generate())
        #expect(authenticator.verify(method: "POST", path: "/v1/ping", timestamp: otherKey.timestamp, nonce: otherKey.nonce, signature: otherKey.signature, body: body, key: Self.key, now: Self.now) == .badSignature)
        // The refused ones were not remembered: the untouched fresh request still passes.
        #expect(authenticator.verify(method: "POST", path: "/v1/ping", timestamp: fresh.timestamp, nonce: fresh.nonce, signature: fresh.signature, body: body, key: Self.key, now: Self.now) == nil)
    }

    @Test func theKeyFileRoundTripsAndTheKeyNeverShows() throws {
        let text = Self.key.fileText
        let again = try P2PKey(fileText: text)
        let signature = P2PSignature.answer(status: 200, requestNonce: "n", body: [1], key: again)
        #expect(P2PSignature.isValidAnswer(signature, status: 200, requestNonce: "n", body: [1], key: Self.key))
        #expect(!P2PSignature.isValidAnswer(signature, status: 200, requestNonce: "other", body: [1], key: Self.key))
        #expect("\(Self.key)" == "<P2P key>")
        #expect(throws: SFHAError.self) { try P2PKey(fileText: "c2hvcnQ=") }
    }
}

/// A server on 127.0.0.1 (port 0) run for the test's duration.
enum RunningServer {
    static func start(
        key: P2PKey, limits: P2PServer.Limits = P2PServer.Limits(), allowed: @escaping @Sendable (IPAddress?, String) -> Bool = { _, _ in true },
        handler: @escaping @Sendable (P2PRequest) async -> P2PAnswer = { request in P2PAnswer(status: 200, body: Array("{\"pong\":\"\(request.path)\"}".utf8)) }
    ) async throws -> (port: Int, calls: @Sendable () -> Int, stop: @Sendable () async -> Void) {
        let port = Mutex(0)
        let calls = Mutex(0)
        let server = P2PServer(
            host: "127.0.0.1", port: 0, key: key, limits: limits, logger: Logger(label: "p2p-test"), isAllowed: allowed,
            bound: { bound in port.withLock { $0 = bound } },
            handler: { request in
                calls.withLock { $0 += 1 }
                return await handler(request)
            })
        let group = ServiceGroup(services: [server], logger: Logger(label: "p2p-test"))
        let task = Task { try await group.run() }
        let deadline = ContinuousClock.now + .seconds(10)
        while port.withLock({ $0 }) == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        let bound = port.withLock { $0 }
        try #require(bound != 0, "the P2P server did not start")
        return (bound, { calls.withLock { $0 } }, {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
        })
    }
}

/// A connection to 127.0.0.1:port that sends nothing (-1 when it cannot connect).
func connectIdle(_ port: Int) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return -1 }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        close(fd)
        return -1
    }
    return fd
}

/// Reads until the peer closes or `wait` passes; returns what came.
func receiveAll(_ fd: Int32, wait: Duration) -> [UInt8] {
    var timeout = timeval(tv_sec: Int(wait.components.seconds), tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = recv(fd, &buffer, buffer.count, 0)
        guard count > 0 else { return received }
        received += buffer[0..<count]
    }
}

/// Sends raw bytes to 127.0.0.1:port and returns what comes back before the server closes (or `wait` passes).
func rawExchange(_ port: Int, _ bytes: [UInt8], wait: Duration = .seconds(5)) -> [UInt8] {
    let fd = connectIdle(port)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    return receiveAll(fd, wait: wait)
}

@Suite("P2P: server and client, hostile input", .serialized, .timeLimit(.minutes(2)))
struct P2PServerTests {
    static let key = P2PKey.generate()

    @Test func aSignedRequestIsAnsweredAndTheAnswerVerified() async throws {
        let server = try await RunningServer.start(key: Self.key)
        let answer = try await P2PClient(key: Self.key).send("POST", "/v1/ping", body: Array("{}".utf8), to: "127.0.0.1", port: server.port)
        #expect(answer.status == 200 && String(decoding: answer.body, as: UTF8.self) == "{\"pong\":\"/v1/ping\"}")
        #expect(server.calls() == 1)
        await server.stop()
    }

    @Test func refusedRequestsNeverReachTheHandlerAndTheServerKeepsServing() async throws {
        let server = try await RunningServer.start(key: Self.key, allowed: { _, path in path != "/v1/forbidden" })
        let client = P2PClient(key: Self.key)
        // Another cluster's key: 401, unsigned, so the client reports it.
        await #expect(throws: SFHAError.self) { try await P2PClient(key: P2PKey.generate()).send("POST", "/v1/ping", to: "127.0.0.1", port: server.port) }
        // A path this source may not call.
        await #expect(throws: SFHAError.self) { try await client.send("POST", "/v1/forbidden", to: "127.0.0.1", port: server.port) }
        // Unsigned, by hand.
        let unsigned = rawExchange(server.port, Array("POST /v1/ping HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".utf8))
        #expect(String(decoding: unsigned, as: UTF8.self).hasPrefix("HTTP/1.1 401"))
        // Malformed HTTP.
        let garbage = rawExchange(server.port, Array("\u{01}\u{02} NOT HTTP\r\n\r\n".utf8))
        #expect(String(decoding: garbage, as: UTF8.self).hasPrefix("HTTP/1.1 400") || garbage.isEmpty)
        // Too many header fields, too large a body.
        let fields = (0..<40).map { "X-F\($0): v\r\n" }.joined()
        let crowded = rawExchange(server.port, Array("POST /v1/ping HTTP/1.1\r\nHost: x\r\n\(fields)Content-Length: 0\r\n\r\n".utf8))
        #expect(String(decoding: crowded, as: UTF8.self).hasPrefix("HTTP/1.1 431"))
        await #expect(throws: SFHAError.self) {
            try await client.send("POST", "/v1/ping", body: [UInt8](repeating: 0x20, count: (1 << 20) + 1), to: "127.0.0.1", port: server.port)
        }
        #expect(server.calls() == 0)
        // Replayed: the same bytes twice; the second is refused.
        let nonce = P2PSignature.newNonce()
        let time = Int64(Date().timeIntervalSince1970)
        let signature = P2PSignature.request(method: "POST", path: "/v1/ping", timestamp: time, nonce: nonce, body: [], key: Self.key)
        let request = Array("POST /v1/ping HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\(P2PHeader.timestamp): \(time)\r\n\(P2PHeader.nonce): \(nonce)\r\n\(P2PHeader.signature): \(signature)\r\n\r\n".utf8)
        #expect(String(decoding: rawExchange(server.port, request), as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        #expect(String(decoding: rawExchange(server.port, request), as: UTF8.self).hasPrefix("HTTP/1.1 401"))
        #expect(server.calls() == 1)
        // Still serving.
        #expect(try await client.send("POST", "/v1/ping", to: "127.0.0.1", port: server.port).status == 200)
        await server.stop()
    }

    @Test func aFloodOfIdleConnectionsIsShedAndServiceResumes() async throws {
        var limits = P2PServer.Limits()
        limits.idleTimeout = .milliseconds(500)
        let server = try await RunningServer.start(key: Self.key, limits: limits)
        // 200 connections at once that send nothing: at most 64 are held, the others are closed at once, and the
        // held ones are closed after the idle timeout. Every one ends with nothing sent back.
        let descriptors = (0..<200).map { _ in connectIdle(server.port) }
        #expect(descriptors.allSatisfy { $0 >= 0 })
        var results = 0
        for fd in descriptors where fd >= 0 {
            results += receiveAll(fd, wait: .seconds(5)).count
            close(fd)
        }
        #expect(results == 0)
        #expect(try await P2PClient(key: Self.key).send("POST", "/v1/ping", to: "127.0.0.1", port: server.port).status == 200)
        await server.stop()
    }

    @Test func aSlowHandlerGetsA504AndNothingWaitsForever() async throws {
        var limits = P2PServer.Limits()
        limits.handlerTimeout = .milliseconds(200)
        let server = try await RunningServer.start(key: Self.key, limits: limits, handler: { _ in
            try? await Task.sleep(for: .seconds(5))
            return P2PAnswer(status: 200, body: [])
        })
        let answer = try await P2PClient(key: Self.key).send("POST", "/v1/slow", to: "127.0.0.1", port: server.port)
        #expect(answer.status == 504)
        await server.stop()
    }

    @Test func noServerIsAClearError() async throws {
        // A port nothing listens on (bound then closed).
        let error = await #expect(throws: SFHAError.self) { try await P2PClient(key: Self.key, timeout: .seconds(2)).send("POST", "/v1/ping", to: "127.0.0.1", port: 9) }
        #expect(error?.message.contains("127.0.0.1:9") == true)
    }
}
