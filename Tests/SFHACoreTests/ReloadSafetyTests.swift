import CorosyncKit
import Foundation
import Logging
import SFHABase
import Testing

@testable import SFHACore

/// No acknowledged change is lost silently: a reload that would remove what the live document has must be
/// confirmed (exactly those removals), `--dry-run` shows the diff, the live document can be exported, and a node
/// whose config.yml is not the live document says so.
@Suite("reload never drops an acknowledged change silently", .timeLimit(.minutes(1)))
struct ReloadSafetyTests {
    static let fileText = """
        cluster:
          name: t
        node:
          name: node1
        vips:
          - name: vip-web
            ip: 192.0.2.10/24
            interface: eth0
        """

    /// A one-node runtime seeded from `fileText`, then `vip add`ed twice (revision 3), and the file edited for
    /// something else (a priority and the failover delay), as the outside trial did.
    static func runtimeWithTwoAddedVIPs() async throws -> (DaemonRuntime, path: String, stop: @Sendable () -> Void) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sfha-reload-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = "\(directory)/config.yml"
        try AtomicFile.write(fileText, to: path)
        let seed = try SFHAConfiguration.load(path: path)
        let runtime = DaemonRuntime(
            node: seed.node, nodeID: 1, document: ClusterDocument(revision: 1, configuration: seed.cluster),
            effects: NodeEffects(
                addresses: FakeAddressController(addresses: []), announcer: FakeNeighbourAnnouncer(),
                duplicates: FakeDuplicateAddressChecker(), services: FakeServiceController()),
            documentPath: "\(directory)/cluster.json", seededFrom: seed.cluster, requireProof: false, logger: Logger(label: "test"))
        let group = LoopbackGroup()
        group.connect(runtime)
        let sender = runtime.sender
        let senderTask = Task { await sender.run() }
        await runtime.start()
        await runtime.corosync(.connected(RuntimeFixture.snapshot(quorate: true)))
        await runtime.attach(transport: group, as: group.member)
        await runtime.groupEvent(.ring(RuntimeFixture.ring, nodes: [1]))
        await runtime.groupEvent(.membership(ProcessGroupMembershipChange(members: [group.member], joined: [(group.member, .joined)], left: [])))
        _ = try await runtime.addVIP(name: "vip-api", cidr: "192.0.2.20/24", interface: "eth0", group: nil)
        _ = try await runtime.addVIP(name: "vip-api2", cidr: "192.0.2.21/24", interface: "eth0", group: nil)
        try AtomicFile.write(
            fileText.replacingOccurrences(of: "  name: node1", with: "  name: node1\n  priority: 150")
                .replacingOccurrences(of: "  name: t", with: "  name: t\n  failover_delay_ms: 500"),
            to: path)
        return (runtime, path, { senderTask.cancel() })
    }

    @Test func theDiffListsWhatAReloadWouldAddRemoveAndChange() {
        let vip = { (name: String, address: String, interface: String) in
            VirtualIP(name: name, address: IPAddress(address)!, prefixLength: 24, interface: interface)
        }
        let live = ClusterConfiguration(groups: [ResourceGroup(
            name: "default", vips: [vip("a", "192.0.2.1", "eth0"), vip("b", "192.0.2.2", "eth0")],
            services: [ManagedService(name: "web", unit: "web.service")])])
        let file = ClusterConfiguration(maintenance: true, groups: [ResourceGroup(
            name: "default", vips: [vip("a", "192.0.2.1", "eth1"), vip("c", "192.0.2.3", "eth0")])])
        let diff = ConfigurationDiff(from: live, to: file)
        #expect(diff.removals == ["vip b", "service web"])
        #expect(diff.entries.map(\.description).contains("~ vip a: interface eth0 → eth1"))
        #expect(diff.entries.contains { $0.change == .added && $0.name == "c" })
        #expect(diff.entries.contains { $0.kind == "setting" && $0.detail == "maintenance off → on" })
        #expect(diff.summary.contains("removes vip b, service web"))
        #expect(ConfigurationDiff(from: live, to: live).isEmpty)
    }

    /// Before: `sfha reload` of a config.yml that predates two `vip add`s committed "removes vip-api, vip-api2"
    /// with no question. Now the plan lists them, an unconfirmed reload (SIGHUP) changes nothing, and only the
    /// confirmation of exactly those removals commits.
    @Test func aStaleFileCannotRemoveVIPsWithoutConfirmation() async throws {
        let (runtime, path, stop) = try await Self.runtimeWithTwoAddedVIPs()
        defer { stop() }
        #expect(await runtime.document.revision == 3)

        let plan = try await runtime.reloadPlan(path: path)
        #expect(plan.commits && plan.changedSinceRead)
        #expect(plan.diff.removals == ["vip vip-api", "vip vip-api2"])
        #expect(plan.nodeSettings == ["priority 100 → 150"])
        #expect(await runtime.document.revision == 3, "a dry run changes nothing")

        let unconfirmed = await #expect(throws: SFHAError.self) { try await runtime.reload(path: path) { _ in } }
        #expect(unconfirmed?.code == .conflict)
        #expect(unconfirmed?.message.contains("vip vip-api, vip vip-api2") == true)
        #expect(await runtime.document.revision == 3)
        #expect(await runtime.document.configuration.groups.flatMap(\.vips).count == 3)

        let partial = await #expect(throws: SFHAError.self) {
            try await runtime.reload(path: path, confirmedRemovals: ["vip vip-api"]) { _ in }
        }
        #expect(partial?.code == .conflict)
        #expect(await runtime.document.revision == 3)

        let result = try await runtime.reload(path: path, confirmedRemovals: ["vip vip-api", "vip vip-api2"]) { _ in }
        #expect(result.changed && result.revision == 4, "\(result.message)")
        #expect(await runtime.document.configuration.groups.flatMap(\.vips).map(\.name) == ["vip-web"])
    }

    @Test func anInvalidFileIsAnInvalidConfiguration() async throws {
        let (runtime, path, stop) = try await Self.runtimeWithTwoAddedVIPs()
        defer { stop() }
        try AtomicFile.write("vips: [\n", to: path)
        let error = await #expect(throws: SFHAError.self) { try await runtime.reloadPlan(path: path) }
        #expect(error?.code == .invalidConfiguration)
        let reload = await #expect(throws: SFHAError.self) { try await runtime.reload(path: path) { _ in } }
        #expect(reload?.code == .invalidConfiguration)
        #expect(await runtime.document.revision == 3)
    }

    /// The file differs from the live document: status says which won and why; exporting the live document and
    /// loading it back gives the same configuration, and once the file is the export the warning goes.
    @Test func driftIsReportedAndTheExportLoadsBack() async throws {
        let (runtime, path, stop) = try await Self.runtimeWithTwoAddedVIPs()
        defer { stop() }
        let warnings = await runtime.status().warnings
        #expect(warnings.contains { $0.contains("differs from the live cluster document") && $0.contains("revision 3") }, "\(warnings)")

        let export = await runtime.exportConfiguration(includeSecrets: false)
        #expect(export.revision == 3)
        try AtomicFile.write(export.yaml, to: path)
        let loaded = try SFHAConfiguration.load(path: path)
        #expect(loaded.cluster == (await runtime.document.configuration))
        let result = try await runtime.reload(path: path) { _ in }
        #expect(result.revision == 3, "nothing to commit: \(result.message)")
        #expect(!(await runtime.status().warnings.contains { $0.contains("differs from the live cluster document") }))
    }

    @Test func exportRedactsSecretsUnlessAsked() {
        var configuration = ClusterConfiguration()
        configuration.stonith = StonithConfiguration(
            enabled: true, provider: .proxmox,
            proxmox: .init(apiURL: URL(string: "https://pve:8006")!, tokenID: "root@pam!sfha", tokenSecret: "s3cret"))
        let redacted = configuration.redactingSecrets()
        #expect(redacted.stonith?.proxmox?.tokenSecret == "<redacted>")
        #expect(!redacted.renderedYAML().contains("s3cret"))
        #expect(configuration.renderedYAML().contains("s3cret"))
    }
}

/// Standby is kept in the replicated document: it survives a restart (the document is what a restarted daemon
/// loads), it can be set for another node, and a stale file's reload cannot take a node out of it unconfirmed.
@Suite("standby is replicated and persistent", .timeLimit(.minutes(1)))
struct StandbyPersistenceTests {
    @Test func standbyOfAnotherNodeIsCommittedAndSurvivesAReloadOfTheFile() async throws {
        let (runtime, path, stop) = try await ReloadSafetyTests.runtimeWithTwoAddedVIPs()
        defer { stop() }
        let result = try await runtime.setStandby(node: nil, true)
        #expect(result.changed)
        #expect(await runtime.document.configuration.standbyNodes == ["node1"])
        #expect(await runtime.localReport.standby, "this node reports standby")
        let unknown = await #expect(throws: SFHAError.self) { try await runtime.setStandby(node: "node9", true) }
        #expect(unknown?.code == .notFound)

        // Written out and read back (what a restarted daemon starts from): still in standby.
        let export = await runtime.exportConfiguration(includeSecrets: false)
        #expect(export.yaml.contains("standby_nodes: [node1]"))
        let decoded = try JSONDecoder().decode(ClusterDocument.self, from: try JSONEncoder().encode(await runtime.document))
        #expect(decoded.configuration.standbyNodes == ["node1"])

        // The file does not say so: reloading it would take node1 out of standby — a removal to confirm.
        let plan = try await runtime.reloadPlan(path: path)
        #expect(plan.diff.removals.contains("standby node1"), "\(plan.diff.removals)")
        _ = try await runtime.setStandby(node: "node1", false)
        #expect(await !runtime.localReport.standby)
    }
}

/// `sfha history`: operator commands (who, what, the answer) and failures, kept across restarts.
@Suite("history of moves, failures and commands", .timeLimit(.minutes(1)))
struct HistoryTests {
    @Test func commandsAreRecordedWithTheirCallerAndSurviveARestart() async throws {
        let (runtime, _, stop) = try await ReloadSafetyTests.runtimeWithTwoAddedVIPs()
        defer { stop() }
        let router = runtime.controlRouter()
        let caller = PeerCredentials(pid: getpid(), uid: 0, gid: 0)
        let ok = await router.respond(to: ControlRequest(
            method: "POST", path: "/v1/maintenance", body: Array(#"{"on": true}"#.utf8), peer: caller))
        #expect(ok.status == ControlStatus.ok)
        let refused = await router.respond(to: ControlRequest(method: "DELETE", path: "/v1/vips/nope", peer: caller))
        #expect(refused.status == ControlStatus.notFound)
        var entries: [HistoryEntry] = []
        let recorded = await eventually {
            entries = await runtime.history.recent(10)
            return entries.filter { $0.kind == .command }.count == 2
        }
        #expect(recorded, "\(entries)")
        let commands = entries.filter { $0.kind == .command }
        #expect(commands[0].text.hasPrefix("maintenance on: maintenance on: committed as revision 4"), "\(commands[0].text)")
        #expect(commands[1].text.contains("vip remove nope: refused"), "\(commands[1].text)")
        #expect(commands[0].who?.hasPrefix("uid 0, pid \(getpid())") == true, "\(String(describing: commands[0].who))")

        // A new daemon on the same state directory reads it back.
        let path = try #require(runtime.history.path)
        let reread = DaemonHistory(path: path, logger: Logger(label: "test"))
        #expect(await reread.recent(10).filter { $0.kind == .command }.map(\.text) == commands.map(\.text))
    }
}
