import Foundation
import SFHABase
import Synchronization
import Testing

@testable import SFHACore

@Suite(.timeLimit(.minutes(1))) struct ControlRouterTests {
    private func decode<T: Decodable>(_ type: T.Type, _ response: ControlResponse) throws -> T {
        try JSONDecoder().decode(type, from: Data(response.body))
    }

    @Test func routesPathParametersAndPrefersLiteralSegments() async throws {
        var router = ControlRouter()
        router.get("/v1/vips/{name}") { request in ["kind": "vip", "name": try request.parameter("name")] }
        router.get("/v1/vips/summary") { _ in ["kind": "summary"] }
        router.post("/v1/groups/{group}/members/{node}") { request in request.pathParameters }

        let vip = await router.respond(to: ControlRequest(method: "GET", path: "/v1/vips/web"))
        #expect(vip.status == 200)
        #expect(try decode([String: String].self, vip) == ["kind": "vip", "name": "web"])
        let summary = await router.respond(to: ControlRequest(method: "GET", path: "/v1/vips/summary"))
        #expect(try decode([String: String].self, summary) == ["kind": "summary"])
        let members = await router.respond(to: ControlRequest(method: "POST", path: "/v1/groups/db/members/node 2"))
        #expect(try decode([String: String].self, members) == ["group": "db", "node": "node 2"])
        // A trailing slash is ignored; an empty parameter does not match.
        let slash = await router.respond(to: ControlRequest(method: "GET", path: "/v1/vips/web/"))
        #expect(try decode([String: String].self, slash) == ["kind": "vip", "name": "web"])
        #expect(await router.respond(to: ControlRequest(method: "GET", path: "/v1/vips//")).status == 404)
        #expect(router.endpoints.map { "\($0.method) \($0.pattern)" }
            == ["GET /v1/vips/{name}", "GET /v1/vips/summary", "POST /v1/groups/{group}/members/{node}"])
    }

    @Test func answersUnknownPathsWith404AndWrongMethodsWith405() async throws {
        let router = ControlTestRoutes.router()
        let missing = await router.respond(to: ControlRequest(method: "GET", path: "/v1/nothing"))
        #expect(missing.status == 404)
        #expect(try decode(ControlErrorBody.self, missing).code == "not_found")
        let wrong = await router.respond(to: ControlRequest(method: "DELETE", path: "/v1/status"))
        #expect(wrong.status == 405)
        #expect(wrong.headers["Allow"] == "GET")
        let body = try decode(ControlErrorBody.self, wrong)
        #expect(body.code == "invalid_argument")
        #expect(body.message.contains("DELETE") && body.message.contains("/v1/status"))
        // Methods compare case-insensitively.
        #expect(await router.respond(to: ControlRequest(method: "get", path: "/v1/status")).status == 200)
    }

    @Test(arguments: [
        ("invalid_argument", 400), ("not_found", 404), ("exists", 409), ("invalid_state", 409), ("not_quorate", 409),
        ("unauthorized", 403), ("timeout", 504), ("unavailable", 503), ("io", 500), ("command_failed", 500),
        ("internal", 500),
    ])
    func mapsHandlerErrorsToStatuses(_ code: String, _ status: Int) async throws {
        let response = await ControlTestRoutes.router().respond(to: ControlRequest(method: "GET", path: "/v1/fail/\(code)"))
        #expect(response.status == status)
        #expect(try decode(ControlErrorBody.self, response) == ControlErrorBody(code: code, message: "failing on purpose with \(code)"))
    }

    @Test func decodesJSONBodiesAndExplainsBadOnes() async throws {
        let router = ControlTestRoutes.router()
        func post(_ body: String) async -> ControlResponse {
            await router.respond(to: ControlRequest(method: "POST", path: "/v1/echo", body: Array(body.utf8)))
        }
        let good = await post(#"{"text":"hi","count":3}"#)
        #expect(try decode(ControlTestEchoAnswer.self, good) == ControlTestEchoAnswer(text: "hi", count: 3, method: "POST"))

        let broken = await post(#"{"text": "hi""#)
        #expect(broken.status == 400)
        let brokenError = try decode(ControlErrorBody.self, broken)
        #expect(brokenError.code == "invalid_argument")
        #expect(brokenError.message.hasPrefix("invalid JSON body: "))

        let missing = await post(#"{"count": 2}"#)
        #expect(missing.status == 400)
        #expect(try decode(ControlErrorBody.self, missing).message.contains("missing key 'text'"))

        let mistyped = await post(#"{"text": "a", "count": "two"}"#)
        #expect(try decode(ControlErrorBody.self, mistyped).message.contains("count"))

        // An empty body reads as {} (all-optional parameters), so a bare POST works.
        let failover = await router.respond(to: ControlRequest(method: "POST", path: "/v1/groups/web/failover"))
        #expect(try decode(ControlTestFailoverAnswer.self, failover) == ControlTestFailoverAnswer(group: "web", to: "(any)"))
    }

    @Test func handlersWithoutABodyTypeRefuseBodiesTheyCannotUse() async throws {
        let calls = Mutex(0)
        var router = ControlRouter()
        router.post("/v1/standby") { _ in
            calls.withLock { $0 += 1 }
            return ControlEmpty()
        }
        router.delete("/v1/vips/{name}") { _ in
            calls.withLock { $0 += 1 }
            return ControlEmpty()
        }
        router.get("/v1/status") { _ in ["ok": true] }
        for body in ["nonsense", #"{"on": "#, "[]", "null", #"{"on": false}"#, #"{"a": 1, "b": 2}"#] {
            for (method, path) in [("POST", "/v1/standby"), ("DELETE", "/v1/vips/web")] {
                let response = await router.respond(to: ControlRequest(method: method, path: path, body: Array(body.utf8)))
                #expect(response.status == 400, "\(method) \(path) \(body)")
                #expect(try decode(ControlErrorBody.self, response).code == "invalid_argument")
            }
        }
        #expect(calls.withLock { $0 } == 0)
        let named = await router.respond(to: ControlRequest(method: "POST", path: "/v1/standby", body: Array(#"{"b": 1, "a": 2}"#.utf8)))
        #expect(try decode(ControlErrorBody.self, named).message
            == "POST /v1/standby takes no parameters, but the body has 'a', 'b'; send no body, or {}")
        for body in ["", " \r\n", "{}", " { } "] {
            #expect(await router.respond(to: ControlRequest(method: "POST", path: "/v1/standby", body: Array(body.utf8))).status == 200)
        }
        #expect(calls.withLock { $0 } == 4)
        // GET bodies mean nothing and are ignored.
        #expect(await router.respond(to: ControlRequest(method: "GET", path: "/v1/status", body: Array("junk".utf8))).status == 200)
    }

    @Test func rawHandlersChooseTheirStatus() async throws {
        var router = ControlRouter()
        router.add("POST", "/v1/reload") { (_: ControlRequest) async throws(SFHAError) -> ControlResponse in
            try .json(["accepted": true], status: 202)
        }
        let response = await router.respond(to: ControlRequest(method: "POST", path: "/v1/reload"))
        #expect(response.status == 202)
        #expect(String(decoding: response.body, as: UTF8.self) == "{\"accepted\":true}\n")
        #expect(response.contentType == "application/json")
    }

    @Test func authorizationPolicies() {
        let root = PeerCredentials(pid: 10, uid: 0, gid: 0)
        let operatorUser = PeerCredentials(pid: 11, uid: 1000, gid: 1000, groups: [27, 990])
        let stranger = PeerCredentials(pid: 12, uid: 1001, gid: 1001, groups: [100])
        #expect(ControlAuthorization.rootOnly.allows(root))
        #expect(!ControlAuthorization.rootOnly.allows(operatorUser))
        let groups = ControlAuthorization.rootOrGroups([990])
        #expect(groups.allows(root))
        #expect(groups.allows(operatorUser))
        #expect(!groups.allows(stranger))
        #expect(ControlAuthorization.rootOrGroups([1001]).allows(stranger))  // primary group counts too
    }

    @Test func requestFlags() {
        let request = ControlRequest(
            method: "GET", path: "/v1/status", query: ["json": "", "verbose": "TRUE", "color": "0", "x": "no"])
        #expect(request.flag("json"))
        #expect(request.flag("verbose"))
        #expect(!request.flag("color"))
        #expect(!request.flag("x"))
        #expect(!request.flag("missing"))
    }
}
