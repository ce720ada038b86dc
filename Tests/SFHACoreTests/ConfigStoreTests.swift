import Foundation
@testable import SFHACore
import SFHABase
import Testing

@Suite("ConfigurationStore, redaction and the example", .timeLimit(.minutes(2)))
struct ConfigStoreTests {
    /// A fresh directory under /tmp, removed by the caller.
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "sfha-config-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func reloadKeepsTheOldConfigurationOnInvalidInput() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/config.yml"
        try AtomicFile.write(ConfigFixtures.readmeQuick, to: path)
        let store = try ConfigurationStore.load(path: path)
        let original = await store.current
        #expect(original.cluster.name == "my-cluster")
        #expect(await store.document.revision == 1)

        // Invalid file: the errors come back, the configuration in force does not change.
        try AtomicFile.write(ConfigFixtures.readmeQuick.replacingOccurrences(of: "192.168.1.100", with: "192.168.1.300"), to: path)
        let failed = await store.reload()
        guard case .failure(let error) = failed else {
            Issue.record("an invalid file must not load")
            return
        }
        #expect(error.description == "\(path):13:9: vips[0].ip: \"192.168.1.300\" is not an IPv4 or IPv6 address")
        #expect(await store.current == original)
        #expect(await store.document.revision == 1)

        // Unreadable file: same.
        let missing = await store.reload(from: directory + "/missing.yml")
        #expect(throws: ConfigurationError.self) { try missing.get() }
        #expect(await store.current == original)

        // A valid change replaces it and advances the document revision.
        try AtomicFile.write(ConfigFixtures.readmeQuick.replacingOccurrences(of: "192.168.1.100", with: "192.168.1.150"), to: path)
        let reloaded = try await store.reload().get()
        #expect(reloaded.cluster.groups.first?.vips.first?.cidr == "192.168.1.150/24")
        #expect(await store.current == reloaded)
        #expect(await store.document.revision == 2)
        #expect(await store.document.configuration == reloaded.cluster)
    }

    @Test func nodeLocalChangesKeepTheRevisionAndRenamesAreRefused() async throws {
        let initial = try ConfigTest.load(ConfigFixtures.readmeQuick)
        let store = ConfigurationStore(initial: initial, path: "/etc/sfha/config.yml", revision: 10)
        let hash = await store.document.contentHash

        let quieter = ConfigFixtures.readmeQuick.replacingOccurrences(of: "priority: 100", with: "priority: 50")
        let result = await store.reload(yaml: quieter)
        #expect(try result.get().node.priority == 50)
        let document = await store.document
        #expect(document.revision == 10 && document.contentHash == hash)

        let renamed = ConfigFixtures.readmeQuick.replacingOccurrences(of: "name: node1", with: "name: node9")
        let refused = await store.reload(yaml: renamed)
        guard case .failure(let error) = refused else {
            Issue.record("renaming a running node must be refused")
            return
        }
        #expect(error.items.map(\.keyPath) == ["node.name"])
        #expect(error.description.contains("cannot be renamed by a reload"))
        #expect(await store.current.node == NodeConfiguration(name: "node1", priority: 50))
    }

    @Test func secretsAreRedactedInEveryTextForm() throws {
        let secret = "s3cr3t-token-value"
        let bearer = "Bearer abc.def.ghi"
        let config = try ConfigTest.load(ConfigTest.minimal("""
            stonith:
              enabled: true
              proxmox:
                api_url: https://pve:8006
                token_id: root@pam!sfha
                token_secret: \(secret)
              webhook:
                fence_url: "https://fence/{{node}}"
                headers: {Authorization: "\(bearer)"}
                body_template: '{"token": "\(secret)"}'
              nodes: {node1: {vmid: 101}}

            """))
        // Kept for the drivers…
        let stonith = try #require(config.cluster.stonith)
        #expect(stonith.proxmox?.tokenSecret == secret)
        #expect(stonith.webhook?.headers["Authorization"] == bearer)
        // …never rendered.
        var dumped = ""
        dump(config, to: &dumped)
        var dumpedStonith = ""
        dump(stonith, to: &dumpedStonith)
        let texts = [
            config.description, "\(config)", String(reflecting: config), config.cluster.description,
            String(describing: stonith), String(reflecting: stonith), String(describing: stonith.proxmox),
            String(describing: stonith.webhook), "\(stonith.proxmox!)",
            ClusterDocument(revision: 1, configuration: config.cluster).description, dumped, dumpedStonith,
        ]
        for text in texts {
            #expect(!text.contains(secret) && !text.contains("abc.def"), "leaked in: \(text)")
        }
        #expect(stonith.description.contains("secret: <redacted>"))
        #expect(stonith.description.contains("Authorization: <redacted>"))
        #expect(dumpedStonith.contains("<redacted>"))
    }

    @Test func theMinimalExampleLoadsWithoutWarningsAndHoldsOneVIPAndOneService() throws {
        let config = try ConfigTest.load(SFHAConfiguration.minimalExampleYAML)
        #expect(config.warnings.isEmpty)
        #expect(config.node.name == "node1")
        #expect(config.cluster.groups.map(\.name) == ["default"])
        #expect(config.cluster.groups.first?.vips.map(\.cidr) == ["192.168.1.100/24"])
        #expect(config.cluster.groups.first?.services.map(\.name) == ["nginx"])
        #expect(config.cluster.groups.first?.services.first?.critical == true)
        #expect(SFHAConfiguration.minimalExampleYAML.split(separator: "\n").count < 25)
    }

    @Test func exampleLoadsWithoutWarnings() throws {
        let config = try ConfigTest.load(SFHAConfiguration.exampleYAML)
        #expect(config.warnings.isEmpty)
        #expect(config.node == NodeConfiguration(name: "node1", priority: 100, logLevel: .info))
        #expect(config.cluster.groups.map(\.name) == ["web", "db", "default"])
        #expect(config.cluster.group(named: "web")?.resourceNames == ["vip-web", "vip-web6", "nginx", "app"])
        #expect(config.cluster.group(named: "web")?.startAfter == ["db"])
        #expect(config.cluster.group(named: "default")?.services.map(\.name) == ["exporter", "backup-agent"])
        #expect(config.cluster.group(named: "default")?.colocatedWith == ["web"])
        #expect(config.cluster.group(named: "db")?.requiredChecks == ["disk"])
        #expect(config.cluster.stonith?.enabled == false)
        #expect(config.cluster.nodePriorities == ["node1": 200, "node2": 100])
    }

    /// Every key the loader knows appears in the example (the deprecated one in a comment).
    @Test(arguments: [
        "cluster:", "name:", "quorum_required:", "failover_delay_ms:", "maintenance:", "node_priorities:",
        "poll_interval_ms", "node:", "priority:", "logging:", "level:", "vips:", "ip:", "cidr:", "interface:", "group:",
        "services:", "type:", "unit:", "critical:", "restart_service:", "failure_policy:", "max_restarts:", "window:",
        "failure_timeout:", "healthcheck:", "target:", "command:", "interval_ms:", "timeout_ms:", "interval:",
        "timeout:", "failures_before_unhealthy:", "successes_before_healthy:", "verify_certificate:", "groups:",
        "priorities:", "failback:", "failback_delay:", "colocate_with:", "start_after:", "health_checks:",
        "constraints:", "resource:", "with:", "first:", "then:", "stonith:", "enabled:", "provider:", "proxmox:",
        "api_url:", "token_id:", "token_secret", "token_secret_file:", "verify_ssl:", "pve_node:", "webhook:",
        "fence_url:", "unfence_url:", "status_url:", "method:", "headers:", "body_template:", "nodes:", "vmid:",
        "safety:", "require_quorum:", "min_delay_between_fence:", "max_fences_per_5min:", "startup_grace_period:",
        "fence_delay_on_node_left:",
    ])
    func exampleCoversKey(key: String) {
        #expect(SFHAConfiguration.exampleYAML.contains(key))
    }
}
