import Foundation
import SFHABase
import Testing

@testable import SFHACore

/// Operator edits (`sfha vip add`, `service remove`…) of the replicated configuration.
@Suite(.timeLimit(.minutes(2))) struct ConfigEditTests {
    static let base = try! ConfigTest.load(ConfigFixtures.readmeFull).cluster

    @Test func addingAVIPKeepsEverythingElse() throws {
        let edited = try Self.base.addingVIP(name: "vip-extra", cidr: "192.0.2.77/28", interface: "eth1")
        let added = try #require(edited.vip(named: "vip-extra"))
        #expect(added.group == ResourceGroup.defaultName)
        #expect(added.vip.cidr == "192.0.2.77/28" && added.vip.interface == "eth1")
        // Everything else is untouched: health checks, failure flags, constraints, STONITH (the original lost them).
        var withoutNewVIP = edited
        withoutNewVIP.groups = withoutNewVIP.groups.map { group in
            var copy = group
            copy.vips.removeAll { $0.name == "vip-extra" }
            return copy
        }
        #expect(withoutNewVIP == Self.base)
        // And the edit survives the replicated document's encoding.
        let document = ClusterDocument(revision: 7, configuration: edited)
        let decoded = try JSONDecoder().decode(ClusterDocument.self, from: JSONEncoder().encode(document))
        #expect(decoded == document)
    }

    @Test func aNewGroupIsCreatedOnDemandAndDroppedWhenEmpty() throws {
        let added = try Self.base.addingVIP(name: "vip-db", cidr: "192.0.2.90", group: "db")
        #expect(added.group(named: "db")?.vips.map(\.cidr) == ["192.0.2.90/24"])
        let removed = try added.removingVIP(named: "vip-db")
        #expect(removed.group(named: "db") == nil)
        #expect(removed == Self.base)
    }

    @Test(arguments: [
        ("vip-main", "192.0.2.10/24", "eth0", "exists"),
        ("new", "127.0.0.5", "eth0", "loopback"),
        ("new", "192.0.2.10/33", "eth0", "out of range"),
        ("new", "not-an-ip", "eth0", "not an IPv4 or IPv6 address"),
        ("new", "192.0.2.10/24", "eth0:1", "interface"),
        ("-bad", "192.0.2.10/24", "eth0", "not a valid VIP name"),
        ("new", "192.0.2.0/24", "eth0", "network address"),
    ])
    func invalidVIPsAreRefusedWithAReason(name: String, cidr: String, interface: String, reason: String) {
        #expect {
            _ = try Self.base.addingVIP(name: name, cidr: cidr, interface: interface)
        } throws: { error in
            (error as? SFHAError)?.message.contains(reason) == true
        }
    }

    @Test func anAddressCannotBeUsedTwice() throws {
        let address = try #require(Self.base.groups.flatMap(\.vips).first).address
        #expect(throws: SFHAError.self) { _ = try Self.base.addingVIP(name: "twin", cidr: "\(address)/24") }
    }

    @Test func removingSomethingAConstraintNamesIsRefused() {
        #expect {
            _ = try Self.base.removingService(named: "nginx")
        } throws: { error in
            let error = error as? SFHAError
            return error?.code == .conflict && error?.message.contains("colocation nginx with") == true
        }
    }

    @Test func unknownNamesAreReportedWithTheKnownOnes() {
        #expect {
            _ = try Self.base.removingVIP(named: "nope")
        } throws: { error in
            let error = error as? SFHAError
            return error?.code == .notFound && error?.message.contains("known: ") == true
        }
    }

    @Test func servicesAreAddedAndRemoved() throws {
        let added = try Self.base.addingService(name: "cache", unit: "redis-server", group: "default", critical: true, restart: true)
        let service = try #require(added.service(named: "cache"))
        #expect(service.service.unit == "redis-server" && service.service.critical && service.service.restartService)
        #expect(try added.removingService(named: "cache") == Self.base)
        #expect(throws: SFHAError.self) { _ = try Self.base.addingService(name: "x", unit: "bad unit") }
    }

    @Test func maintenanceIsAFlagOfTheDocument() {
        #expect(Self.base.settingMaintenance(true).maintenance)
        #expect(Self.base.settingMaintenance(true).settingMaintenance(false) == Self.base)
    }
}

@Suite(.timeLimit(.minutes(2))) struct TakeoverDelayTests {
    @Test func noExtraWaitByDefaultAndAnyValueInRangeIsAccepted() throws {
        #expect(try ConfigTest.load(ConfigTest.minimal()).cluster.takeoverDelay == .zero)
        // Safety rests on the ring's fence, not on this delay: small values are not warned about.
        #expect(try ConfigTest.warnings("cluster:\n  failover_delay_ms: 0\nnode:\n  name: n1\n").isEmpty)
        let config = try ConfigTest.load("cluster:\n  failover_delay_ms: 3000\nnode:\n  name: n1\n")
        #expect(config.cluster.takeoverDelay == .milliseconds(3000))
        #expect(throws: (any Error).self) {
            try ConfigTest.load("cluster:\n  failover_delay_ms: -1\nnode:\n  name: n1\n")
        }
    }
}
