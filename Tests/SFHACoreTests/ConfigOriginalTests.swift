import SFHABase
import Foundation
@testable import SFHACore
import Testing

@Suite("The original example configurations load unchanged", .timeLimit(.minutes(2)))
struct ConfigOriginalTests {
    @Test func packageExample() throws {
        let config = try ConfigTest.load(ConfigFixtures.configExample)
        #expect(config.node == NodeConfiguration(name: "node1", priority: 100, logLevel: .info))
        #expect(config.cluster.name == "mon-cluster")
        #expect(config.cluster.quorumRequired)
        #expect(config.cluster.takeoverDelay == .milliseconds(3000))
        #expect(!config.cluster.maintenance)
        #expect(config.cluster.stonith == nil)
        #expect(config.cluster.nodeChecks.isEmpty)
        #expect(config.cluster.nodePriorities.isEmpty)
        #expect(config.cluster.constraints == [
            .colocation(resource: "nginx", with: "vip-main"), .order(first: "vip-main", then: "nginx"),
        ])

        // One default group: the original's "everything moves together".
        #expect(config.cluster.groups.count == 1)
        let group = try #require(config.cluster.groups.first)
        #expect(group.name == "default")
        #expect(group.vips == [VirtualIP(
            name: "vip-main", address: .v4(IPv4Address(192, 168, 1, 100)), prefixLength: 24, interface: "eth0")])
        #expect(group.priorities.isEmpty && !group.failback && group.failbackDelay == .zero)
        #expect(group.colocatedWith.isEmpty && group.startAfter.isEmpty && group.requiredChecks.isEmpty)

        let nginx = try #require(group.services.first)
        #expect(group.services.count == 1)
        #expect(nginx.name == "nginx" && nginx.unit == "nginx" && nginx.systemdUnitName == "nginx.service")
        #expect(nginx.critical && nginx.restartService)
        #expect(nginx.failurePolicy == FailurePolicy(maxRestarts: 3, window: .seconds(60), failureTimeout: nil))
        #expect(nginx.healthCheck == HealthCheck(
            name: "nginx", kind: .http(URL(string: "http://127.0.0.1/")!), interval: .milliseconds(5000),
            timeout: .milliseconds(2000), failuresBeforeUnhealthy: 3, successesBeforeHealthy: 2, critical: true))

        // The only warning: poll_interval_ms is deprecated.
        #expect(config.warnings.map(\.description) == [
            "/etc/sfha/config.yml:8:3: warning: cluster.poll_interval_ms: deprecated and ignored: sfha reacts to "
                + "corosync membership and quorum events instead of polling; remove this key",
        ])
    }

    @Test func readmeFull() throws {
        let config = try ConfigTest.load(ConfigFixtures.readmeFull)
        #expect(config.cluster.name == "production")
        #expect(config.node.name == "node1" && config.node.priority == 100 && config.node.logLevel == .info)
        let group = try #require(config.cluster.groups.first)
        #expect(config.cluster.groups.count == 1 && group.name == "default")
        #expect(group.vips.map(\.cidr) == ["192.168.1.100/24"])
        #expect(group.services.map(\.name) == ["nginx", "postgresql"])

        let nginx = group.services[0]
        #expect(!nginx.critical && !nginx.restartService)
        // restart_service absent = false: no restart in place (the original restarted anyway, §9 R13).
        #expect(nginx.failurePolicy.maxRestarts == 0)
        #expect(nginx.healthCheck?.kind == .http(URL(string: "http://127.0.0.1/health")!))

        // Defaults applied exactly as the original: 5000/2000/3/2.
        let postgres = try #require(group.services[1].healthCheck)
        #expect(postgres == HealthCheck(
            name: "postgresql", kind: .tcp(host: "127.0.0.1", port: 5432), interval: .milliseconds(5000),
            timeout: .milliseconds(2000), failuresBeforeUnhealthy: 3, successesBeforeHealthy: 2, critical: false))
        #expect(group.services[1].unit == "postgresql")

        let stonith = try #require(config.cluster.stonith)
        #expect(stonith.enabled && stonith.provider == .proxmox)
        #expect(stonith.proxmox == StonithConfiguration.ProxmoxSettings(
            apiURL: URL(string: "https://192.168.1.100:8006")!, tokenID: "root@pam!sfha", tokenSecret: nil,
            tokenSecretFile: "/etc/sfha/proxmox.secret", verifySSL: false, pveNode: "pve01"))
        #expect(stonith.webhook == nil)
        #expect(stonith.nodes == ["node1": .init(type: .lxc, vmid: 101), "node2": .init(type: .lxc, vmid: 102)])
        // fence_delay_on_node_left is absent: default 10 s.
        #expect(stonith.safety == StonithConfiguration.Safety(
            requireQuorum: true, minDelayBetweenFences: .seconds(60), maxFencesPerFiveMinutes: 2,
            startupGracePeriod: .seconds(120), fenceDelayOnNodeLeft: .seconds(10)))

        #expect(config.warnings.map(\.description) == [
            "/etc/sfha/config.yml:7:3: warning: cluster.poll_interval_ms: deprecated and ignored: sfha reacts to "
                + "corosync membership and quorum events instead of polling; remove this key",
            "/etc/sfha/config.yml:51:3: warning: stonith.enabled: \(StonithConfiguration.notImplementedWarning)",
        ])
    }

    @Test func readmeQuickStart() throws {
        let config = try ConfigTest.load(ConfigFixtures.readmeQuick)
        #expect(config.warnings.isEmpty)
        #expect(config.cluster.name == "my-cluster")
        let group = try #require(config.cluster.groups.first)
        #expect(group.vips.map(\.name) == ["vip-web"])
        let check = try #require(group.services.first?.healthCheck)
        // timeout_ms is absent: 2000 ms; successes_before_healthy absent: 2.
        #expect(check.interval == .milliseconds(5000) && check.timeout == .milliseconds(2000))
        #expect(check.failuresBeforeUnhealthy == 3 && check.successesBeforeHealthy == 2)
        #expect(config.cluster.constraints == [.colocation(resource: "nginx", with: "vip-web")])
    }

    @Test func emptySectionsAndDefaults() throws {
        let config = try ConfigTest.load("node:\n  name: n1\nvips:\nservices:\nconstraints:\n")
        #expect(config.cluster == ClusterConfiguration())
        #expect(config.cluster.name == "sfha-cluster" && config.cluster.quorumRequired)
        #expect(config.cluster.takeoverDelay == .zero)  // the fence is the wait (Docs/Daemon.md, Rule 2)
        #expect(config.cluster.groups.isEmpty)
        #expect(config.node.priority == 100 && config.node.logLevel == .info)
    }

    /// The original replaced 0 by the default (`x || default`): 0 now means 0.
    @Test func zeroIsNotReplacedByTheDefault() throws {
        let config = try ConfigTest.load("cluster:\n  failover_delay_ms: 0\nnode:\n  name: n1\n  priority: 0\n")
        #expect(config.cluster.takeoverDelay == .zero)
        #expect(config.node.priority == 0)
    }

    @Test func vipDefaultsAndInlinePrefix() throws {
        let config = try ConfigTest.load(ConfigTest.minimal("""
            vips:
              - name: a
                ip: 10.0.0.10
              - name: b
                ip: 10.0.0.11/16
              - name: c
                ip: 10.0.0.12/16
                cidr: 16
                interface: bond0.100

            """))
        let vips = try #require(config.cluster.groups.first).vips
        #expect(vips.map(\.cidr) == ["10.0.0.10/24", "10.0.0.11/16", "10.0.0.12/16"])
        #expect(vips.map(\.interface) == ["eth0", "eth0", "bond0.100"])
    }
}
