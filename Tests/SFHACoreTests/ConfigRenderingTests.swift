import SFHABase
import Foundation
@testable import SFHACore
import Testing
import Yams

/// Configurations whose rendering must read back unchanged.
enum RenderingCorpus {
    /// The repository's example and fixture files, as config.yml text.
    static func files() throws -> [(name: String, yaml: String)] {
        var files: [(name: String, yaml: String)] = [
            ("config.yml.example", ConfigFixtures.configExample), ("readme full", ConfigFixtures.readmeFull),
            ("readme quick", ConfigFixtures.readmeQuick), ("sfha config example", SFHAConfiguration.exampleYAML),
        ]
        let scenarioConfigs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Scenarios/configs")
        // The originals are also copied verbatim into ConfigFixtures; read them where they are kept when present.
        let originals = URL(fileURLWithPath: "/work/shared/reference/original-configs")
        for directory in [scenarioConfigs, originals] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            for name in names.sorted() where name.hasSuffix(".yml") || name.hasSuffix(".example") {
                let url = directory.appendingPathComponent(name)
                files.append((url.path, try String(contentsOf: url, encoding: .utf8)))
            }
        }
        return files
    }

    /// Every feature of the model at once, with strings that YAML would misread unquoted (`null`, `true`, `101`,
    /// `#`, `: `, quotes, line breaks, control characters, non-ASCII), consistent with its own constraints.
    static func builtInCode() -> ClusterConfiguration {
        let web = ResourceGroup(
            name: "web",
            vips: [
                VirtualIP(name: "vip-web", address: .v4(IPv4Address(192, 0, 2, 10)), prefixLength: 24),
                VirtualIP(name: "101", address: IPAddress("2001:db8::10")!, prefixLength: 64, interface: "bond0.100"),
            ],
            services: [
                ManagedService(
                    name: "nginx", unit: "nginx.service", critical: true, restartService: true,
                    healthCheck: HealthCheck(
                        name: "nginx", kind: .https(URL(string: "https://[::1]:8443/ready?a=1&b=%20x#frag")!,
                                                    verifyCertificate: false),
                        interval: .seconds(10), timeout: .milliseconds(2500), failuresBeforeUnhealthy: 5,
                        successesBeforeHealthy: 1, critical: true),
                    failurePolicy: FailurePolicy(maxRestarts: 5, window: .seconds(90), failureTimeout: .milliseconds(1500))),
                ManagedService(
                    name: "getty:1", unit: "getty@tty1.service",
                    healthCheck: HealthCheck(
                        name: "getty:1", kind: .systemd(unit: "getty@tty1.service"), interval: .milliseconds(100),
                        timeout: .milliseconds(100))),
            ],
            priorities: ["node-1": 300, "2": 0], failback: true, failbackDelay: .seconds(90), colocatedWith: ["true"],
            startAfter: ["true"], requiredChecks: ["uplink"])
        let database = ResourceGroup(
            name: "true",
            vips: [VirtualIP(name: "null", address: .v4(IPv4Address(10, 1, 2, 3)), prefixLength: 32, interface: "eth1")],
            services: [
                ManagedService(
                    name: "pg", unit: "postgresql@15-main",
                    healthCheck: HealthCheck(
                        name: "pg", kind: .tcp(host: "db.example.com", port: 5432), interval: .seconds(5),
                        timeout: .seconds(2))),
            ])
        let ungrouped = ResourceGroup(
            name: ResourceGroup.defaultName,
            services: [
                ManagedService(
                    name: "exporter",
                    healthCheck: HealthCheck(
                        name: "exporter", kind: .http(URL(string: "http://127.0.0.1:9100/metrics")!),
                        interval: .seconds(3600), timeout: .seconds(600))),
            ])
        let disk = HealthCheck(
            name: "disk",
            kind: .exec(arguments: [
                "/usr/bin/check disk", "--path=/var/lib/a b", "#not a comment", "key: value", "quote\"s 'and' \\back",
                "new\nline", "tab\there", "ünïcødé ✓ 😀", "true", "123", "-", "", "~", "null", "[x, y]", "{a: b}",
                "bell\u{07}", "esc\u{1B}[31m", "nel\u{85}", "sep\u{2028}", "rlo\u{202E}", "bom\u{FEFF}", "&anchor",
                "*alias", "!tag", "%directive", "@at", "`tick", "'", "\"", "? key", "trailing space ", " leading",
            ]),
            interval: .milliseconds(1500), timeout: .milliseconds(1500))
        let uplink = HealthCheck(
            name: "uplink", kind: .tcp(host: "2001:db8::1", port: 53), interval: .seconds(10),
            timeout: .milliseconds(2500), critical: true, restartUnit: "systemd-networkd.service")
        var stonith = StonithConfiguration(
            enabled: true, provider: .webhook,
            proxmox: StonithConfiguration.ProxmoxSettings(
                apiURL: URL(string: "https://pve01.example.com:8006")!, tokenID: "root@pam!sfha",
                tokenSecret: "pa:ss#word 'x' \"y\" \\z", tokenSecretFile: "/etc/sfha/proxmox.secret", verifySSL: true,
                pveNode: "pve01"),
            webhook: StonithConfiguration.WebhookSettings(
                fenceURL: "https://fence.example.com/{{node}}/{{action}}", unfenceURL: "http://fence/{{node}}/on",
                statusURL: "https://fence.example.com/{{node}}/status?x=1", method: .PUT,
                headers: ["Authorization": "Bearer s3cr3t:\"quoted\"", "X-Tab": "a\tb", "X-Unicode": "é✓", "x_empty": ""],
                bodyTemplate: "{\"node\": \"{{node}}\"}\nsecond line", timeout: .milliseconds(1500), verifySSL: false),
            nodes: ["node-1": .init(type: .qemu, vmid: 101), "2": .init(type: .lxc, vmid: nil)])
        stonith.safety = StonithConfiguration.Safety(
            requireQuorum: false, minDelayBetweenFences: .milliseconds(1500), maxFencesPerFiveMinutes: 7,
            startupGracePeriod: .zero, fenceDelayOnNodeLeft: .seconds(600))
        return ClusterConfiguration(
            name: "prod.cluster-1", quorumRequired: false, takeoverDelay: .milliseconds(250), maintenance: true,
            groups: [web, database, ungrouped], nodeChecks: [uplink, disk],
            constraints: [
                .colocation(resource: "nginx", with: "uplink"), .order(first: "pg", then: "nginx"),
                .colocation(resource: "getty:1", with: "null"), .order(first: "vip-web", then: "101"),
                .order(first: "nginx", then: "getty:1"),
            ],
            stonith: stonith, nodePriorities: ["node-1": 200, "2": 0, "0node": 1000])
    }
}

@Suite("Rendering: config.yml text that reads back as an equal configuration", .timeLimit(.minutes(2)))
struct ConfigRenderingTests {
    /// The cluster part as it would be validated: rendered, with a node section, read back by the loader.
    static func readBack(_ cluster: ClusterConfiguration) throws -> ClusterConfiguration {
        try ConfigTest.load(cluster.renderedYAML() + "node: {name: n1}\n").cluster
    }

    @Test func everyExampleAndFixtureReadsBackEqual() throws {
        let files = try RenderingCorpus.files()
        #expect(files.count >= 12)
        for file in files {
            let loaded = try ConfigTest.load(file.yaml)
            let whole = try ConfigTest.load(loaded.renderedYAML())
            #expect(whole.cluster == loaded.cluster, "\(file.name)")
            #expect(whole.node == loaded.node, "\(file.name)")
            #expect(try Self.readBack(loaded.cluster) == loaded.cluster, "\(file.name)")
            #expect(try loaded.cluster.validated() == loaded.cluster, "\(file.name)")
            // Stable: the rendering of what was read back is the same text.
            #expect(whole.renderedYAML() == loaded.renderedYAML(), "\(file.name)")
        }
    }

    @Test func aConfigurationBuiltInCodeReadsBackEqual() throws {
        let cluster = RenderingCorpus.builtInCode()
        let readBack = try Self.readBack(cluster)
        #expect(readBack == cluster)
        #expect(cluster.firstDifference(from: readBack) == "")
        #expect(try cluster.validated() == cluster)

        let whole = SFHAConfiguration(cluster: cluster, node: NodeConfiguration(name: "node-1", priority: 0, logLevel: .debug))
        let loaded = try ConfigTest.load(whole.renderedYAML())
        #expect(loaded.cluster == cluster && loaded.node == whole.node)
        // The warnings: quorum not required (a split puts a VIP on both sides), STONITH enabled but not implemented,
        // and the proxmox secret given twice (the model allows all three).
        #expect(loaded.warnings.map(\.keyPath) == ["cluster.quorum_required", "stonith.enabled", "stonith.proxmox.token_secret_file"])
    }

    @Test func theSmallestConfigurationsReadBackEqual() throws {
        let empty = ClusterConfiguration()
        #expect(try Self.readBack(empty) == empty)
        #expect(empty.renderedYAML() == """
            # sfha cluster configuration (each node adds its own node: and logging: sections).

            cluster:
              name: sfha-cluster
              quorum_required: true
              failover_delay_ms: 0
              maintenance: false

            """)
        var emptyStonith = ClusterConfiguration()
        emptyStonith.stonith = StonithConfiguration()
        #expect(try Self.readBack(emptyStonith) == emptyStonith)
        var emptyGroup = ClusterConfiguration()
        emptyGroup.groups = [ResourceGroup(name: "spare")]
        #expect(try Self.readBack(emptyGroup) == emptyGroup)
        // A group named default that is not last, or has settings, is written out under groups:.
        var defaultFirst = try ConfigTest.load(ConfigFixtures.configExample).cluster
        defaultFirst.groups.append(ResourceGroup(name: "other", vips: [
            VirtualIP(name: "v2", address: .v4(IPv4Address(192, 168, 1, 101)), prefixLength: 24),
        ]))
        #expect(try Self.readBack(defaultFirst) == defaultFirst)
        #expect(defaultFirst.renderedYAML().contains("  - name: default\n"))
    }

    /// Key order, quoting and layout: what `sfha config export` will print.
    @Test func theOutputIsCleanAndDeterministic() throws {
        let config = try ConfigTest.load("""
            cluster: {name: c1, node_priorities: {b: 2, a: 1, "10": 3}}
            node: {name: a, priority: 7}
            logging: {level: warn}
            vips:
              - {name: v6, ip: "2001:db8::5/64", group: g}
              - {name: v4, ip: 10.0.0.5}
            services:
              - name: s
                restart_service: true
                healthcheck: {type: exec, command: [/bin/check, --fast, "a b"]}
            groups:
              - {name: g, failback: true, failback_delay: 90}
            stonith:
              provider: webhook
              webhook:
                fence_url: "https://f/{{node}}"
                headers: {X-B: "2", X-A: "1"}
                body_template: '{"node": "{{node}}"}'

            """)
        #expect(config.renderedYAML() == """
            # sfha configuration.

            cluster:
              name: c1
              quorum_required: true
              failover_delay_ms: 0
              maintenance: false
              node_priorities:
                "10": 3
                a: 1
                b: 2

            node:
              name: a
              priority: 7

            logging:
              level: warn

            vips:
              - name: v6
                ip: "2001:db8::5/64"
                interface: eth0
              - name: v4
                ip: 10.0.0.5/24
                interface: eth0

            services:
              - name: s
                unit: s
                critical: false
                restart_service: true
                failure_policy:
                  max_restarts: 3
                  window: 1m
                healthcheck:
                  type: exec
                  command: [/bin/check, "--fast", "a b"]
                  interval_ms: 5000
                  timeout_ms: 2000
                  failures_before_unhealthy: 3
                  successes_before_healthy: 2

            groups:
              - name: g
                vips: [v6]
                failback: true
                failback_delay: 1m30s

            stonith:
              enabled: false
              provider: webhook
              webhook:
                fence_url: "https://f/{{node}}"
                method: POST
                headers:
                  X-A: "1"
                  X-B: "2"
                body_template: '{"node": "{{node}}"}'
                timeout: 30s
                verify_ssl: true
              safety:
                require_quorum: true
                min_delay_between_fence: 1m
                max_fences_per_5min: 2
                startup_grace_period: 2m
                fence_delay_on_node_left: 10s

            """)
        // Dictionaries come out by sorted key whatever their hash order.
        let many = Dictionary(uniqueKeysWithValues: (0..<50).map { ("node\($0)", $0) })
        var a = ClusterConfiguration()
        a.nodePriorities = many
        var b = ClusterConfiguration()
        b.nodePriorities = Dictionary(uniqueKeysWithValues: many.sorted { $0.key > $1.key }.map { ($0.key, $0.value) })
        #expect(a.renderedYAML() == b.renderedYAML())
    }

    @Test func scalarsAreQuotedExactlyWhenYAMLWouldMisreadThem() throws {
        #expect(yamlScalar("nginx.service") == "nginx.service")
        #expect(yamlScalar("/usr/bin/x") == "/usr/bin/x")
        #expect(yamlScalar("10.0.0.1/24") == "10.0.0.1/24")
        #expect(yamlScalar("null") == "\"null\"" && yamlScalar("True") == "\"True\"" && yamlScalar("no") == "\"no\"")
        #expect(yamlScalar("101") == "\"101\"" && yamlScalar("1.5") == "\"1.5\"" && yamlScalar("1_000") == "\"1_000\"")
        #expect(yamlScalar("") == "\"\"")
        #expect(yamlScalar("a: b") == "\"a: b\"")
        #expect(yamlScalar("new\nline") == "\"new\\nline\"")
        #expect(yamlScalar("esc\u{1B}[31m") == "\"esc\\x1B[31m\"")
        #expect(yamlScalar("sep\u{2028}") == "\"sep\\u2028\"")
        #expect(yamlScalar(#"{"a": "b's"}"#) == #"'{"a": "b''s"}'"#)
        // Whatever the text, YAML reads back exactly that text, as a key and as a value, in a mapping and in a
        // flow list.
        let corpus = RenderingCorpus.builtInCode().nodeChecks.flatMap { check -> [String] in
            if case .exec(let arguments) = check.kind { return arguments }
            return []
        } + ["0x1F", "0o17", ".inf", "-.5", "+1", "2001-12-14", "=", "<<", "a,b", "a]b", "a}b", "a#b", "a #b", "x:"]
        for text in corpus {
            let yaml = "\(yamlScalar(text)): \(yamlScalar(text))\nlist: [\(yamlScalar(text)), end]\n"
            let root = try #require(try Yams.compose(yaml: yaml), "\(text)")
            guard case .mapping(let mapping) = root, mapping.count == 2 else {
                Issue.record("\(text): not a two-key mapping")
                continue
            }
            let (key, value) = mapping.first!
            #expect(key.string == text && value.string == text, "\(text)")
            #expect(mapping["list"]?.sequence?.first?.string == text, "\(text)")
        }
    }
}
