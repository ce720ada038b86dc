import Foundation
import Logging
import NIOCore
import SFHABase
import Testing

@testable import SFHAMetricsHTTP

#if canImport(Glibc)
import Glibc
#endif

/// The TCP /metrics listener serves exactly `GET /metrics` and survives what a network may send it: other paths and
/// methods, garbage, bodies, idle and surplus connections.
@Suite(.timeLimit(.minutes(1))) struct MetricsHTTPServerTests {
    static let metrics = "# TYPE sfha_quorate gauge\nsfha_quorate 1\n"

    /// Runs a server on 127.0.0.1 (a port the kernel picks) for `body`, then stops it.
    func withServer(idleTimeout: TimeAmount = .seconds(10), _ body: (Int) async throws -> Void) async throws {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let server = MetricsHTTPServer(
            host: "127.0.0.1", port: 0, logger: logger, idleTimeout: idleTimeout, bound: { continuation.yield($0) },
            render: { Array(Self.metrics.utf8) })
        let task = Task { try await server.run() }
        defer { task.cancel() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        try await body(port)
    }

    @Test func getMetricsAnswersTheRegistryAndNothingElseIsServed() async throws {
        try await withServer { port in
            let ok = try RawClient(port: port).exchange("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(ok.hasPrefix("HTTP/1.1 200 OK"), "\(ok)")
            #expect(ok.contains("text/plain; version=0.0.4"))
            #expect(ok.hasSuffix(Self.metrics), "\(ok)")
            let head = try RawClient(port: port).exchange("HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(head.hasPrefix("HTTP/1.1 200 OK") && !head.contains("sfha_quorate 1"), "\(head)")
            let other = try RawClient(port: port).exchange("GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(other.hasPrefix("HTTP/1.1 404"), "\(other)")
            let post = try RawClient(port: port).exchange("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            #expect(post.hasPrefix("HTTP/1.1 405") && post.contains("Allow: GET, HEAD"), "\(post)")
        }
    }

    @Test func garbageAndBodiesAreRefusedAndTheServerGoesOn() async throws {
        try await withServer { port in
            let garbage = try RawClient(port: port).exchange("\u{1}\u{2}NOT HTTP AT ALL\r\n\r\n")
            #expect(garbage.hasPrefix("HTTP/1.1 400") || garbage.isEmpty, "\(garbage)")
            let big = try RawClient(port: port).exchange(
                "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + String(repeating: "a", count: 5000))
            #expect(big.hasPrefix("HTTP/1.1 413"), "\(big)")
            let huge = try RawClient(port: port).exchange("GET /metrics HTTP/1.1\r\nX: " + String(repeating: "b", count: 200_000) + "\r\n\r\n")
            #expect(!huge.contains("200 OK"), "a head over the parser's limit is not served")
            let after = try RawClient(port: port).exchange("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(after.hasPrefix("HTTP/1.1 200 OK"), "\(after)")
        }
    }

    @Test func idleAndSurplusConnectionsAreClosed() async throws {
        try await withServer(idleTimeout: .milliseconds(300)) { port in
            // Silent: closed by the server after the idle timeout (recv sees the end, well before its own limit).
            let silent = try RawClient(port: port)
            #expect(silent.waitForClose(seconds: 5), "an idle connection is closed")
        }
        try await withServer { port in
            var held: [RawClient] = []
            for _ in 0..<MetricsHTTPServer.maximumConnections { held.append(try RawClient(port: port)) }
            // Each held one is served (so every one is counted before the surplus one arrives).
            for client in held {
                let answer = try client.exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", untilEnd: false)
                #expect(answer.hasPrefix("HTTP/1.1 200 OK"))
            }
            let surplus = try RawClient(port: port)
            #expect(surplus.waitForClose(seconds: 5), "a connection beyond the limit is closed")
            for client in held { client.close() }
            // Once they are gone, a new one is served again.
            let served = try await eventually {
                (try? RawClient(port: port).exchange("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))?.hasPrefix("HTTP/1.1 200") == true
            }
            #expect(served)
        }
    }

    @Test func anAddressThatIsNotThisNodesIsAClearError() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let server = MetricsHTTPServer(host: "192.0.2.1", port: 9469, logger: logger, render: { [] })
        let error = await #expect(throws: SFHAError.self) { try await server.run() }
        #expect(error?.message.contains("cannot listen for /metrics on 192.0.2.1:9469") == true, "\(String(describing: error))")
    }

    private func eventually(_ condition: () throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            if try condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }
}

/// A blocking TCP client on loopback with a receive timeout: what a scraper (or an attacker) sends, byte for byte.
final class RawClient {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SFHAError(.io, "socket failed") }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            throw SFHAError(.io, "connect failed: \(errno)")
        }
    }

    deinit { Glibc.close(fd) }

    func close() { shutdown(fd, Int32(SHUT_RDWR)) }

    /// Sends `request`; reads until the server closes (or, `untilEnd` false, until one answer has arrived).
    func exchange(_ request: String, untilEnd: Bool = true) throws -> String {
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }  // the server may close early (a refused request): read what it said
            sent += n
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            received += buffer[0..<n]
            if !untilEnd, String(decoding: received, as: UTF8.self).contains("\r\n\r\n") { break }
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// Whether the server closes the connection within `seconds` (recv returns 0 or the connection is reset).
    func waitForClose(seconds: Int) -> Bool {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, 0)
        return n == 0 || (n < 0 && errno == ECONNRESET)
    }
}
