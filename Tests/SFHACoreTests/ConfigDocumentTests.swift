import Foundation
@testable import SFHACore
import SFHABase
import Testing

@Suite("ClusterDocument: canonical encoding and content hash", .timeLimit(.minutes(2)))
struct ConfigDocumentTests {
    static let small = """
        cluster:
          name: c1
          failover_delay_ms: 1500
          node_priorities: {b: 2, a: 1}
        node: {name: a}
        vips:
          - {name: v, ip: 10.0.0.10/24}
        services:
          - name: s
            healthcheck: {type: tcp, target: "127.0.0.1:80"}

        """

    @Test func canonicalEncodingIsSortedJSONWithMilliseconds() throws {
        let config = try ConfigTest.load(Self.small)
        let json = String(decoding: ClusterDocument.canonicalEncoding(of: config.cluster), as: UTF8.self)
        #expect(json == #"{"constraints":[],"groups":[{"colocatedWith":[],"failback":false,"failbackDelayMilliseconds":0,"#
            + #""name":"default","priorities":{},"requiredChecks":[],"services":[{"critical":false,"failurePolicy":"#
            + #"{"maxRestarts":0,"windowMilliseconds":60000},"healthCheck":{"critical":false,"failuresBeforeUnhealthy":3,"#
            + #""intervalMilliseconds":5000,"kind":{"host":"127.0.0.1","port":80,"type":"tcp"},"name":"s","#
            + #""successesBeforeHealthy":2,"timeoutMilliseconds":2000},"name":"s","restartService":false,"unit":"s"}],"#
            + #""startAfter":[],"vips":[{"address":"10.0.0.10","interface":"eth0","name":"v","prefixLength":24}]}],"#
            + #""maintenance":false,"name":"c1","nodeChecks":[],"nodePriorities":{"a":1,"b":2},"quorumRequired":true,"#
            + #""takeoverDelayMilliseconds":1500}"#)
    }

    /// The hash is a pure function of the content: this literal (also checked with coreutils `sha256sum` over the
    /// JSON above) must never change between runs, processes or machines (changing the encoding is a protocol
    /// change).
    @Test func hashIsStable() throws {
        let config = try ConfigTest.load(Self.small)
        let document = ClusterDocument(revision: 7, configuration: config.cluster)
        #expect(document.contentHash == "28e4ccd9e4c0f5a358e9badfa9eaae3ddaab0cd84c5d867366af1f09e2d21910")
        #expect(document.contentHash.count == 64)
        #expect(document.contentHash.allSatisfy { "0123456789abcdef".contains($0) })
    }

    @Test func hashDoesNotDependOnKeyOrderOrNodeLocalSettings() throws {
        let a = try ConfigTest.load(Self.small)
        let b = try ConfigTest.load(Self.small
            .replacingOccurrences(of: "{b: 2, a: 1}", with: "{a: 1, b: 2}")
            .replacingOccurrences(of: "node: {name: a}", with: "node: {name: b, priority: 5}\nlogging: {level: debug}"))
        #expect(ClusterDocument.contentHash(of: a.cluster) == ClusterDocument.contentHash(of: b.cluster))
    }

    @Test func hashChangesWithContent() throws {
        let base = try ConfigTest.load(Self.small).cluster
        let variants = [
            Self.small.replacingOccurrences(of: "10.0.0.10/24", with: "10.0.0.10/25"),
            Self.small.replacingOccurrences(of: "failover_delay_ms: 1500", with: "failover_delay_ms: 1501"),
            Self.small.replacingOccurrences(of: "{b: 2, a: 1}", with: "{b: 2, a: 0}"),
            Self.small.replacingOccurrences(of: "name: c1", with: "name: c2"),
            Self.small + "cluster_extra_is_a_warning_only: 1\n",
        ]
        let hashes = try variants.map { ClusterDocument.contentHash(of: try ConfigTest.load($0).cluster) }
        let baseHash = ClusterDocument.contentHash(of: base)
        #expect(hashes[0] != baseHash && hashes[1] != baseHash && hashes[2] != baseHash && hashes[3] != baseHash)
        // An unknown key is ignored: same content, same hash.
        #expect(hashes[4] == baseHash)
        #expect(Set(hashes[0...3]).count == 4)
    }

    @Test func documentRoundTripsAndRejectsTampering() throws {
        let config = try ConfigTest.load(ConfigFixtures.readmeFull)
        let document = ClusterDocument(revision: 3, configuration: config.cluster)
        let data = try JSONEncoder().encode(document)
        let decoded = try JSONDecoder().decode(ClusterDocument.self, from: data)
        #expect(decoded == document)
        #expect(decoded.configuration == config.cluster)

        let tampered = String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\"pve01\"", with: "\"pve02\"")
        #expect(tampered != String(decoding: data, as: UTF8.self))
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ClusterDocument.self, from: Data(tampered.utf8)) }
    }

    @Test func everyExampleRoundTripsThroughCodable() throws {
        for yaml in [ConfigFixtures.configExample, ConfigFixtures.readmeFull, ConfigFixtures.readmeQuick,
                     SFHAConfiguration.exampleYAML] {
            let config = try ConfigTest.load(yaml)
            let data = try JSONEncoder().encode(config)
            #expect(try JSONDecoder().decode(SFHAConfiguration.self, from: data) == config)
        }
    }

    @Test func revisionsAdvanceOnlyWithContent() throws {
        let config = try ConfigTest.load(Self.small)
        let first = ClusterDocument(revision: 1, configuration: config.cluster)
        #expect(first.updated(with: config.cluster) == first)
        var changed = config.cluster
        changed.maintenance = true
        let second = first.updated(with: changed)
        #expect(second.revision == 2 && second.contentHash != first.contentHash)
        #expect(second.configuration.maintenance)
    }
}
