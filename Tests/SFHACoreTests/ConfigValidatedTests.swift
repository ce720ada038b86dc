import SFHABase
import Foundation
@testable import SFHACore
import Testing

@Suite("validated(): a typed configuration checked by exactly the config.yml loader", .timeLimit(.minutes(2)))
struct ConfigValidatedTests {
    static let base = """
        cluster: {name: c1}
        node: {name: a}
        vips:
          - {name: v, ip: 10.0.0.10/24}
        services:
          - name: s
            healthcheck: {type: http, target: "http://127.0.0.1/"}
        health_checks:
          - {name: disk, type: exec, command: [/bin/true]}
        stonith:
          provider: webhook
          webhook:
            fence_url: "https://fence/{{node}}"
            headers: {Authorization: "Bearer hunter2"}

        """

    static func baseCluster() throws -> ClusterConfiguration {
        try ConfigTest.load(base).cluster
    }

    /// The items `validated(origin:)` throws for `cluster` (empty when it is accepted).
    static func problems(_ cluster: ClusterConfiguration, origin: String = "proposal from node2") -> [ConfigurationDiagnostic] {
        do {
            _ = try cluster.validated(origin: origin)
            return []
        } catch {
            return error.items
        }
    }

    @Test func validConfigurationsAreAccepted() throws {
        let cluster = try Self.baseCluster()
        #expect(try cluster.validated() == cluster)
        #expect(try ConfigTest.load(SFHAConfiguration.exampleYAML).cluster.validated() == ConfigTest.load(SFHAConfiguration.exampleYAML).cluster)
        #expect(try ClusterConfiguration().validated() == ClusterConfiguration())
    }

    /// The four forged proposals that were committed everywhere.
    @Test func theForgedProposalsAreRefused() throws {
        var interface = try Self.baseCluster()
        interface.groups[0].vips[0].interface = "../../etc"
        #expect(Self.problems(interface).map(\.description) == [
            "proposal from node2: vips[0].interface: \"../../etc\" is not a valid interface name: an interface name "
                + "cannot contain '/' or ':'",
        ])

        var prefix = try Self.baseCluster()
        prefix.groups[0].vips[0].prefixLength = 33
        #expect(Self.problems(prefix).map(\.description) == [
            "proposal from node2: vips[0].ip: /33 is out of range (expected a prefix length from 1 to 32)",
        ])

        var unit = try Self.baseCluster()
        unit.groups[0].services[0].unit = "-H evil;reboot"
        #expect(Self.problems(unit).map(\.description) == [
            "proposal from node2: services[0].unit: \"-H evil;reboot\" is not a valid systemd unit name: a unit name "
                + "may only contain letters, digits and ':', '_', '.', '\\', '@', '-'",
        ])

        var delay = try Self.baseCluster()
        delay.takeoverDelay = .milliseconds(-1)
        #expect(Self.problems(delay).map(\.description) == [
            "proposal from node2: cluster.failover_delay_ms: \"-1\" is not a duration: it is negative (expected a "
                + "number of milliseconds or a value with a unit such as 500ms, 5s, 2m, 1h)",
        ])
        // Every error is located by key path only: lines and columns would point into text nobody sees.
        for forged in [interface, prefix, unit, delay] {
            #expect(Self.problems(forged).allSatisfy { $0.line == 0 && $0.column == 0 && $0.file == "proposal from node2" })
        }
    }

    @Test func whatTheLoaderRefusesIsRefused() throws {
        var duplicateVIP = try Self.baseCluster()
        duplicateVIP.groups.append(ResourceGroup(name: "other", vips: [duplicateVIP.groups[0].vips[0]]))
        // The second VIP named v is refused, and so is listing v in a second group.
        #expect(Self.problems(duplicateVIP).map(\.keyPath) == ["vips[1].name", "groups[1].vips[0]"])
        #expect(Self.problems(duplicateVIP).first?.message.hasPrefix("\"v\" is already used by vips[0]") == true)

        var unknownGroup = try Self.baseCluster()
        unknownGroup.groups[0].colocatedWith = ["nowhere"]
        #expect(Self.problems(unknownGroup).map(\.description) == [
            "proposal from node2: groups[0].colocate_with[0]: there is no group named \"nowhere\"",
        ])

        var unknownResource = try Self.baseCluster()
        unknownResource.constraints = [.colocation(resource: "s", with: "ghost")]
        #expect(Self.problems(unknownResource).map(\.keyPath) == ["constraints[0].with"])

        var startCycle = try Self.baseCluster()
        startCycle.groups.append(ResourceGroup(
            name: "g2", vips: [VirtualIP(name: "v2", address: .v4(IPv4Address(10, 0, 0, 11)), prefixLength: 24)],
            startAfter: ["default"]))
        startCycle.groups[0].startAfter = ["g2"]
        #expect(Self.problems(startCycle).count == 1)

        var contradiction = try Self.baseCluster()
        contradiction.groups[0].services[0].restartService = true
        contradiction.groups[0].services[0].failurePolicy.maxRestarts = 0
        #expect(Self.problems(contradiction).map(\.keyPath) == ["services[0].failure_policy.max_restarts"])

        var badName = try Self.baseCluster()
        badName.name = "two words"
        #expect(Self.problems(badName).map(\.keyPath) == ["cluster.name"])

        var badPriority = try Self.baseCluster()
        badPriority.nodePriorities = ["a": 1001]
        #expect(Self.problems(badPriority).map(\.keyPath) == ["cluster.node_priorities.a"])
    }

    @Test func whatConfigYMLCannotExpressIsRefused() throws {
        var checks = try Self.baseCluster()
        checks.groups[0].requiredChecks = ["disk"]  // no constraint implies it
        #expect(Self.problems(checks).map(\.keyPath) == ["groups[0].requiredChecks"])
        #expect(Self.problems(checks).first?.message.hasPrefix("cannot be expressed in config.yml") == true)

        var precision = try Self.baseCluster()
        precision.takeoverDelay = .microseconds(500_500)
        #expect(Self.problems(precision).map(\.keyPath) == ["takeoverDelay"])

        var serviceCheck = try Self.baseCluster()
        serviceCheck.groups[0].services[0].healthCheck?.restartUnit = "other.service"
        #expect(Self.problems(serviceCheck).map(\.keyPath) == ["groups[0].services[0].healthCheck.restartUnit"])

        var scheme = try Self.baseCluster()
        scheme.groups[0].services[0].healthCheck?.kind = .http(URL(string: "https://127.0.0.1/")!)
        #expect(Self.problems(scheme).map(\.keyPath) == ["groups[0].services[0].healthCheck.kind.type"])

        var order = try Self.baseCluster()
        order.groups[0].vips.append(VirtualIP(name: "v2", address: .v4(IPv4Address(10, 0, 0, 11)), prefixLength: 24))
        order.constraints = [.order(first: "v2", then: "v")]  // says v2 first, the list says v first
        #expect(Self.problems(order).map(\.keyPath) == ["groups[0].vips[0].address"])
    }

    @Test func secretsAndControlCharactersStayOutOfTheErrors() throws {
        var header = try Self.baseCluster()
        header.stonith?.webhook?.headers["Authorization"] = "Bearer hunter2\r\nX-Injected: 1"
        let problems = Self.problems(header)
        #expect(problems.map(\.keyPath) == ["stonith.webhook.headers.Authorization"])
        #expect(!problems.description.contains("hunter2"))

        var name = try Self.baseCluster()
        name.groups[0].vips[0].name = "v\n/etc/sfha/config.yml:1:1: forged\u{1B}[2J"
        let lines = Self.problems(name).map(\.description)
        #expect(!lines.isEmpty && lines.allSatisfy { !$0.contains("\n") && !$0.contains("\u{1B}") })
        #expect(lines.first?.contains("\"v\\n/etc/sfha/config.yml:1:1: forged\\u{1B}[2J\" is not a valid name") == true)
    }

    @Test func theVerdictIsDeterministic() throws {
        var forged = try Self.baseCluster()
        forged.groups[0].vips[0].interface = "../../etc"
        forged.nodePriorities = Dictionary(uniqueKeysWithValues: (0..<40).map { ("n\($0)", 2000 + $0) })
        let first = Self.problems(forged)
        #expect(first.count == 41)
        for _ in 0..<5 { #expect(Self.problems(forged) == first) }
    }

    @Test func aConfigurationTooLargeForAFileIsRefused() throws {
        var huge = try Self.baseCluster()
        huge.nodeChecks[0].kind = .exec(arguments: ["/bin/true", String(repeating: "x", count: SFHAConfiguration.maximumFileSize)])
        let problems = Self.problems(huge)
        #expect(problems.count == 1 && problems.first?.keyPath == "")
        #expect(problems.first?.message.contains("over the 1048576-byte limit of a configuration file") == true)
    }

    /// Thousands of groups in a start_after chain: validation neither takes quadratic time nor overflows the stack
    /// (the cycle search is iterative).
    @Test func largeConfigurationsAreValidatedInReasonableTime() throws {
        var cluster = ClusterConfiguration()
        let count = 3000
        cluster.groups = (0..<count).map { index in
            ResourceGroup(
                name: "g\(index)",
                vips: [VirtualIP(name: "v\(index)", address: .v4(IPv4Address(rawValue: 0x0A00_0000 + UInt32(index) * 4 + 1)),
                                 prefixLength: 30)],
                startAfter: index == 0 ? [] : ["g\(index - 1)"])
        }
        #expect(try cluster.validated() == cluster)
        cluster.groups[0].startAfter = ["g\(count - 1)"]
        let problems = Self.problems(cluster)
        #expect(problems.count == 1 && problems.first?.message.hasPrefix("the start order of groups has a cycle") == true)
    }
}

@Suite("ClusterDocument: revision bounds and acceptance", .timeLimit(.minutes(2)))
struct ConfigDocumentSafetyTests {
    static func document(revision: UInt64) throws -> ClusterDocument {
        ClusterDocument(revision: revision, configuration: try ConfigValidatedTests.baseCluster())
    }

    @Test func theRevisionNeverOverflows() throws {
        var changed = try ConfigValidatedTests.baseCluster()
        changed.maintenance = true
        for revision in [ClusterDocument.maximumRevision, UInt64.max] {
            let document = try Self.document(revision: revision)
            #expect(throws: ConfigurationError.self) { try document.revised(with: changed) }
            do {
                _ = try document.revised(with: changed)
            } catch {
                #expect(error.items.map(\.keyPath) == ["revision"])
            }
            // The old entry point refuses the change without trapping.
            #expect(document.updated(with: changed) == document)
            // No change needs no revision.
            #expect(try document.revised(with: document.configuration) == document)
        }
        let below = try Self.document(revision: ClusterDocument.maximumRevision - 1).revised(with: changed)
        #expect(below.revision == ClusterDocument.maximumRevision && below.configuration == changed)
        #expect(try Self.document(revision: 1).updated(with: changed).revision == 2)
    }

    @Test func decodingRefusesRevisionsOutOfRange() throws {
        let valid = try JSONEncoder().encode(try Self.document(revision: ClusterDocument.maximumRevision))
        #expect(try JSONDecoder().decode(ClusterDocument.self, from: valid).revision == ClusterDocument.maximumRevision)
        for revision in [UInt64.max, ClusterDocument.maximumRevision + 1, 0] {
            let data = try JSONEncoder().encode(try Self.document(revision: revision))
            #expect(throws: DecodingError.self) { try JSONDecoder().decode(ClusterDocument.self, from: data) }
        }
    }

    @Test func onlyAcceptableDocumentsPassTheCheck() throws {
        let good = try Self.document(revision: 42)
        #expect(try good.validated(origin: "document from node2") == good)
        #expect(good.isAcceptable)

        func keyPaths(_ document: ClusterDocument) -> [String] {
            do {
                _ = try document.validated(origin: "document from node2")
                return []
            } catch {
                #expect(error.items.allSatisfy { $0.file == "document from node2" })
                return error.items.map(\.keyPath)
            }
        }
        #expect(keyPaths(try Self.document(revision: 0)) == ["revision"])
        #expect(keyPaths(try Self.document(revision: UInt64.max)) == ["revision"])

        var stale = good
        stale.configuration.maintenance.toggle()  // the hash no longer matches
        #expect(keyPaths(stale) == ["contentHash"])
        #expect(!stale.isAcceptable)

        var forged = try ConfigValidatedTests.baseCluster()
        forged.groups[0].vips[0].interface = "../../etc"
        let invalid = ClusterDocument(revision: 3, configuration: forged)
        #expect(keyPaths(invalid) == ["vips[0].interface"])
        #expect(!invalid.isAcceptable)
    }

    @Test func aStoreAtTheLastRevisionRefusesTheReloadAndKeepsItsConfiguration() async throws {
        let initial = try ConfigTest.load(ConfigValidatedTests.base)
        let store = ConfigurationStore(initial: initial, revision: ClusterDocument.maximumRevision)
        let changed = ConfigValidatedTests.base.replacingOccurrences(of: "name: c1", with: "name: c2")
        guard case .failure(let error) = await store.reload(yaml: changed) else {
            Issue.record("the reload was accepted")
            return
        }
        #expect(error.items.map(\.keyPath) == ["revision"])
        #expect(await store.current == initial)
        #expect(await store.document.revision == ClusterDocument.maximumRevision)
    }
}
