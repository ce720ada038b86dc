import Foundation
import SFHABase
import Synchronization
import Testing

@testable import SFHACore

#if canImport(Glibc)
import Glibc
#endif

@Suite(.timeLimit(.minutes(3))) struct ControlServerTests {
    // MARK: - Round trips

    @Test func roundTripsJSONRequestsAndAnswers() async throws {
        try await withControlServer { _, client, _ in
            let status: ControlTestStatus = try await client.get("/v1/status")
            #expect(status == ControlTestStatus.sample)

            let echo: ControlTestEchoAnswer = try await client.post(
                "/v1/echo", body: ControlTestEcho(text: "héllo \"world\"\n", count: 7))
            #expect(echo == ControlTestEchoAnswer(text: "héllo \"world\"\n", count: 7, method: "POST"))

            let failover: ControlTestFailoverAnswer = try await client.post(
                ControlClient.path("v1", "groups", "web app", "failover"), body: ControlTestFailover(to: "node-2"))
            #expect(failover == ControlTestFailoverAnswer(group: "web app", to: "node-2"))

            let query: ControlTestQueryAnswer = try await client.get("/v1/query?json=1&name=a%20b&plus=c+d")
            #expect(query == ControlTestQueryAnswer(query: ["json": "1", "name": "a b", "plus": "c d"], json: true))

            // HEAD is answered like GET, without the body.
            let head = try await client.exchange("HEAD", "/v1/status", body: nil)
            #expect(head.status == 200)
            #expect(head.body.isEmpty)
            #expect(Int(head.headers["content-length"] ?? "") == (try ControlJSON.encode(ControlTestStatus.sample).count + 1))
            let rawHead = try await client.rawExchange(Array("HEAD /v1/status HTTP/1.1\r\n\r\n".utf8))
            #expect(String(decoding: rawHead, as: UTF8.self).hasSuffix("Connection: close\r\n\r\n"))

            // `send` with an explicit method and no body.
            let plain: ControlTestQueryAnswer = try await client.send("GET", "/v1/query")
            #expect(plain == ControlTestQueryAnswer(query: [:], json: false))
        }
    }

    @Test func mapsErrorsBothWays() async throws {
        try await withControlServer { _, client, _ in
            let codes: [SFHAError.Code] = [
                .invalidArgument, .notFound, .exists, .invalidState, .notQuorate, .unauthorized, .timeout, .unavailable,
                .io, .commandFailed, .internalError,
            ]
            for code in codes {
                let raw = try await client.exchange("GET", "/v1/fail/\(code.rawValue)", body: nil)
                #expect(raw.status == ControlStatus.status(for: code), "\(code)")
                #expect(raw.headers["content-type"] == "application/json")
                let thrown = await #expect(throws: SFHAError.self) {
                    let _: ControlEmpty = try await client.get("/v1/fail/\(code.rawValue)")
                }
                #expect(thrown == SFHAError(code, "failing on purpose with \(code.rawValue)"))
            }
        }
    }

    @Test func answersRoutingErrors() async throws {
        try await withControlServer { _, client, _ in
            let missing = try await client.exchange("GET", "/v1/nope", body: nil)
            #expect(missing.status == 404)
            #expect(controlErrorBody(missing)?.code == "not_found")
            let wrongMethod = try await client.exchange("POST", "/v1/status", body: Array("{}".utf8))
            #expect(wrongMethod.status == 405)
            #expect(wrongMethod.headers["allow"] == "GET")
            let notFound = await #expect(throws: SFHAError.self) {
                let _: ControlEmpty = try await client.get("/v1/nope")
            }
            #expect(notFound?.code == .notFound)
            let badJSON = try await client.exchange("POST", "/v1/echo", body: Array(#"{"text": 5}"#.utf8))
            #expect(badJSON.status == 400)
            #expect(controlErrorBody(badJSON)?.message.hasPrefix("invalid JSON body: expected String at text") == true)
            // The client reports an answer it cannot decode as a version mismatch, not as success.
            let mismatch = await #expect(throws: SFHAError.self) {
                let _: ControlTestEchoAnswer = try await client.get("/v1/status")
            }
            #expect(mismatch?.code == .internalError)
            #expect(mismatch?.message.contains("same version") == true)
        }
    }

    // MARK: - Malformed and oversized requests

    @Test func refusesMalformedRequestsWith400() async throws {
        try await withControlServer { _, client, _ in
            for raw in [
                "GET /v1/status\r\n\r\n", "GET /v1/status HTTP/1.1 extra\r\n\r\n", "GET /v1/status HTTP/1.1\r\nNoColon\r\n\r\n",
                "GET v1/status HTTP/1.1\r\n\r\n", "POST /v1/echo HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
                "POST /v1/echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort",
            ] {
                let response = parseRawControlResponse(try await client.rawExchange(Array(raw.utf8)))
                #expect(response?.status == 400, "\(raw.debugDescription)")
                #expect(controlErrorBody(response)?.code == "invalid_argument")
            }
            let http2 = parseRawControlResponse(try await client.rawExchange(Array("GET / HTTP/2.0\r\n\r\n".utf8)))
            #expect(http2?.status == 505)
            let chunked = parseRawControlResponse(try await client.rawExchange(Array(
                "POST /v1/echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".utf8)))
            #expect(chunked?.status == 411)
            #expect(controlErrorBody(chunked)?.message.contains("Content-Length") == true)
        }
    }

    @Test func refusesOversizedHeadersAndBodies() async throws {
        let configuration = ControlServerConfiguration(maxHeaderBytes: 4096, maxBodyBytes: 64 * 1024)
        try await withControlServer(configuration: configuration) { _, client, _ in
            // Header: 5 KiB of fields, larger than the 4 KiB limit.
            let bigHeader = "GET /v1/status HTTP/1.1\r\nX-Fill: \(String(repeating: "a", count: 5000))\r\n\r\n"
            let tooLarge = parseRawControlResponse(try await client.rawExchange(Array(bigHeader.utf8)))
            #expect(tooLarge?.status == 431)
            // An endless header without a blank line is cut off at the limit too.
            let endless = parseRawControlResponse(
                try await client.rawExchange(Array("GET / HTTP/1.1\r\n".utf8) + Array(repeating: UInt8(ascii: "x"), count: 100_000)))
            #expect(endless?.status == 431)
            // Just under the limit is fine.
            let fits = "GET /v1/status HTTP/1.1\r\nX-Fill: \(String(repeating: "a", count: 3900))\r\n\r\n"
            #expect(parseRawControlResponse(try await client.rawExchange(Array(fits.utf8)))?.status == 200)

            // Body: announced too large → 413 before any of it is read.
            let announced = parseRawControlResponse(try await client.rawExchange(Array(
                "POST /v1/echo HTTP/1.1\r\nContent-Length: 65537\r\n\r\n".utf8)))
            #expect(announced?.status == 413)
            // Really sent: the client gets the 413 although the server closed while it was still writing.
            let body = Array(#"{"text":""#.utf8) + Array(repeating: UInt8(ascii: "z"), count: 200_000) + Array(#""}"#.utf8)
            let sent = try await client.exchange("POST", "/v1/echo", body: body)
            #expect(sent.status == 413)
            let thrown = await #expect(throws: SFHAError.self) {
                let _: ControlTestEchoAnswer = try await client.post(
                    "/v1/echo", body: ControlTestEcho(text: String(repeating: "q", count: 70_000)))
            }
            #expect(thrown?.code == .invalidArgument)
            // At the limit: accepted.
            let text = String(repeating: "k", count: 64 * 1024 - 20)
            let echoed: ControlTestEchoAnswer = try await client.post("/v1/echo", body: ControlTestEcho(text: text))
            #expect(echoed.text == text)
        }
    }

    @Test func answersASlowClientWith408() async throws {
        let configuration = ControlServerConfiguration(readTimeout: .milliseconds(200))
        try await withControlServer(configuration: configuration) { _, client, _ in
            // Half a request, and the write side stays open: the server must give up on its own.
            let partial = try await client.rawExchange(Array("GET /v1/status HTTP/1.1\r\nHost: x".utf8), shutdownWrite: false)
            let response = parseRawControlResponse(partial)
            #expect(response?.status == 408)
            #expect(controlErrorBody(response)?.code == "timeout")
            // Body promised but never sent.
            let noBody = try await client.rawExchange(
                Array("POST /v1/echo HTTP/1.1\r\nContent-Length: 10\r\n\r\n{".utf8), shutdownWrite: false)
            #expect(parseRawControlResponse(noBody)?.status == 408)
            // The server is still fine.
            let status: ControlTestStatus = try await client.get("/v1/status")
            #expect(status.cluster == "prod-eu")
        }
    }

    @Test func sendsContinueBeforeReadingAnExpectedBody() async throws {
        let configuration = ControlServerConfiguration(readTimeout: .milliseconds(300))
        try await withControlServer(configuration: configuration) { _, client, _ in
            // Only the head: the server invites the body, then gives up waiting for it.
            let raw = "POST /v1/echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 13\r\n\r\n"
            let answer = String(decoding: try await client.rawExchange(Array(raw.utf8), shutdownWrite: false), as: UTF8.self)
            #expect(answer.hasPrefix("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 408 Request Timeout\r\n"))
        }
    }

    // MARK: - Concurrency and limits

    @Test func servesFiftyConcurrentClients() async throws {
        let configuration = ControlServerConfiguration(maxConcurrentRequests: 64)
        try await withControlServer(configuration: configuration) { _, client, _ in
            let answers = try await withThrowingTaskGroup(of: (Int, ControlTestEchoAnswer).self) { group in
                for index in 0..<50 {
                    group.addTask {
                        let answer: ControlTestEchoAnswer = try await client.post(
                            "/v1/echo", body: ControlTestEcho(text: "client \(index)", count: index))
                        return (index, answer)
                    }
                }
                var collected: [Int: ControlTestEchoAnswer] = [:]
                for try await (index, answer) in group { collected[index] = answer }
                return collected
            }
            #expect(answers.count == 50)
            for (index, answer) in answers {
                #expect(answer == ControlTestEchoAnswer(text: "client \(index)", count: index, method: "POST"))
            }
        }
    }

    @Test func answers503WhenEveryHandlerSlotIsBusyButStillServesStatus() async throws {
        let gate = ControlTestGate()
        let configuration = ControlServerConfiguration(maxConcurrentRequests: 2)
        try await withControlServer(router: ControlTestRoutes.router(gate: gate), configuration: configuration) { _, client, _ in
            let held = (0..<2).map { _ in
                Task { () async throws -> ControlEmpty in try await client.post("/v1/slow", body: ControlEmpty()) }
            }
            try await gate.waitForWaiting(2)
            let busy = try await client.exchange("GET", "/v1/query", body: nil)
            #expect(busy.status == 503)
            #expect(controlErrorBody(busy)?.code == "unavailable")
            #expect(controlErrorBody(busy)?.message.contains("busy") == true)
            // Status has slots of its own that ordinary requests cannot take.
            let served: ControlTestStatus = try await client.get("/v1/status")
            #expect(served == ControlTestStatus.sample)
            let head = try await client.exchange("HEAD", "/v1/status/", body: nil)
            #expect(head.status == 200)
            gate.open()
            for task in held { #expect(try await task.value == ControlEmpty()) }
            // Capacity is back.
            let status: ControlTestStatus = try await client.get("/v1/status")
            #expect(status == ControlTestStatus.sample)
        }
    }

    @Test func answers504WhenAHandlerTakesTooLong() async throws {
        let gate = ControlTestGate()
        let configuration = ControlServerConfiguration(handlerTimeout: .milliseconds(200))
        try await withControlServer(router: ControlTestRoutes.router(gate: gate), configuration: configuration) { _, client, _ in
            let thrown = await #expect(throws: SFHAError.self) {
                let _: ControlEmpty = try await client.post("/v1/slow", body: ControlEmpty())
            }
            #expect(thrown?.code == .timeout)
            #expect(thrown?.message.contains("/v1/slow") == true)
            gate.open()
        }
    }

    // MARK: - Peer credentials

    @Test func authorizerSeesTheConnectingProcess() async throws {
        let seen = Mutex<[PeerCredentials]>([])
        let configuration = ControlServerConfiguration(authorization: ControlAuthorization { peer in
            seen.withLock { $0.append(peer) }
            return peer.uid == 0
        })
        try await withControlServer(configuration: configuration) { _, client, _ in
            let answer: ControlTestPeerAnswer = try await client.get("/v1/peer")
            #expect(answer == ControlTestPeerAnswer(pid: getpid(), uid: 0, gid: getgid()))
            let peers = seen.withLock { $0 }
            #expect(peers.count == 1)
            #expect(peers.first?.pid == getpid())
            #expect(peers.first?.uid == 0)
            #expect(peers.first?.uid == getuid())
        }
    }

    @Test func refusesUnauthorizedPeersWith403() async throws {
        let handled = Mutex(0)
        var router = ControlRouter()
        router.post("/v1/standby") { _ in
            handled.withLock { $0 += 1 }
            return ControlEmpty()
        }
        let configuration = ControlServerConfiguration(authorization: ControlAuthorization { $0.uid != 0 })
        try await withControlServer(router: router, configuration: configuration) { _, client, _ in
            let raw = try await client.exchange("POST", "/v1/standby", body: Array("{}".utf8))
            #expect(raw.status == 403)
            #expect(controlErrorBody(raw)?.code == "unauthorized")
            let thrown = await #expect(throws: SFHAError.self) {
                let _: ControlEmpty = try await client.post("/v1/standby", body: ControlEmpty())
            }
            #expect(thrown?.code == .unauthorized)
            // Even a request for an unknown path learns nothing but "unauthorized".
            #expect(try await client.exchange("GET", "/v1/secret-path", body: nil).status == 403)
            // ... or a malformed request.
            let malformed = parseRawControlResponse(try await client.rawExchange(Array("NONSENSE\r\n\r\n".utf8)))
            #expect(malformed?.status == 403)
            #expect(controlErrorBody(malformed)?.code == "unauthorized")
            #expect(handled.withLock { $0 } == 0)
        }
    }

    // MARK: - Socket file lifecycle

    @Test func createsTheDirectoryAndASocketOnlyRootCanUse() async throws {
        try await withControlServer { server, _, directory in
            #expect(controlFileInfo(directory.path + "/run")?.mode == 0o750)
            let socket = controlFileInfo(server.socketPath)
            #expect(socket?.isSocket == true)
            #expect(socket?.mode == 0o600)
            // No temporary socket names are left behind.
            let entries = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/run")
            #expect(entries == ["sfhad.sock"])
        }
    }

    @Test func groupSocketsGetMode0660AndTheGroup() async throws {
        let group: gid_t = 4  // "adm" on Debian; any gid works for root
        let configuration = ControlServerConfiguration(socketGroup: group)
        try await withControlServer(configuration: configuration) { server, client, directory in
            let socket = controlFileInfo(server.socketPath)
            #expect(socket?.mode == 0o660)
            #expect(socket?.gid == group)
            #expect(controlFileInfo(directory.path + "/run")?.gid == group)
            let status: ControlTestStatus = try await client.get("/v1/status")
            #expect(status.quorate)
        }
    }

    @Test func replacesAStaleSocketFile() async throws {
        let directory = try ControlTestDirectory()
        defer { directory.remove() }
        let path = directory.path + "/sfhad.sock"
        try makeStaleControlSocket(at: path)
        let client = ControlClient(socketPath: path, timeout: .seconds(20))
        let before = await #expect(throws: SFHAError.self) {
            let _: ControlTestStatus = try await client.get("/v1/status")
        }
        #expect(before?.code == .notRunning)
        #expect(before?.message.contains("systemctl start sfhad") == true)

        let server = ControlServer(socketPath: path, router: ControlTestRoutes.router(), logger: quietControlLogger)
        try server.start()
        let status: ControlTestStatus = try await client.get("/v1/status")
        #expect(status == ControlTestStatus.sample)
        await server.stop()
    }

    @Test func refusesToStartWhenAnotherServerAnswers() async throws {
        try await withControlServer { first, client, _ in
            let second = ControlServer(socketPath: first.socketPath, router: ControlRouter(), logger: quietControlLogger)
            let thrown = #expect(throws: SFHAError.self) { try second.start() }
            #expect(thrown?.code == .exists)
            #expect(thrown?.message.contains("already listening") == true)
            #expect(!second.isRunning)
            // The first server still owns the socket and answers.
            let status: ControlTestStatus = try await client.get("/v1/status")
            #expect(status == ControlTestStatus.sample)
            // Stopping the refused server does not touch the first one's socket.
            await second.stop()
            #expect(controlFileInfo(first.socketPath)?.isSocket == true)
            // Starting twice is refused too.
            #expect(throws: SFHAError.self) { try first.start() }
        }
    }

    @Test func refusesToReplaceSomethingThatIsNotASocket() throws {
        let directory = try ControlTestDirectory()
        defer { directory.remove() }
        let path = directory.path + "/sfhad.sock"
        try AtomicFile.write("precious", to: path)
        let server = ControlServer(socketPath: path, router: ControlRouter())
        let thrown = #expect(throws: SFHAError.self) { try server.start() }
        #expect(thrown?.code == .exists)
        #expect(try AtomicFile.readText(path) == "precious")
    }

    @Test func refusesSocketPathsThatAreTooLong() {
        let path = "/tmp/" + String(repeating: "p", count: 120) + "/sfhad.sock"
        let thrown = #expect(throws: SFHAError.self) {
            try ControlServer(socketPath: path, router: ControlRouter()).start()
        }
        #expect(thrown?.code == .invalidArgument)
    }

    @Test func clientReportsAMissingServerAsNotRunningWithAHint() async throws {
        let directory = try ControlTestDirectory()
        defer { directory.remove() }
        let client = ControlClient(socketPath: directory.path + "/none/sfhad.sock")
        let thrown = await #expect(throws: SFHAError.self) {
            let _: ControlTestStatus = try await client.get("/v1/status")
        }
        #expect(thrown == SFHAError(
            .notRunning,
            "sfhad is not running (no control socket at \(directory.path)/none/sfhad.sock); start it with 'systemctl start sfhad'"))
        let invalid = await #expect(throws: SFHAError.self) {
            _ = try await client.exchange("GET", "v1/status with spaces", body: nil)
        }
        #expect(invalid?.code == .invalidArgument)
    }

    @Test func stopRemovesTheSocketAndLetsRequestsInProgressFinish() async throws {
        let directory = try ControlTestDirectory()
        defer { directory.remove() }
        let gate = ControlTestGate()
        let server = ControlServer(
            socketPath: directory.socketPath, router: ControlTestRoutes.router(gate: gate), logger: quietControlLogger)
        try server.start()
        let client = ControlClient(socketPath: directory.socketPath, timeout: .seconds(20))
        let inFlight = Task { () async throws -> ControlEmpty in try await client.post("/v1/slow", body: ControlEmpty()) }
        try await gate.waitForWaiting(1)
        let stopping = Task { await server.stop(gracePeriod: .seconds(30)) }
        // The listener goes away first: new clients are told sfhad is not running.
        try await waitUntil("the socket file being removed", within: .seconds(20)) { controlFileInfo(directory.socketPath) == nil }
        let refused = await #expect(throws: SFHAError.self) {
            let _: ControlTestStatus = try await client.get("/v1/status")
        }
        #expect(refused?.code == .notRunning)
        gate.open()
        #expect(try await inFlight.value == ControlEmpty())
        await stopping.value
        #expect(!server.isRunning)
        #expect(controlFileInfo(directory.socketPath) == nil)
        await server.stop()  // a second stop is harmless
    }

    @Test func stopAbortsRequestsThatOutliveTheGracePeriod() async throws {
        let directory = try ControlTestDirectory()
        defer { directory.remove() }
        let gate = ControlTestGate()
        let server = ControlServer(
            socketPath: directory.socketPath, router: ControlTestRoutes.router(gate: gate), logger: quietControlLogger)
        try server.start()
        let client = ControlClient(socketPath: directory.socketPath, timeout: .seconds(20))
        let inFlight = Task { () async throws -> ControlEmpty in try await client.post("/v1/slow", body: ControlEmpty()) }
        try await gate.waitForWaiting(1)
        await server.stop(gracePeriod: .milliseconds(100))
        let result = await inFlight.result
        #expect(throws: SFHAError.self) { try result.get() }
        if case .failure(let error) = result { #expect((error as? SFHAError)?.code == .unavailable) }
        #expect(controlFileInfo(directory.socketPath) == nil)
        gate.open()
    }

    // MARK: - Robustness

    @Test func survivesRandomBytes() async throws {
        let configuration = ControlServerConfiguration(readTimeout: .milliseconds(150))
        try await withControlServer(configuration: configuration) { _, client, _ in
            var generator = SystemRandomNumberGenerator()
            let prefixes = ["", "GET ", "POST /v1/echo HTTP/1.1\r\n", "GET /v1/status HTTP/1.1\r\nContent-Length: "]
            var answered = 0
            for round in 0..<200 {
                let noise = (0..<Int.random(in: 0...2048, using: &generator)).map { _ in
                    UInt8.random(in: 0...255, using: &generator)
                }
                let bytes = Array(prefixes[round % prefixes.count].utf8) + noise
                let reply = try await client.rawExchange(bytes, shutdownWrite: round % 25 != 0)
                if let response = parseRawControlResponse(reply) {
                    #expect((400...599).contains(response.status), "round \(round)")
                    answered += 1
                }
                if round % 20 == 0 {
                    let status: ControlTestStatus = try await client.get("/v1/status")
                    #expect(status == ControlTestStatus.sample)
                }
            }
            #expect(answered > 100)
            let status: ControlTestStatus = try await client.get("/v1/status")
            #expect(status == ControlTestStatus.sample)
        }
    }
}
