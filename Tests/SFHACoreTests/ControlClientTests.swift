import Foundation
import SFHABase
import Testing

@testable import SFHACore

@Suite(.timeLimit(.minutes(2))) struct ControlClientTests {
    @Test func interoperatesWithCurl() async throws {
        try await withControlServer { server, _, _ in
            let runner = SystemProgramRunner()
            let socket = server.socketPath
            let get = try await runner.check(
                "curl", ["-sS", "--unix-socket", socket, "http://localhost/v1/query?json=1&name=a%20b"], timeout: .seconds(20))
            let query = try JSONDecoder().decode(ControlTestQueryAnswer.self, from: Data(get.standardOutput.utf8))
            #expect(query == ControlTestQueryAnswer(query: ["json": "1", "name": "a b"], json: true))

            let status = try await runner.check(
                "curl", ["-sS", "--unix-socket", socket, "http://localhost/v1/status"], timeout: .seconds(20))
            #expect(try JSONDecoder().decode(ControlTestStatus.self, from: Data(status.standardOutput.utf8)) == .sample)

            let post = try await runner.check(
                "curl",
                [
                    "-sS", "--unix-socket", socket, "-H", "Content-Type: application/json", "-d", #"{"to":"node-3"}"#,
                    "http://localhost/v1/groups/db/failover",
                ], timeout: .seconds(20))
            let failover = try JSONDecoder().decode(ControlTestFailoverAnswer.self, from: Data(post.standardOutput.utf8))
            #expect(failover == ControlTestFailoverAnswer(group: "db", to: "node-3"))

            // Errors: the status is the mapped one and the body is the wire error.
            let failing = try await runner.check(
                "curl", ["-sS", "--unix-socket", socket, "-w", "\n%{http_code}", "http://localhost/v1/fail/not_quorate"],
                timeout: .seconds(20))
            let lines = failing.standardOutput.split(separator: "\n")
            #expect(lines.last == "409")
            let wire = try JSONDecoder().decode(ControlErrorBody.self, from: Data(lines.first.map(String.init)?.utf8 ?? "".utf8))
            #expect(wire == ControlErrorBody(code: "not_quorate", message: "failing on purpose with not_quorate"))

            let missing = try await runner.check(
                "curl", ["-sS", "--unix-socket", socket, "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE", "http://localhost/v1/status"],
                timeout: .seconds(20))
            #expect(missing.standardOutput == "405")

            // A body over the limit with curl's Expect: 100-continue: refused before curl sends it.
            let big = "{\"text\":\"" + String(repeating: "b", count: 1_100_000) + "\"}"
            let bigResult = try await runner.run(
                "curl",
                [
                    "-sS", "--unix-socket", socket, "-H", "Expect: 100-continue", "-H", "Content-Type: application/json",
                    "--data-binary", "@-", "-o", "/dev/null", "-w", "%{http_code}", "http://localhost/v1/echo",
                ], input: Array(big.utf8), timeout: .seconds(20))
            #expect(bigResult.standardOutput == "413")
        }
    }

    @Test func refusesRequestsItCannotSend() async throws {
        let client = ControlClient(socketPath: "/tmp/" + String(repeating: "s", count: 110))
        let tooLong = await #expect(throws: SFHAError.self) {
            let _: ControlEmpty = try await client.get("/v1/status")
        }
        #expect(tooLong?.code == .invalidArgument)
        let badMethod = await #expect(throws: SFHAError.self) {
            _ = try await ControlClient(socketPath: "/tmp/x.sock").exchange("GE T", "/v1/status", body: nil)
        }
        #expect(badMethod?.code == .invalidArgument)
    }
}
