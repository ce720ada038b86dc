import Foundation
import SFHABase
import Synchronization
import Testing

@testable import SFHACore

/// The daemon's own routes (`DaemonRuntime.controlRouter`), on a runtime with fake effects and no corosync: a body
/// the route cannot read is answered 400 before anything happens.
@Suite(.timeLimit(.minutes(2))) struct ControlDaemonRouteTests {
    static func runtime() -> DaemonRuntime {
        DaemonRuntime(
            node: NodeConfiguration(name: "node1"), nodeID: 1,
            document: ClusterDocument(revision: 1, configuration: ClusterConfiguration(name: "t")),
            effects: NodeEffects.fakes().effects, documentPath: "/nonexistent/sfha/cluster.json", logger: quietControlLogger)
    }

    final class Counter: Sendable {
        private let count = Mutex(0)
        var value: Int { count.withLock { $0 } }
        func increment() { count.withLock { $0 += 1 } }
    }

    /// A router whose reload only counts its calls.
    static func router(_ runtime: DaemonRuntime, reloads: Counter) -> ControlRouter {
        runtime.controlRouter(reload: { (_: ReloadRequest) async throws(SFHAError) -> ChangeResult in
            reloads.increment()
            return ChangeResult(changed: false, revision: 1, message: "nothing changed")
        })
    }

    static let invalidBodies = [
        "not json", #"{"on": "#, #"{"group": "web"} trailing"#, "[]", #""standby""#, "null", "{on: true}", "{\"a\":1,}",
    ]

    @Test(arguments: [
        "/v1/standby", "/v1/unstandby", "/v1/reload", "/v1/failover", "/v1/maintenance", "/v1/cleanup", "/v1/vips",
        "/v1/services",
    ])
    func invalidJSONBodiesAreRefusedAndChangeNothing(_ path: String) async throws {
        let runtime = Self.runtime()
        let reloads = Counter()
        let router = Self.router(runtime, reloads: reloads)
        for body in Self.invalidBodies {
            let response = await router.respond(to: ControlRequest(method: "POST", path: path, body: Array(body.utf8)))
            #expect(response.status == ControlStatus.badRequest, "POST \(path) \(body)")
            let wire = try JSONDecoder().decode(ControlErrorBody.self, from: Data(response.body))
            #expect(wire.code == "invalid_argument")
            #expect(wire.message.hasPrefix("invalid JSON body: "), "\(wire.message)")
        }
        #expect(reloads.value == 0)
        #expect(await runtime.localReport.standby == false)
        #expect(await runtime.document.revision == 1)
        #expect(await runtime.document.configuration.maintenance == false)
    }

    @Test func commandsWithoutParametersTakeNothingOrAnEmptyObjectOnly() async throws {
        let runtime = Self.runtime()
        let reloads = Counter()
        let router = Self.router(runtime, reloads: reloads)
        func post(_ path: String, _ body: String) async -> ControlResponse {
            await router.respond(to: ControlRequest(method: "POST", path: path, body: Array(body.utf8)))
        }
        // A parameter these commands do not have is refused, not ignored: `{"on": false}` must not mean "standby on".
        let mistaken = await post("/v1/standby", #"{"on": false}"#)
        #expect(mistaken.status == ControlStatus.badRequest)
        let wire = try JSONDecoder().decode(ControlErrorBody.self, from: Data(mistaken.body))
        #expect(wire.message == "POST /v1/standby takes only node, but the body has 'on'")
        #expect(await runtime.localReport.standby == false)
        // Standby is a replicated change now: a daemon outside the group refuses it (503) and nothing changes.
        #expect(await post("/v1/standby", "").status == ControlStatus.serviceUnavailable)
        #expect(await runtime.localReport.standby == false)
        #expect(await post("/v1/reload", "\n").status == ControlStatus.ok)
        #expect(reloads.value == 1)

        // DELETE routes take no body either.
        let delete = await router.respond(to: ControlRequest(method: "DELETE", path: "/v1/vips/v1", body: Array("junk".utf8)))
        #expect(delete.status == ControlStatus.badRequest)
        // A required parameter is still required: an empty body reads as {}.
        let maintenance = await post("/v1/maintenance", "")
        #expect(maintenance.status == ControlStatus.badRequest)
        #expect(try JSONDecoder().decode(ControlErrorBody.self, from: Data(maintenance.body)).message.contains("missing key 'on'"))
    }

    @Test func theServerRefusesAnInvalidStandbyBodyOverTheSocket() async throws {
        let runtime = Self.runtime()
        try await withControlServer(router: Self.router(runtime, reloads: Counter())) { _, client, _ in
            let response = try await client.exchange("POST", "/v1/standby", body: Array("{not json".utf8))
            #expect(response.status == ControlStatus.badRequest)
            #expect(controlErrorBody(response)?.code == "invalid_argument")
            #expect(await runtime.localReport.standby == false)
        }
    }
}
