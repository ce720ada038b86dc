import Foundation
import Logging
import SFHABase
import Synchronization
import Testing

@testable import SFHACore

#if canImport(Glibc)
import Glibc
#endif

/// Clients that are idle, slow, or too many must never keep `GET /v1/status` from being answered, and must not
/// fill the log. Every wait has a deadline; the bounds asserted are generous (this runs on small, busy machines).
@Suite(.timeLimit(.minutes(3))) struct ControlServerResilienceTests {
    static let idleClients = 16
    static let slowClients = 50
    /// How long a status request may take to be answered here: a hang bound, not a latency budget. Far below the
    /// misbehaving clients' 120 s bounds (so an answer within it comes from the design, not from cutting them) and
    /// far above what a loaded machine needs: the handler is a task on the cooperative pool, which the other suites'
    /// synchronous tests share (two threads on two cores).
    static let answerDeadline: Duration = .seconds(60)

    @Test func statusIsAnsweredWhileIdleAndSlowClientsHoldConnections() async throws {
        // Bounds far beyond the test's length: the misbehaving clients stay connected throughout, so the answer
        // comes from the design (reading takes no thread, status has its own handler slots), not from cutting them.
        let configuration = ControlServerConfiguration(idleTimeout: .seconds(120), readTimeout: .seconds(120))
        try await withControlServer(configuration: configuration) { server, _, directory in
            let crowd = try ControlMisbehavingClients(
                socketPath: directory.socketPath, idle: Self.idleClients, slow: Self.slowClients, period: .seconds(1))
            let total = Self.idleClients + Self.slowClients
            try await waitUntil("the server accepting every misbehaving client", within: .seconds(20)) {
                server.openConnectionCount == total
            }
            // The client gives up (throws `timeout`) at the deadline: an answer is an answer within it.
            let client = ControlClient(socketPath: directory.socketPath, timeout: Self.answerDeadline)
            let status: ControlTestStatus = try await client.get("/v1/status")
            #expect(status == ControlTestStatus.sample)
            // Ordinary requests are served too: waiting for a request costs no handler slot.
            let echo: ControlTestEchoAnswer = try await client.post("/v1/echo", body: ControlTestEcho(text: "still here"))
            #expect(echo.text == "still here")
            // ... while every misbehaving client is still connected and unanswered.
            let connections = crowd.connections
            #expect(connections.allSatisfy { $0.closedAt == nil && $0.received.isEmpty })
            #expect(server.openConnectionCount == total)
            try await crowd.stop()
        }
    }

    @Test func idleAndSlowClientsAreCutAtTheirBoundsAndLoggedOnce() async throws {
        let recorder = ControlLogRecorder()
        let configuration = ControlServerConfiguration(
            idleTimeout: .seconds(1), readTimeout: .seconds(2), incidentLogInterval: .seconds(3600))
        try await withControlServer(configuration: configuration, logger: recorder.logger) { server, client, directory in
            // Slow clients send a byte every 100 ms: never idle, never done.
            let crowd = try ControlMisbehavingClients(
                socketPath: directory.socketPath, idle: Self.idleClients, slow: Self.slowClients, period: .milliseconds(100))
            try await waitUntil("every misbehaving client being cut", within: .seconds(30)) {
                crowd.connections.allSatisfy { $0.closedAt != nil }
            }
            for connection in crowd.connections {
                let response = connection.response
                #expect(response?.status == ControlStatus.requestTimeout)
                #expect(controlErrorBody(response)?.code == "timeout")
                let message = controlErrorBody(response)?.message ?? ""
                let heldFor = connection.heldFor ?? .zero
                if connection.slow {
                    #expect(message == "no complete request within 2 s", "\(message)")
                    #expect(heldFor >= configuration.readTimeout && heldFor < .seconds(15), "\(heldFor)")
                } else {
                    #expect(message.hasPrefix("nothing received for 1 s"), "\(message)")
                    #expect(heldFor >= configuration.idleTimeout && heldFor < .seconds(15), "\(heldFor)")
                }
            }
            try await waitUntil("the server closing them", within: .seconds(30)) { server.openConnectionCount == 0 }
            let status: ControlTestStatus = try await client.get("/v1/status")
            #expect(status == ControlTestStatus.sample)
            // 66 cuts, one warning.
            let cut = recorder.warnings(containing: "did not send its request in time")
            #expect(cut.count == 1)
            #expect(cut.first?.metadata["status"] == "408")
            try await crowd.stop()
        }
        // Stopping logs the count of the cuts that were not logged.
        let summary = recorder.warnings(containing: "did not send its request in time: ")
        #expect(summary.count == 1)
        #expect(summary.first?.metadata["suppressed"] == "\(Self.idleClients + Self.slowClients - 1)")
    }

    @Test func aFullConnectionTableCutsItsOldestIdleConnectionForANewClient() async throws {
        let recorder = ControlLogRecorder()
        let configuration = ControlServerConfiguration(
            maxConnections: 8, idleTimeout: .seconds(120), readTimeout: .seconds(120), incidentLogInterval: .seconds(3600))
        try await withControlServer(configuration: configuration, logger: recorder.logger) { server, _, directory in
            let crowd = try ControlMisbehavingClients(socketPath: directory.socketPath, idle: 8, slow: 0, period: .milliseconds(50))
            try await waitUntil("the server accepting 8 idle clients", within: .seconds(20)) { server.openConnectionCount == 8 }
            let client = ControlClient(socketPath: directory.socketPath, timeout: Self.answerDeadline)
            let status: ControlTestStatus = try await client.get("/v1/status")
            #expect(status == ControlTestStatus.sample)
            // The status connection took the place of the oldest idle one; the others are untouched.
            try await waitUntil("the oldest idle client being cut", within: .seconds(30)) {
                crowd.connections.first?.closedAt != nil
            }
            let connections = crowd.connections
            #expect(connections.first?.response?.status == ControlStatus.serviceUnavailable)
            #expect(controlErrorBody(connections.first?.response)?.message.contains("too many open control connections") == true)
            #expect(connections.dropFirst().allSatisfy { $0.closedAt == nil })
            #expect(recorder.warnings(containing: "too many connections").count == 1)
            try await crowd.stop()
        }
    }

    @Test func aClientThatDoesNotReadItsAnswerIsCutAtTheWriteBound() async throws {
        var router = ControlTestRoutes.router()
        let big = [UInt8](repeating: UInt8(ascii: "b"), count: 8 << 20)
        router.add("GET", "/v1/big") { (_: ControlRequest) async throws(SFHAError) -> ControlResponse in
            ControlResponse(status: 200, contentType: "text/plain", body: big)
        }
        let recorder = ControlLogRecorder()
        let configuration = ControlServerConfiguration(writeTimeout: .milliseconds(300))
        try await withControlServer(router: router, configuration: configuration, logger: recorder.logger) { server, client, directory in
            let fd = try #require(try? ControlSocket.connect(to: directory.socketPath, until: .now + .seconds(10)).get())
            defer { close(fd) }
            #expect(ControlSocket.write(fd, Array("GET /v1/big HTTP/1.1\r\n\r\n".utf8), until: .now + .seconds(5)) == .written)
            // The answer does not fit the socket buffers and is never read.
            try await waitUntil("the server taking the connection", within: .seconds(30)) { server.openConnectionCount == 1 }
            try await waitUntil("the server giving up on the reader", within: .seconds(30)) { server.openConnectionCount == 0 }
            #expect(recorder.warnings(containing: "did not read its answer in time").count == 1)
            let status: ControlTestStatus = try await client.get("/v1/status")
            #expect(status == ControlTestStatus.sample)
        }
    }

    // MARK: - Rate-limited warnings

    @Test func malformedRequestsAreLoggedOnceWithACount() async throws {
        let recorder = ControlLogRecorder()
        let configuration = ControlServerConfiguration(incidentLogInterval: .seconds(3600))
        try await withControlServer(configuration: configuration, logger: recorder.logger) { _, client, _ in
            for _ in 0..<40 {
                let response = parseRawControlResponse(try await client.rawExchange(Array("NONSENSE\r\n\r\n".utf8)))
                #expect(response?.status == ControlStatus.badRequest)
            }
            let lines = recorder.warnings(containing: "malformed")
            #expect(lines.count == 1)
            #expect(lines.first?.metadata["suppressed"] == nil)
        }
        let lines = recorder.warnings(containing: "malformed")
        #expect(lines.count == 2)
        #expect(lines.last?.metadata["suppressed"] == "39")
        #expect(lines.last?.message.contains("39 more not logged") == true)
    }

    @Test func unauthorizedPeersAreLoggedOnceWithACount() async throws {
        let recorder = ControlLogRecorder()
        let configuration = ControlServerConfiguration(
            authorization: ControlAuthorization { _ in false }, incidentLogInterval: .seconds(3600))
        try await withControlServer(configuration: configuration, logger: recorder.logger) { _, client, _ in
            for _ in 0..<20 {
                let answer = try await client.exchange("POST", "/v1/echo", body: Array("{}".utf8))
                #expect(answer.status == ControlStatus.forbidden)
            }
            let lines = recorder.warnings(containing: "unauthorized")
            #expect(lines.count == 1)
            #expect(lines.first?.metadata["peer"]?.contains("pid \(getpid())") == true)
            #expect(lines.first?.metadata["request"] == "POST /v1/echo")
        }
        #expect(recorder.warnings(containing: "unauthorized").last?.metadata["suppressed"] == "19")
    }

    @Test func suppressedWarningsAreCountedOnceTheIntervalIsOver() async throws {
        let recorder = ControlLogRecorder()
        let interval = Duration.seconds(1)
        let configuration = ControlServerConfiguration(incidentLogInterval: interval)
        try await withControlServer(configuration: configuration, logger: recorder.logger) { _, client, _ in
            let burst = ContinuousClock.now
            for _ in 0..<5 { _ = try await client.rawExchange(Array("NONSENSE\r\n\r\n".utf8)) }
            // Unless the burst itself outlasted the interval, one line now, the count of the other 4 after it.
            guard ContinuousClock.now - burst < interval else { return }
            try await waitUntil("the count of suppressed warnings being logged", within: .seconds(30)) {
                !recorder.warnings(containing: "more not logged").isEmpty
            }
            let lines = recorder.warnings(containing: "malformed")
            #expect(lines.count == 2)
            #expect(lines.last?.metadata["suppressed"] == "4")
        }
    }

    @Test func theLogThrottleAllowsOneLinePerIntervalAndCountsTheRest() {
        let start = ContinuousClock.now
        var throttle = ControlLogThrottle(interval: .seconds(10))
        #expect(throttle.admit(at: start) == 0)
        #expect(throttle.admit(at: start + .seconds(1)) == nil)
        #expect(throttle.admit(at: start + .seconds(2)) == nil)
        #expect(throttle.flush(at: start + .seconds(5)) == nil)
        #expect(throttle.nextFlush == start + .seconds(10))
        #expect(throttle.flush(at: start + .seconds(10)) == 2)
        // The count was a line: the next event within an interval of it is counted again.
        #expect(throttle.admit(at: start + .seconds(11)) == nil)
        #expect(throttle.flush(at: start + .seconds(12), force: true) == 1)
        #expect(throttle.nextFlush == nil)
        #expect(throttle.flush(at: start + .seconds(40)) == nil)
        // A new event long after: logged at once.
        #expect(throttle.admit(at: start + .seconds(41)) == 0)
        // An event when the interval is over but its count was not flushed yet: logged with that count.
        #expect(throttle.admit(at: start + .seconds(42)) == nil)
        #expect(throttle.admit(at: start + .seconds(60)) == 1)
    }
}
