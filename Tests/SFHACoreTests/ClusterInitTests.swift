import CorosyncKit
import Foundation
import MeshKit
import SFHABase
import Testing

@testable import SFHACore

@Suite("sfha init: refusals and the plan", .timeLimit(.minutes(1)))
struct ClusterInitTests {
    static let endpoint = try! MeshEndpoint(parsing: "192.0.2.10:51820")
    static let request = ClusterInitRequest(clusterName: "prod", nodeName: "node1", endpoint: endpoint)

    @Test func eachRefusalSaysWhatToDo() throws {
        let cases: [(String, ClusterInitRequest, NodeFacts, String)] = [
            ("bad cluster name", ClusterInitRequest(clusterName: "bad name", nodeName: "node1", endpoint: Self.endpoint), NodeFacts(), "cluster name"),
            ("bad node name", ClusterInitRequest(clusterName: "prod", nodeName: "-n", endpoint: Self.endpoint), NodeFacts(), "hostname"),
            ("already in a corosync cluster", Self.request, NodeFacts(corosyncCluster: .some("old")), "already in a cluster"),
            ("membership record present", Self.request, NodeFacts(hasMembershipRecord: true), "sfha leave"),
            ("mesh interface present", Self.request, NodeFacts(meshInterfaceExists: true), "wg-sfha"),
            ("no WireGuard", Self.request, NodeFacts(wireGuardAvailable: false), "wireguard"),
            ("overlapping network", Self.request, NodeFacts(localNetworks: [try IPv4Network(parsing: "10.0.0.0/8")]), "--mesh-network"),
            ("tiny network", ClusterInitRequest(clusterName: "prod", nodeName: "node1", meshNetwork: try IPv4Network(parsing: "10.99.0.0/30"), endpoint: Self.endpoint), NodeFacts(), "/16 to /28"),
            ("endpoint in the mesh", ClusterInitRequest(clusterName: "prod", nodeName: "node1", endpoint: try MeshEndpoint(parsing: "10.99.0.7:51820")), NodeFacts(), "--endpoint"),
        ]
        for (what, request, facts, hint) in cases {
            let refusal = try #require(ClusterInit.refusal(request, facts), "\(what)")
            #expect(refusal.message.contains(hint), "\(what): \(refusal.message)")
            #expect(throws: SFHAError.self) { try ClusterInit.plan(request, facts, meshKey: WireGuardPrivateKey.generate(), at: Date()) }
        }
        #expect(ClusterInit.refusal(Self.request, NodeFacts(localNetworks: [try IPv4Network(parsing: "192.168.1.0/24")])) == nil)
    }

    @Test func thePlanFoundsTheClusterOnTheMesh() throws {
        let key = WireGuardPrivateKey.generate()
        let plan = try ClusterInit.plan(Self.request, NodeFacts(), meshKey: key, at: Date(timeIntervalSince1970: 1_800_000_000))
        #expect(plan.record.members.map(\.name) == ["node1"] && plan.record.members[0].publicKey == key.publicKey)
        #expect(plan.mesh.address.description == "10.99.0.1/24" && plan.mesh.listenPort == 51820)
        let conf = try CorosyncConf(parsing: plan.corosyncConf)
        #expect(conf.clusterName == "prod" && conf.transport == "knet" && conf.cryptoCipher == "aes256")
        #expect(conf.nodes == [CorosyncNodeEntry(nodeID: 1, name: "node1", addresses: ["10.99.0.1"])])
        // The join timings (Docs/Mesh.md): links up close together, a lost commit token retransmitted soon.
        #expect(conf.value(at: "totem.interface.knet_ping_interval") == "\(ClusterInit.knetPingIntervalMilliseconds)")
        #expect(conf.value(at: "totem.token_retransmits_before_loss_const") == "\(ClusterInit.tokenRetransmitsBeforeLoss)")
        let configuration = try #require(plan.configuration)
        let loaded = try SFHAConfiguration.parse(yaml: configuration, path: "config.yml")
        #expect(loaded.cluster.name == "prod" && loaded.node.name == "node1")
        #expect(plan.steps.first?.contains("wg-sfha") == true && plan.steps.last == "start sfhad")
        // An existing config.yml is never overwritten.
        #expect(try ClusterInit.plan(Self.request, NodeFacts(configurationExists: true), meshKey: key, at: Date()).configuration == nil)
    }

    @Test func theShortestTokenStillMeetsCorosyncsMinimums() {
        // corosync refuses to start when the token retransmit timeout (token / (retransmits + 0.2)) is under 30 ms or
        // the hold (retransmit × 0.8 − 10 ms) under 14 ms (exec/totemconfig.c).
        let retransmit = Double(ClusterInitRequest.tokenRange.lowerBound) / (Double(ClusterInit.tokenRetransmitsBeforeLoss) + 0.2)
        #expect(retransmit >= 30 && retransmit * 0.8 - 10 >= 14)
    }

    @Test func localNetworksAreReadFromIp() throws {
        let routes = """
            default via 192.0.2.1 dev eth0 proto dhcp src 192.0.2.10 metric 100
            10.8.0.0/16 via 192.0.2.254 dev eth0
            192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.10
            198.51.100.7 via 192.0.2.1 dev eth0
            """
        let addresses = """
            1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
            2: eth0    inet 192.0.2.10/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever
            """
        let networks = ClusterInit.localNetworks(routes: routes, addresses: addresses).map(\.description)
        #expect(networks == ["10.8.0.0/16", "192.0.2.0/24", "198.51.100.7/32", "127.0.0.1/8", "192.0.2.10/24"])
    }
}
