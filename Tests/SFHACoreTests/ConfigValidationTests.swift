@testable import SFHACore
import SFHABase
import Testing

@Suite("Validation: every problem, with file:line:column and key path", .timeLimit(.minutes(2)))
struct ConfigValidationTests {
    @Test func theBriefsExampleMessage() {
        let yaml = """
            node:
              name: node1
            vips:
              - name: v0
                ip: 192.168.1.300

            """
        #expect(ConfigTest.errors(yaml) == [
            "/etc/sfha/config.yml:5:9: vips[0].ip: \"192.168.1.300\" is not an IPv4 or IPv6 address",
        ])
        let item = ConfigTest.items(yaml).first
        #expect(item == ConfigurationDiagnostic(
            file: "/etc/sfha/config.yml", line: 5, column: 9, keyPath: "vips[0].ip",
            message: "\"192.168.1.300\" is not an IPv4 or IPv6 address"))
    }

    @Test func vipErrorsAreAllReported() {
        let yaml = """
            node:
              name: node1
            vips:
              - name: v0
                ip: 192.168.1.300
              - name: v1
                ip: 10.0.0.1/33
              - name: v2
                ip: 10.0.0.1/24
                cidr: 16
              - name: v3
                ip: 127.0.0.5
              - name: v4
                ip: 10.0.0.0/24
              - name: v5
                ip: 10.0.0.255
              - name: v6
                ip: 224.0.0.1
              - name: v7
                ip: 0.0.0.0
              - name: v8
                ip: fe80::1
              - name: v9
                ip: 010.0.0.1
              - name: v10
                ip: 10.0.0.9
                interface: "eth0:1"
              - name: v11
                ip: 10.0.0.9
                interface: averyveryverylongname
              - name: v12
              - name: v13
                ip: 2001:db8::1
                cidr: 129
              - name: v14
                ip: 10.0.0.14
                cidr: "24"
              - name: v15
                ip: 10.0.0.15
                cidr: 0
              - name: v16
                ip: 255.255.255.255/32
              - name: v17
                ip: ::ffff:10.0.0.1
              - name: v18
                ip: 10.0.0.18/x

            """
        #expect(ConfigTest.errors(yaml) == [
            "/etc/sfha/config.yml:5:9: vips[0].ip: \"192.168.1.300\" is not an IPv4 or IPv6 address",
            "/etc/sfha/config.yml:7:9: vips[1].ip: /33 is out of range (expected a prefix length from 1 to 32)",
            "/etc/sfha/config.yml:10:11: vips[2].cidr: 16 contradicts the /24 written in ip (give the prefix length once)",
            "/etc/sfha/config.yml:12:9: vips[3].ip: \"127.0.0.5\" cannot be a floating IP: it is a loopback address (127.0.0.0/8)",
            "/etc/sfha/config.yml:14:9: vips[4].ip: \"10.0.0.0\" cannot be a floating IP: it is the network address of its /24 subnet",
            "/etc/sfha/config.yml:16:9: vips[5].ip: \"10.0.0.255\" cannot be a floating IP: it is the broadcast address of its /24 subnet",
            "/etc/sfha/config.yml:18:9: vips[6].ip: \"224.0.0.1\" cannot be a floating IP: it is a multicast address (224.0.0.0/4)",
            "/etc/sfha/config.yml:20:9: vips[7].ip: \"0.0.0.0\" cannot be a floating IP: it is the unspecified address",
            "/etc/sfha/config.yml:22:9: vips[8].ip: \"fe80::1\" cannot be a floating IP: it is a link-local address (fe80::/10)",
            "/etc/sfha/config.yml:24:9: vips[9].ip: \"010.0.0.1\" is not an IPv4 or IPv6 address",
            "/etc/sfha/config.yml:27:16: vips[10].interface: \"eth0:1\" is not a valid interface name: an interface name cannot contain '/' or ':'",
            "/etc/sfha/config.yml:30:16: vips[11].interface: \"averyveryverylongname\" is not a valid interface name: an interface name has 1 to 15 characters",
            "/etc/sfha/config.yml:31:5: vips[12].ip: is required (the address, e.g. 192.168.1.100 or 192.168.1.100/24)",
            "/etc/sfha/config.yml:34:11: vips[13].cidr: 129 is out of range (expected 1 to 128)",
            "/etc/sfha/config.yml:37:11: vips[14].cidr: \"24\" is not an integer (write it without quotes)",
            "/etc/sfha/config.yml:40:11: vips[15].cidr: 0 is out of range (expected 1 to 32)",
            "/etc/sfha/config.yml:42:9: vips[16].ip: \"255.255.255.255\" cannot be a floating IP: it is the broadcast address",
            "/etc/sfha/config.yml:44:9: vips[17].ip: \"::ffff:10.0.0.1\" cannot be a floating IP: it is an IPv4-mapped address: write the IPv4 address instead",
            "/etc/sfha/config.yml:46:9: vips[18].ip: \"10.0.0.18/x\" has an invalid prefix length after '/'",
        ])
    }

    @Test func nodeClusterLoggingAndServiceErrorsAreAllReported() {
        let yaml = """
            node:
              name: "bad name"
              priority: 5000
            cluster:
              name: c
              quorum_required: yes
              failover_delay_ms: -5
              maintenance: "true"
            logging:
              level: verbose
            services:
              - name: s1
                unit: "-nginx"
              - name: s2
                unit: "foo@.service"
              - name: s3
                type: docker
              - name: s4
                healthcheck:
                  type: http
                  target: "ftp://x/"
              - name: s5
                healthcheck:
                  type: tcp
                  target: "::1:5432"
              - name: s6
                healthcheck:
                  type: tcp
                  target: "localhost:70000"
              - name: s7
                healthcheck:
                  type: exec
                  command: "/bin/check --all"
              - name: s8
                healthcheck:
                  type: http
                  target: "http://127.0.0.1/"
                  interval_ms: 50
                  interval: 5
              - name: s9
                healthcheck:
                  type: https
                  target: "http://x/"
              - name: s1
              - name: "-x"
              - name: s10
                unit: "nginx service"
              - name: s11
                healthcheck:
                  type: http
                  target: "http://user:secret@host/"
              - name: s12
                healthcheck:
                  type: grpc
              - name: s13
                healthcheck:
                  target: "127.0.0.300:80"
              - name: s14
                healthcheck:
                  type: systemd
                  target: "a b"

            """
        #expect(ConfigTest.errors(yaml) == [
            "/etc/sfha/config.yml:2:9: node.name: \"bad name\" is not a valid node name: a node name may only contain letters, digits, '.', '_' and '-'",
            "/etc/sfha/config.yml:3:13: node.priority: 5000 is out of range (expected 0 to 1000)",
            "/etc/sfha/config.yml:6:20: cluster.quorum_required: \"yes\" is not a boolean: expected true or false",
            "/etc/sfha/config.yml:7:22: cluster.failover_delay_ms: \"-5\" is not a duration: it is negative (expected a number of milliseconds or a value with a unit such as 500ms, 5s, 2m, 1h)",
            "/etc/sfha/config.yml:8:16: cluster.maintenance: \"true\" is not a boolean: expected true or false (write it without quotes)",
            "/etc/sfha/config.yml:10:10: logging.level: \"verbose\" is not a log level: expected debug, info, warn, error",
            "/etc/sfha/config.yml:13:11: services[0].unit: \"-nginx\" is not a valid systemd unit name: a unit name cannot start with '-' or '.'",
            "/etc/sfha/config.yml:15:11: services[1].unit: \"foo@.service\" is not a valid systemd unit name: a template unit (name@.service) needs an instance (name@instance.service)",
            "/etc/sfha/config.yml:17:11: services[2].type: \"docker\" is not a service type: only systemd is supported",
            "/etc/sfha/config.yml:21:15: services[3].healthcheck.target: \"ftp://x/\" is not an http:// or https:// URL",
            "/etc/sfha/config.yml:25:15: services[4].healthcheck.target: \"::1:5432\" is ambiguous: write IPv6 addresses in brackets, as [address]:port",
            "/etc/sfha/config.yml:29:15: services[5].healthcheck.target: \"localhost:70000\" has an invalid port: expected 1 to 65535",
            "/etc/sfha/config.yml:33:16: services[6].healthcheck.command: \"/bin/check --all\" is a single string: write the command as a list of arguments, e.g. [/usr/bin/check, --quiet] (sfha never runs a shell)",
            "/etc/sfha/config.yml:38:20: services[7].healthcheck.interval_ms: 50ms is out of range (expected 100ms to 1h)",
            "/etc/sfha/config.yml:39:7: services[7].healthcheck.interval: give either interval_ms (milliseconds) or interval (seconds), not both",
            "/etc/sfha/config.yml:43:15: services[8].healthcheck.target: \"http://x/\" is not an https:// URL (type https)",
            "/etc/sfha/config.yml:44:11: services[9].name: \"s1\" is already used by services[0] (line 12): VIPs, services and health checks share one namespace",
            "/etc/sfha/config.yml:45:11: services[10].name: \"-x\" is not a valid name: a name starts with a letter or a digit",
            "/etc/sfha/config.yml:47:11: services[11].unit: \"nginx service\" is not a valid systemd unit name: a unit name may only contain letters, digits and ':', '_', '.', '\\', '@', '-'",
            "/etc/sfha/config.yml:51:15: services[12].healthcheck.target: \"http://user:secret@host/\" contains credentials: put them in headers or a secret file instead",
            "/etc/sfha/config.yml:54:13: services[13].healthcheck.type: \"grpc\" is not a check type: expected http, https, tcp, systemd, exec",
            "/etc/sfha/config.yml:57:15: services[14].healthcheck.target: \"127.0.0.300\" is not an IPv4 address",
            "/etc/sfha/config.yml:61:15: services[15].healthcheck.target: \"a b\" is not a valid systemd unit name: a unit name may only contain letters, digits and ':', '_', '.', '\\', '@', '-'",
        ])
    }

    @Test func nodeNameIsRequired() {
        #expect(ConfigTest.errors("") == ["/etc/sfha/config.yml: node.name: is required (this node's name, as in corosync.conf)"])
        #expect(ConfigTest.errors("cluster:\n  name: c\nnode:\n  priority: 5\n") == [
            "/etc/sfha/config.yml:4:3: node.name: is required (this node's name, as in corosync.conf)",
        ])
        #expect(ConfigTest.errors("node:\n") == [
            "/etc/sfha/config.yml:1:1: node.name: is required (this node's name, as in corosync.conf)",
        ])
        #expect(ConfigTest.errors("node:\n  name: \"\"\n") == [
            "/etc/sfha/config.yml:2:9: node.name: \"\" is not a valid node name: a node name has 1 to 64 characters",
        ])
    }

    @Test func structuralTypeErrors() {
        #expect(ConfigTest.errors("- a\n- b\n") == [
            "/etc/sfha/config.yml:1:1: expected a mapping (key: value lines), found a list",
        ])
        #expect(ConfigTest.errors(ConfigTest.minimal("vips:\n  name: a\n")) == [
            "/etc/sfha/config.yml:4:3: vips: expected a list (lines starting with \"- \"), found a mapping",
        ])
        #expect(ConfigTest.errors(ConfigTest.minimal("services:\n  - nginx\n")) == [
            "/etc/sfha/config.yml:4:5: services[0]: expected a mapping (key: value lines), found a scalar",
        ])
        #expect(ConfigTest.errors(ConfigTest.minimal("vips:\n  - name: [a]\n    ip: 10.0.0.1\n")) == [
            "/etc/sfha/config.yml:4:11: vips[0].name: expected a string, found a list",
        ])
        #expect(ConfigTest.errors(ConfigTest.minimal("services:\n  - name: s\n    healthcheck: tcp\n")) == [
            "/etc/sfha/config.yml:5:18: services[0].healthcheck: expected a mapping (key: value lines), found a scalar",
        ])
        #expect(ConfigTest.errors(ConfigTest.minimal("services:\n  -\n")) == [
            "/etc/sfha/config.yml:4:4: services[0]: empty entry: expected a service (name, unit, …)",
        ])
    }

    @Test func yamlSyntaxErrorsArePositioned() {
        #expect(ConfigTest.errors("node:\n  name: n1\n  name: n2\n") == [
            "/etc/sfha/config.yml:2:3: invalid YAML: key \"name\" appears more than once in the same mapping",
        ])
        #expect(ConfigTest.errors("node:\n\tname: n1\n") == [
            "/etc/sfha/config.yml:2:1: invalid YAML: found character that cannot start any token (a tab: YAML is "
                + "indented with spaces only)",
        ])
        let unclosed = ConfigTest.items("node:\n  name: \"n1\nvips: []\n")
        #expect(unclosed.count == 1)
        #expect(unclosed.first?.message.hasPrefix("invalid YAML: found unexpected end of stream") == true)
        #expect(unclosed.first?.line == 4)
    }

    @Test func errorsFromEverySectionAreCollectedInFileOrder() {
        let yaml = """
            cluster:
              failover_delay_ms: soon
            node:
              name: n1
            vips:
              - name: web
                ip: 10.0.0.1/24
                interface: "a/b"
            services:
              - name: web
                healthcheck:
                  type: tcp
            health_checks:
              - name: ping
                type: exec
                command: []
            constraints:
              - type: order
                first: web
                then: ghost
            stonith:
              enabled: true
              provider: webhook

            """
        #expect(ConfigTest.errors(yaml) == [
            "/etc/sfha/config.yml:2:22: cluster.failover_delay_ms: \"soon\" is not a duration: a number is missing (expected a number of milliseconds or a value with a unit such as 500ms, 5s, 2m, 1h)",
            "/etc/sfha/config.yml:8:16: vips[0].interface: \"a/b\" is not a valid interface name: an interface name cannot contain '/' or ':'",
            "/etc/sfha/config.yml:10:11: services[0].name: \"web\" is already used by vips[0] (line 6): VIPs, services and health checks share one namespace",
            "/etc/sfha/config.yml:12:7: services[0].healthcheck.target: is required (host:port, e.g. 127.0.0.1:5432 or [::1]:5432)",
            "/etc/sfha/config.yml:16:14: health_checks[0].command: is empty: expected [program, arguments…]",
            "/etc/sfha/config.yml:20:11: constraints[0].then: there is no VIP, service or health check named \"ghost\"",
            "/etc/sfha/config.yml:22:3: stonith.webhook: is required with provider webhook (fence_url, …)",
        ])
    }

    @Test func healthCheckRules() {
        let yaml = ConfigTest.minimal("""
            health_checks:
              - type: tcp
                target: "a:1"
              - name: c1
                type: systemd
              - name: c2
                type: exec
                target: /bin/true
              - name: c3
                type: exec
                command: [bin/check]
              - name: c4
                type: http
                command: [/bin/true]
              - name: c5
                type: tcp
                target: "[::1]5432"
              - name: c6
                target: "db:5432"
                failures_before_unhealthy: 0
                successes_before_healthy: 101
                restart_service: "bad unit"

            """)
        #expect(ConfigTest.errors(yaml) == [
            "/etc/sfha/config.yml:4:5: health_checks[0].name: is required (a name for this health check)",
            "/etc/sfha/config.yml:6:5: health_checks[1].target: is required (the unit to check, e.g. nginx.service)",
            "/etc/sfha/config.yml:10:5: health_checks[2].target: exec checks take command: [program, arguments…] instead of target",
            "/etc/sfha/config.yml:13:15: health_checks[3].command[0]: \"bin/check\" is not a program: expected an absolute path or a name looked up in PATH",
            "/etc/sfha/config.yml:16:5: health_checks[4].command: only exec checks take a command; type http uses target",
            "/etc/sfha/config.yml:19:13: health_checks[5].target: \"[::1]5432\" has no port: expected [address]:port",
            "/etc/sfha/config.yml:22:32: health_checks[6].failures_before_unhealthy: 0 is out of range (expected 1 to 100)",
            "/etc/sfha/config.yml:23:31: health_checks[6].successes_before_healthy: 101 is out of range (expected 1 to 100)",
            "/etc/sfha/config.yml:24:22: health_checks[6].restart_service: \"bad unit\" is not a valid systemd unit name (for a health check, restart_service names the unit to restart): a unit name may only contain letters, digits and ':', '_', '.', '\\', '@', '-'",
        ])
    }

    @Test func failurePolicyRules() throws {
        let errors = ConfigTest.errors(ConfigTest.minimal("""
            services:
              - name: a
                restart_service: true
                failure_policy: {max_restarts: 0}
              - name: b
                restart_service: false
                failure_policy: {max_restarts: 2}
              - name: c
                failure_policy: {window: 0s, failure_timeout: 200h, max_restarts: 101}

            """))
        #expect(errors == [
            "/etc/sfha/config.yml:6:36: services[0].failure_policy.max_restarts: 0 contradicts restart_service: true (set restart_service: false to never restart in place)",
            "/etc/sfha/config.yml:9:36: services[1].failure_policy.max_restarts: 2 contradicts restart_service: false (sfha never restarts this unit in place)",
            "/etc/sfha/config.yml:11:30: services[2].failure_policy.window: 0s is out of range (expected 1s to 24h)",
            "/etc/sfha/config.yml:11:51: services[2].failure_policy.failure_timeout: 200h is out of range (expected 1s to 168h)",
            "/etc/sfha/config.yml:11:71: services[2].failure_policy.max_restarts: 101 is out of range (expected 0 to 100)",
        ])

        // max_restarts without restart_service implies restarting in place.
        let config = try ConfigTest.load(ConfigTest.minimal("""
            services:
              - name: a
                failure_policy: {max_restarts: 5, window: 2m, failure_timeout: 300}
              - name: b
                restart_service: true
                failure_policy: {failure_timeout: 1h}

            """))
        let services = try #require(config.cluster.groups.first).services
        #expect(services[0].restartService)
        #expect(services[0].failurePolicy == FailurePolicy(maxRestarts: 5, window: .seconds(120), failureTimeout: .seconds(300)))
        #expect(services[1].failurePolicy == FailurePolicy(maxRestarts: 3, window: .seconds(60), failureTimeout: .seconds(3600)))
    }

    @Test func stonithErrors() {
        let yaml = """
            node: {name: n1}
            stonith:
              enabled: true
              provider: proxmox
              proxmox:
                api_url: "proxmox:8006"
                token_id: rootpam
                token_secret_file: proxmox.secret
                pve_node: "pve 1"
              webhook:
                fence_url: "https://fence/{{host}}"
                method: PATCH
                headers:
                  "Bad Header": x
              nodes:
                node1:
                  type: vm
                node2:
                  vmid: 5
              safety:
                max_fences_per_5min: 0
                min_delay_between_fence: 2h

            """
        #expect(ConfigTest.errors(yaml) == [
            "/etc/sfha/config.yml:6:14: stonith.proxmox.api_url: \"proxmox:8006\" is not an http:// or https:// URL",
            "/etc/sfha/config.yml:7:15: stonith.proxmox.token_id: \"rootpam\" is not a Proxmox API token id: expected user@realm!tokenid",
            "/etc/sfha/config.yml:8:24: stonith.proxmox.token_secret_file: \"proxmox.secret\" is not an absolute path",
            "/etc/sfha/config.yml:9:15: stonith.proxmox.pve_node: \"pve 1\" is not a valid Proxmox node name: a node name may only contain letters, digits, '.', '_' and '-'",
            "/etc/sfha/config.yml:11:16: stonith.webhook.fence_url: \"https://fence/{{host}}\" uses an unknown placeholder: only {{node}} and {{action}} exist",
            "/etc/sfha/config.yml:12:13: stonith.webhook.method: \"PATCH\" is not an HTTP method: expected GET, POST, PUT, DELETE",
            "/etc/sfha/config.yml:14:7: stonith.webhook.headers.Bad Header: \"Bad Header\" is not a valid HTTP header name",
            "/etc/sfha/config.yml:17:7: stonith.nodes.node1.vmid: is required with provider proxmox (the guest id)",
            "/etc/sfha/config.yml:17:13: stonith.nodes.node1.type: \"vm\" is not a guest type: expected lxc or qemu",
            "/etc/sfha/config.yml:19:13: stonith.nodes.node2.vmid: 5 is out of range (expected 100 to 999999999)",
            "/etc/sfha/config.yml:21:26: stonith.safety.max_fences_per_5min: 0 is out of range (expected 1 to 100)",
            "/etc/sfha/config.yml:22:30: stonith.safety.min_delay_between_fence: 2h is out of range (expected 0s to 1h)",
        ])
    }

    @Test func stonithRequirementsOnlyWhenEnabled() throws {
        // Disabled: an incomplete provider block is accepted (kept for later).
        let config = try ConfigTest.load(ConfigTest.minimal("stonith:\n  enabled: false\n  nodes:\n    node2: {type: qemu}\n"))
        #expect(config.cluster.stonith?.enabled == false)
        #expect(config.cluster.stonith?.nodes["node2"] == .init(type: .qemu, vmid: nil))
        // Enabled: everything the provider needs is required.
        #expect(ConfigTest.errors(ConfigTest.minimal("stonith:\n  enabled: true\n  proxmox:\n    verify_ssl: true\n")) == [
            "/etc/sfha/config.yml:6:5: stonith.proxmox.api_url: is required (the Proxmox API, e.g. https://pve01:8006)",
            "/etc/sfha/config.yml:6:5: stonith.proxmox.token_id: is required (user@realm!tokenid)",
            "/etc/sfha/config.yml:6:5: stonith.proxmox.token_secret_file: is required with provider proxmox (or token_secret; a 0600 file is preferred)",
        ])
    }

    @Test func errorConvertsToSFHAError() {
        do {
            _ = try SFHAConfiguration.parse(yaml: "node: {name: n1}\nvips: [{name: a}, {name: b}]\n", path: "x.yml")
            Issue.record("expected an error")
        } catch {
            #expect(error.items.count == 2)
            #expect(error.sfhaError.code == .invalidArgument)
            #expect(error.sfhaError.message == """
                invalid configuration (2 problems):
                x.yml:2:8: vips[0].ip: is required (the address, e.g. 192.168.1.100 or 192.168.1.100/24)
                x.yml:2:19: vips[1].ip: is required (the address, e.g. 192.168.1.100 or 192.168.1.100/24)
                """)
        }
    }

    @Test func loadReportsUnreadableFiles() {
        #expect(throws: ConfigurationError.self) {
            try SFHAConfiguration.load(path: "/nonexistent/sfha/config.yml")
        }
        do {
            _ = try SFHAConfiguration.load(path: "/nonexistent/sfha/config.yml")
        } catch {
            #expect(error.description == "/nonexistent/sfha/config.yml: cannot read the configuration: cannot open "
                + "/nonexistent/sfha/config.yml: No such file or directory")
        }
    }
}

@Suite("YAML features", .timeLimit(.minutes(2)))
struct ConfigYAMLFeatureTests {
    @Test func anchorsAliasesAndMergeKeys() throws {
        let config = try ConfigTest.load("""
            node: {name: n1}
            services:
              - name: a
                healthcheck: &check {type: tcp, target: "127.0.0.1:80", interval: 2s}
              - name: b
                healthcheck:
                  <<: *check
                  target: "127.0.0.1:81"
              - name: c
                healthcheck: *check

            """)
        let checks = try #require(config.cluster.groups.first).services.compactMap(\.healthCheck)
        #expect(checks.map(\.kind) == [
            .tcp(host: "127.0.0.1", port: 80), .tcp(host: "127.0.0.1", port: 81), .tcp(host: "127.0.0.1", port: 80),
        ])
        #expect(checks.map(\.interval) == [.seconds(2), .seconds(2), .seconds(2)])
        #expect(checks.map(\.name) == ["a", "b", "c"])
        #expect(config.warnings.isEmpty)
        #expect(ConfigTest.errors("node:\n  <<: 5\n  name: n1\n") == [
            "/etc/sfha/config.yml:2:7: node.<<: a merge key takes a mapping or a list of mappings",
        ])
    }

    @Test func multipleDocumentsAreRefused() {
        #expect(ConfigTest.errors("node: {name: a}\n---\nnode: {name: b}\n") == [
            "/etc/sfha/config.yml:2:1: invalid YAML: but found another document (expected a single document in the "
                + "stream started at line 1, column 1)",
        ])
    }
}

@Suite("Warnings: unknown and deprecated keys", .timeLimit(.minutes(2)))
struct ConfigWarningTests {
    /// `quorum_required: false` used to be silently overridden by the ring evidence (a ring without quorum never
    /// anchored it, so nothing ran); now it does what it says, and says what it costs.
    @Test func quorumNotRequiredIsHonouredAndWarnsOfTheSplit() throws {
        let yaml = "cluster:\n  name: c\n  quorum_required: false\nnode:\n  name: n1\n"
        let warnings = try ConfigTest.warnings(yaml)
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("cluster.quorum_required: false: a partition without quorum keeps and takes groups") == true)
        #expect(warnings.first?.contains("puts a VIP on both sides") == true)
        #expect(try ConfigTest.warnings("cluster:\n  name: c\n  quorum_required: true\nnode:\n  name: n1\n").isEmpty)
        #expect(DaemonRuntime.ringMayHoldGroups(quorate: false, quorumRequired: false))
        #expect(!DaemonRuntime.ringMayHoldGroups(quorate: false, quorumRequired: true))
        #expect(DaemonRuntime.ringMayHoldGroups(quorate: true, quorumRequired: true))
    }

    @Test func unknownKeysAreNamedWithTheirPosition() throws {
        let yaml = """
            cluster:
              name: c
              colour: blue
            node:
              name: n1
              prio: 5
            vips:
              - name: a
                ip: 10.0.0.1
                netmask: 24
            services:
              - name: s
                healthcheck:
                  type: tcp
                  target: "h:1"
                  intervall_ms: 100
            extras: {a: 1}

            """
        let warnings = try ConfigTest.warnings(yaml)
        #expect(warnings == [
            "/etc/sfha/config.yml:3:3: warning: cluster.colour: unknown key, ignored (known keys here: name, quorum_required, failover_delay_ms, maintenance, node_priorities, standby_nodes, banned_nodes)",
            "/etc/sfha/config.yml:6:3: warning: node.prio: unknown key, ignored (did you mean \"priority\"?)",
            "/etc/sfha/config.yml:10:5: warning: vips[0].netmask: unknown key, ignored (known keys here: name, ip, cidr, interface, group)",
            "/etc/sfha/config.yml:16:7: warning: services[0].healthcheck.intervall_ms: unknown key, ignored (did you mean \"interval_ms\"?)",
            "/etc/sfha/config.yml:17:1: warning: extras: unknown key, ignored (known keys here: cluster, node, vips, services, health_checks, constraints, stonith, logging, groups, metrics)",
        ])
        let warning = try #require(try ConfigTest.load(yaml).warnings.first)
        #expect(warning.keyPath == "cluster.colour" && warning.line == 3 && warning.column == 3)
    }

    /// Fencing is not implemented: a configuration that enables it loads (configurations of the original keep
    /// working) but says, at the key, that nothing is fenced; a disabled block says nothing.
    @Test func stonithEnabledIsAcceptedWithAWarningThatNothingIsFenced() throws {
        let enabled = try ConfigTest.load(ConfigTest.minimal("""
            stonith:
              enabled: true
              provider: webhook
              webhook:
                fence_url: "https://fence.example.com/{{node}}/{{action}}"
              nodes:
                node1: {type: lxc}

            """))
        #expect(enabled.warnings.map(\.description) == [
            "/etc/sfha/config.yml:4:3: warning: stonith.enabled: accepted, not implemented yet: nothing is fenced — sfha "
                + "never powers off a node that left; safety rests on quorum and the ring proof alone (set enabled: false "
                + "to silence this warning)",
        ])
        #expect(enabled.cluster.stonith?.enabled == true)
        #expect(!enabled.cluster.fences)
        let disabled = try ConfigTest.load(ConfigTest.minimal("stonith:\n  enabled: false\n"))
        #expect(disabled.warnings.isEmpty)
    }

    @Test func deprecatedAndIneffectiveSettings() throws {
        let config = try ConfigTest.load(ConfigTest.minimal("""
            cluster:
              poll_interval_ms: 2000
            services:
              - name: s
                healthcheck:
                  type: tcp
                  target: "h:1"
                  interval_ms: 1000
                  verify_certificate: false
              - name: s2
            groups:
              - name: g
                failback_delay: 10s
            constraints:
              - type: order
                first: s
                then: s2
                with: x
            stonith:
              enabled: true
              proxmox:
                api_url: https://pve:8006
                token_id: a@pve!b
                token_secret: s3cr3t
                token_secret_file: /etc/sfha/pve.secret
              webhook:
                fence_url: "https://f/{{node}}"
                method: GET
                body_template: "{}"

            """))
        #expect(config.warnings.map(\.description) == [
            "/etc/sfha/config.yml:4:3: warning: cluster.poll_interval_ms: deprecated and ignored: sfha reacts to corosync membership and quorum events instead of polling; remove this key",
            "/etc/sfha/config.yml:8:7: warning: services[0].healthcheck: the timeout (2s) is longer than the interval (1s): a slow check delays the next one",
            "/etc/sfha/config.yml:11:7: warning: services[0].healthcheck.verify_certificate: only used by https checks; ignored for type tcp",
            "/etc/sfha/config.yml:14:5: warning: groups[0]: group \"g\" has no VIP and no service",
            "/etc/sfha/config.yml:15:5: warning: groups[0].failback_delay: has no effect without failback: true",
            "/etc/sfha/config.yml:20:5: warning: constraints[0].with: not used by a order constraint, ignored",
            "/etc/sfha/config.yml:22:3: warning: stonith.enabled: \(StonithConfiguration.notImplementedWarning)",
            "/etc/sfha/config.yml:22:3: warning: stonith.nodes: STONITH is enabled but no node is listed: only nodes listed here are ever fenced",
            "/etc/sfha/config.yml:27:24: warning: stonith.proxmox.token_secret_file: both token_secret and token_secret_file are set: the file wins (remove token_secret)",
            "/etc/sfha/config.yml:31:20: warning: stonith.webhook.body_template: not sent with method GET",
        ])
    }
}
