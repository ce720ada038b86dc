import Foundation
import SFHABase
import Testing

@testable import SFHACore

@Suite(.timeLimit(.minutes(2))) struct ControlHTTPTests {
    private func head(_ text: String) throws(ControlHTTPFailure) -> ControlHTTP.RequestHead {
        let bytes = Array(text.utf8)
        return try ControlHTTP.parseRequestHead(bytes[...])
    }

    private func failure(_ text: String) -> ControlHTTPFailure? {
        do {
            _ = try head(text)
            return nil
        } catch {
            return error
        }
    }

    @Test func findsTheEndOfTheHeadWithCRLFOrBareLF() {
        #expect(ControlHTTP.headEnd(in: Array("GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY".utf8)) == 27)
        #expect(ControlHTTP.headEnd(in: Array("GET / HTTP/1.1\nHost: x\n\nBODY".utf8)) == 24)
        #expect(ControlHTTP.headEnd(in: Array("GET / HTTP/1.1\r\nHost: x\r\n".utf8)) == nil)
        #expect(ControlHTTP.headEnd(in: []) == nil)
        // Searching from near the end of an earlier, shorter buffer still finds a terminator split across reads.
        let bytes = Array("GET / HTTP/1.1\r\n\r\n".utf8)
        #expect(ControlHTTP.headEnd(in: bytes, from: bytes.count - 1 - 3) == bytes.count)
    }

    @Test func parsesRequestLineAndHeaderFields() throws {
        let parsed = try head(
            "\r\nPOST /v1/echo?x=1 HTTP/1.1\r\nHost: localhost\r\nX-Tag: a\r\nx-tag:  b \r\nContent-Length: 5\r\n\r\n")
        #expect(parsed.method == "POST")
        #expect(parsed.target == "/v1/echo?x=1")
        #expect(parsed.minorVersion == 1)
        #expect(parsed.headers["host"] == "localhost")
        #expect(parsed.headers["x-tag"] == "a, b")
        #expect(parsed.headers["content-length"] == "5")
        #expect(try head("GET / HTTP/1.0\n\n").minorVersion == 0)
    }

    @Test(arguments: [
        "", "\r\n", "GET /\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n", "G@T / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1 x\r\n\r\n",
        "GET / FOO\r\n\r\n", "GET /a b HTTP/1.1\r\n\r\n", "GET /\u{7F} HTTP/1.1\r\n\r\n", "/ GET HTTP/1.1\r\n\r\n",
    ])
    func refusesMalformedRequestLines(_ text: String) {
        #expect(failure(text)?.status == 400)
        #expect(failure(text)?.error.code == .invalidArgument)
    }

    @Test func refusesOtherHTTPVersionsWith505() {
        #expect(failure("GET / HTTP/2.0\r\n\r\n")?.status == 505)
        #expect(failure("GET / HTTP/1.2\r\n\r\n")?.status == 505)
    }

    @Test(arguments: [
        "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", "GET / HTTP/1.1\r\nName : x\r\n\r\n", "GET / HTTP/1.1\r\n: x\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\u{01}b\r\n\r\n",
    ])
    func refusesMalformedHeaderFields(_ text: String) {
        #expect(failure(text)?.status == 400)
    }

    @Test func refusesTooManyHeaderFieldsWith431() {
        let fields = (0...ControlHTTP.maxHeaderFields).map { "X-\($0): y\r\n" }.joined()
        #expect(failure("GET / HTTP/1.1\r\n\(fields)\r\n")?.status == 431)
    }

    private func bodyLength(_ headers: [String: String], limit: Int = 1000) -> Result<Int, ControlHTTPFailure> {
        Result { () throws(ControlHTTPFailure) in try ControlHTTP.requestBodyLength(headers, limit: limit) }
    }

    private func status(_ result: Result<Int, ControlHTTPFailure>) -> Int? {
        if case .failure(let failure) = result { return failure.status }
        return nil
    }

    @Test func checksTheAnnouncedBodyLength() throws {
        #expect(try bodyLength([:]).get() == 0)
        #expect(try bodyLength(["content-length": "17"]).get() == 17)
        #expect(try bodyLength(["content-length": "17, 17"]).get() == 17)
        #expect(try bodyLength(["content-length": "1000"]).get() == 1000)
        #expect(status(bodyLength(["content-length": "1001"])) == 413)
        #expect(status(bodyLength(["content-length": "99999999999999999999999999"])) == 413)
        #expect(status(bodyLength(["content-length": "17, 18"])) == 400)
        #expect(status(bodyLength(["content-length": "-1"])) == 400)
        #expect(status(bodyLength(["content-length": "0x10"])) == 400)
        #expect(status(bodyLength(["content-length": ""])) == 400)
        #expect(status(bodyLength(["content-length": "١٢"])) == 400)  // non-ASCII digits
        #expect(status(bodyLength(["transfer-encoding": "chunked"])) == 411)
        #expect(status(bodyLength(["transfer-encoding": "gzip, chunked"])) == 411)
        #expect(status(bodyLength(["transfer-encoding": "chunked", "content-length": "3"])) == 400)
        #expect(status(bodyLength(["transfer-encoding": "gzip"])) == 400)
    }

    private func target(_ text: String) -> ControlHTTP.Target? {
        try? ControlHTTP.parseTarget(text)
    }

    @Test func splitsAndDecodesRequestTargets() {
        #expect(target("/v1/status") == ControlHTTP.Target(path: "/v1/status", query: [:]))
        #expect(target("/v1/status?json=1&x") == ControlHTTP.Target(path: "/v1/status", query: ["json": "1", "x": ""]))
        #expect(target("/v1/groups/web%20app/failover?to=node+2&msg=a%26b%3Dc")
            == ControlHTTP.Target(path: "/v1/groups/web app/failover", query: ["to": "node 2", "msg": "a&b=c"]))
        #expect(target("/a+b") == ControlHTTP.Target(path: "/a+b", query: [:]))  // '+' is only a space in queries
        #expect(target("/caf%C3%A9")?.path == "/café")
        #expect(target("http://localhost/v1/status?json=1")
            == ControlHTTP.Target(path: "/v1/status", query: ["json": "1"]))
        #expect(target("http://localhost") == ControlHTTP.Target(path: "/", query: [:]))
        #expect(target("http://localhost?x=1") == ControlHTTP.Target(path: "/", query: ["x": "1"]))
        for bad in ["v1/status", "*", "/bad%zz", "/bad%4", "/x?y=%", "/%FF%FE", "/a#frag", "ftp://x/y"] {
            #expect(target(bad) == nil, "\(bad)")
        }
    }

    @Test func encodesPathSegmentsForTheClient() {
        #expect(ControlClient.path("v1", "groups", "web app/1", "failover") == "/v1/groups/web%20app%2F1/failover")
        #expect(ControlClient.path("v1", "status", query: ["json": "1", "a b": "ü"]) == "/v1/status?a%20b=%C3%BC&json=1")
        #expect(target(ControlClient.path("v1", "x y", query: ["k": "v&w"]))
            == ControlHTTP.Target(path: "/v1/x y", query: ["k": "v&w"]))
    }

    @Test func serializesResponsesWithLengthAndCloseAndNoInjectedLines() {
        var response = ControlResponse(status: 405, body: Array("{}\n".utf8))
        response.headers["Allow"] = "GET\r\nX-Evil: 1"
        response.headers["Content-Length"] = "999"
        let text = String(decoding: ControlHTTP.serialize(response), as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 405 Method Not Allowed\r\n"))
        #expect(text.contains("\r\nContent-Length: 3\r\n"))
        #expect(!text.contains("999"))
        #expect(text.contains("\r\nConnection: close\r\n"))
        #expect(text.contains("\r\nAllow: GETX-Evil: 1\r\n"))
        #expect(text.hasSuffix("\r\n\r\n{}\n"))
    }

    @Test func mapsErrorCodesToStatusesAndBack() {
        let table: [(SFHAError.Code, Int)] = [
            (.invalidArgument, 400), (.notFound, 404), (.exists, 409), (.invalidState, 409), (.notQuorate, 409),
            (.unauthorized, 403), (.timeout, 504), (.unavailable, 503), (.io, 500), (.commandFailed, 500),
            (.internalError, 500), (SFHAError.Code(rawValue: "something_new"), 500),
        ]
        for (code, status) in table {
            #expect(ControlStatus.status(for: code) == status, "\(code)")
        }
        let reverse: [(Int, SFHAError.Code)] = [
            (400, .invalidArgument), (403, .unauthorized), (404, .notFound), (405, .invalidArgument),
            (409, .invalidState), (411, .invalidArgument), (413, .invalidArgument), (431, .invalidArgument),
            (500, .internalError), (502, .internalError), (503, .unavailable), (504, .timeout),
        ]
        for (status, code) in reverse {
            #expect(ControlStatus.code(for: status) == code, "\(status)")
        }
    }

    @Test func readsErrorAnswersWithOrWithoutAnErrorBody() {
        let wire = ControlHTTPResponse(
            status: 409, body: Array(#"{"code":"not_quorate","message":"no quorum","cause":"votes 1/3"}"#.utf8))
        #expect(wire.error == {
            var error = SFHAError(.notQuorate, "no quorum")
            error.cause = "votes 1/3"
            return error
        }())
        let plain = ControlHTTPResponse(status: 502, body: Array("<html>bad gateway</html>".utf8))
        #expect(plain.error?.code == .internalError)
        #expect(plain.error?.message.contains("502") == true)
        #expect(ControlHTTPResponse(status: 200, body: []).error == nil)
    }

    @Test func parsesResponseHeads() {
        let bytes = Array("HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nX: a\r\nx: b\r\n\r\n".utf8)
        #expect(ControlHTTP.parseResponseHead(bytes[...])
            == ControlHTTP.ResponseHead(status: 404, headers: ["content-length": "2", "x": "a, b"]))
        #expect(ControlHTTP.parseResponseHead(Array("HTTP/1.1 2000 OK\r\n\r\n".utf8)[...]) == nil)
        #expect(ControlHTTP.parseResponseHead(Array("SSH-2.0-OpenSSH\r\n\r\n".utf8)[...]) == nil)
    }

    /// Random bytes and mutated requests through every parsing function: nothing may trap, and every refusal is a
    /// 4xx/5xx status with a message.
    @Test func parsersSurviveRandomInput() {
        var generator = SystemRandomNumberGenerator()
        let valid = Array("POST /v1/groups/web/failover?to=n2 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 12\r\n\r\n".utf8)
        let alphabet = Array("GET POST /?&=%+:\r\n HTTP/1.1 Content-Length Transfer-Encoding chunked 0123456789\u{0}\u{FF}".utf8)
        var refused = 0
        var accepted = 0
        for round in 0..<10_000 {
            var bytes: [UInt8]
            switch round % 3 {
            case 0:
                bytes = (0..<Int.random(in: 0...300, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            case 1:
                bytes = (0..<Int.random(in: 0...300, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
            default:
                bytes = valid
                for _ in 0..<Int.random(in: 1...6, using: &generator) {
                    let index = Int.random(in: 0..<bytes.count, using: &generator)
                    bytes[index] = alphabet.randomElement(using: &generator)!
                }
            }
            _ = ControlHTTP.headEnd(in: bytes, from: Int.random(in: -3...bytes.count, using: &generator))
            _ = ControlHTTP.parseResponseHead(bytes[...])
            do throws(ControlHTTPFailure) {
                let head = try ControlHTTP.parseRequestHead(bytes[...])
                _ = try ControlHTTP.parseTarget(head.target)
                _ = try ControlHTTP.requestBodyLength(head.headers, limit: 1 << 20)
                accepted += 1
            } catch {
                #expect((400...599).contains(error.status))
                #expect(!error.error.message.isEmpty)
                refused += 1
            }
        }
        // Both outcomes occur: the fuzz reaches past the first check.
        #expect(refused > 0)
        #expect(accepted > 0)
    }
}
