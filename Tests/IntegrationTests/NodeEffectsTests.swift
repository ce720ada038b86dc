import Foundation
import SFHABase
import SFHACore
import SFHALab
import Testing

/// Runs programs inside a lab host (its namespaces and PATH, so `systemctl` is the lab's stand-in).
struct NodeLabRunner: ProgramRunner {
    var lab: Lab
    var host: String

    func run(_ executable: String, _ arguments: [String], input: [UInt8]?, timeout: Duration?) async throws(SFHAError) -> ProgramResult {
        try await lab.exec(host, [executable] + arguments, input: input, timeout: timeout)
    }
}

/// The real effects run in-process: sockets (netlink, AF_PACKET, raw ICMPv6, TCP probes) are created inside the
/// node's network namespace (`NetworkNamespace.path`, the calling thread enters it only while creating them),
/// programs (`arping`, `systemctl`, `curl`) run inside the node through `NodeLabRunner`.
extension LabTests {
    @Suite(.timeLimit(.minutes(5))) struct NodeEffects {
        static func namespace(_ lab: Lab, _ host: String) throws -> NetworkNamespace {
            .named(try lab.host(host).networkNamespace)
        }

        /// `a.b.c.<last>` on the lab subnet.
        static func labAddress(_ lab: Lab, _ last: Int) throws -> String {
            let parts = try lab.node("node1").address.split(separator: ".")
            return "\(parts[0]).\(parts[1]).\(parts[2]).\(last)"
        }

        static func mac(_ lab: Lab, _ host: String) async throws -> String {
            let result = try await lab.check(host, ["ip", "-j", "link", "show", "dev", "eth0"])
            let links = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [[String: Any]]
            return try #require(links?.first?["address"] as? String).lowercased()
        }

        /// The client's neighbour entry for `address`: its link-layer address, if any.
        static func clientNeighbour(_ lab: Lab, _ address: String) async throws -> String? {
            let result = try await lab.check("client", ["ip", "-j", "neigh", "show", address, "dev", "eth0"])
            let entries = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [[String: Any]]
            return (entries?.first?["lladdr"] as? String)?.lowercased()
        }

        static func effects(_ lab: Lab, _ node: String) throws -> SFHACore.NodeEffects {
            .system(namespace: try namespace(lab, node), runner: NodeLabRunner(lab: lab, host: node))
        }

        @Test func vipMovesBetweenNodesAndTheClientFollowsTheAnnouncements() async throws {
            try await LabTestSupport.withLab("lt-vip", nodes: 2) { lab in
                let v4 = VirtualIP(name: "web", address: IPAddress(try Self.labAddress(lab, 200))!, prefixLength: 24)
                let v6 = VirtualIP(name: "web6", address: IPAddress("fd00:5fa::200")!, prefixLength: 64)
                let node1 = try Self.effects(lab, "node1")
                let node2 = try Self.effects(lab, "node2")
                let mac1 = try await Self.mac(lab, "node1")
                let mac2 = try await Self.mac(lab, "node2")
                let clientProbe = SystemHealthProbe(runner: NodeLabRunner(lab: lab, host: "client"), namespace: try Self.namespace(lab, "client"))
                try await lab.check("client", ["ip", "addr", "add", "fd00:5fa::250/64", "dev", "eth0", "nodad"])

                // Free addresses: nobody answers (arping -D from node1; neighbour solicitation for IPv6).
                #expect(try await node1.duplicates.check(v4) == .free)
                #expect(try await node1.duplicates.check(v6) == .free)

                // node1 takes both VIPs: exact listing, idempotent add.
                let primary = try await node1.addresses.addresses(on: "eth0")
                #expect(try await node1.addresses.add(v4) == .added)
                #expect(try await node1.addresses.add(v6) == .added)
                #expect(try await node1.addresses.add(v4) == .alreadyPresent)
                let listed = try await node1.addresses.addresses(on: "eth0")
                #expect(Set(listed.map(\.address)) == Set(primary.map(\.address) + [v4.address, v6.address]))
                let shown = try await lab.check("node1", ["ip", "-j", "addr", "show", "dev", "eth0"]).standardOutput
                #expect(try AddressParsing.parseIPJSON(shown, interface: "eth0").contains { $0.address == v6.address && $0.prefixLength == 64 })
                _ = try await node1.announcer.announce(v4)
                _ = try await node1.announcer.announce(v6)

                // The client reaches them (a TCP attempt resolves the neighbour; refused is fine) and learns node1's MAC.
                _ = await clientProbe.probe(.tcp(host: "\(v4.address)", port: 9), timeout: .seconds(2))
                _ = await clientProbe.probe(.tcp(host: "\(v6.address)", port: 9), timeout: .seconds(2))
                #expect(try await Self.clientNeighbour(lab, "\(v4.address)") == mac1)
                #expect(try await Self.clientNeighbour(lab, "\(v6.address)") == mac1)

                // node2 sees both held by node1, by node1's MAC.
                #expect(try await node2.duplicates.check(v4) == .inUse(by: mac1))
                #expect(try await node2.duplicates.check(v6) == .inUse(by: mac1))

                // The move: node1 releases, node2 adds and announces; the client's entries follow without any traffic.
                await node1.announcer.cancel(v4)
                await node1.announcer.cancel(v6)
                #expect(try await node1.addresses.remove(v4) == .removed)
                #expect(try await node1.addresses.remove(v6) == .removed)
                #expect(try await node1.addresses.remove(v4) == .alreadyAbsent)
                #expect(try await node1.addresses.addresses(on: "eth0") == primary)
                #expect(try await node2.addresses.add(v4) == .added)
                #expect(try await node2.addresses.add(v6) == .added)
                _ = try await node2.announcer.announce(v4)
                _ = try await node2.announcer.announce(v6)
                let moved = try await LabTestSupport.eventually(timeout: .seconds(5)) {
                    let v4Owner = try await Self.clientNeighbour(lab, "\(v4.address)")
                    let v6Owner = try await Self.clientNeighbour(lab, "\(v6.address)")
                    return v4Owner == mac2 && v6Owner == mac2
                }
                let neighbours = try await lab.check("client", ["ip", "neigh"]).standardOutput
                #expect(moved, "client neighbours: \(neighbours)")

                // A look-alike address is not the VIP: 10.x.y.20 must survive removing 10.x.y.2.
                let lookAlike = VirtualIP(name: "x", address: IPAddress(try Self.labAddress(lab, 20))!, prefixLength: 24)
                let prefix = VirtualIP(name: "y", address: IPAddress(try Self.labAddress(lab, 2))!, prefixLength: 24)
                #expect(try await node2.addresses.add(lookAlike) == .added)
                #expect(try await node2.addresses.remove(prefix) == .alreadyAbsent)
                #expect(try await node2.addresses.isPresent(lookAlike))
                #expect(try await node2.addresses.remove(lookAlike) == .removed)
                #expect(try await node2.addresses.remove(v4) == .removed)
                #expect(try await node2.addresses.remove(v6) == .removed)
            }
        }

        @Test func servicesHealthChecksAndTheReconcilerAgainstTheDemoWebUnit() async throws {
            try await LabTestSupport.withLab("lt-vip", nodes: 2) { lab in
                let node1Address = try lab.node("node1").address
                let services = SystemctlServiceController(runner: NodeLabRunner(lab: lab, host: "node1"))
                let probe = SystemHealthProbe(runner: NodeLabRunner(lab: lab, host: "client"), namespace: try Self.namespace(lab, "client"))
                let http = HealthCheck.Kind.http(URL(string: "http://\(node1Address):8080/")!)
                let tcp = HealthCheck.Kind.tcp(host: node1Address, port: 8080)

                #expect(try await services.isActive("sfha-demo-web") == false)
                #expect(await probe.probe(tcp, timeout: .seconds(2)).healthy == false)
                try await services.start("sfha-demo-web")
                #expect(try await services.isActive("sfha-demo-web.service"))
                let up = try await LabTestSupport.eventually(timeout: .seconds(10)) { await probe.probe(http, timeout: .seconds(2)).healthy }
                #expect(up)
                #expect(await probe.probe(http, timeout: .seconds(2)) == .healthy("HTTP 200"))
                #expect(await probe.probe(tcp, timeout: .seconds(2)) == .healthy("connected"))
                let nodeProbe = SystemHealthProbe(runner: NodeLabRunner(lab: lab, host: "node1"), namespace: try Self.namespace(lab, "node1"))
                #expect(await nodeProbe.probe(.systemd(unit: "sfha-demo-web"), timeout: .seconds(5)).healthy)
                // https against a plain-HTTP port: curl fails the TLS handshake (verification on), so unhealthy.
                #expect(await probe.probe(.https(URL(string: "https://\(node1Address):8080/")!), timeout: .seconds(3)).healthy == false)
                try await services.stop("sfha-demo-web")
                #expect(try await services.isActive("sfha-demo-web") == false)
                #expect(await nodeProbe.probe(.systemd(unit: "sfha-demo-web"), timeout: .seconds(5)).healthy == false)
                let down = await probe.probe(http, timeout: .seconds(2))
                #expect(down.healthy == false && down.detail.contains("refused"))
                await #expect(throws: SFHAError.self) { try await services.start("no-such-unit") }

                // The whole reconciler with real effects: the group (VIP + demo web) on node1, then moved to node2.
                let vipAddress = try Self.labAddress(lab, 201)
                let group = ResourceGroup(
                    name: "web", vips: [VirtualIP(name: "web", address: IPAddress(vipAddress)!, prefixLength: 24)],
                    services: [ManagedService(name: "demo", unit: "sfha-demo-web")])
                let reconciler1 = LocalReconciler(groups: [group], effects: try Self.effects(lab, "node1"))
                let reconciler2 = LocalReconciler(groups: [group], effects: try Self.effects(lab, "node2"))
                let acquired = await reconciler1.apply(["web"])
                #expect(acquired.map(\.kind) == [.duplicateCheck, .addVIP, .announce, .startService])
                #expect(acquired.allSatisfy { $0.outcome == .done }, "\(acquired)")
                #expect(await reconciler1.apply(["web"]).isEmpty)
                let viaVIP = HealthCheck.Kind.http(URL(string: "http://\(vipAddress):8080/")!)
                #expect(try await LabTestSupport.eventually(timeout: .seconds(10)) { await probe.probe(viaVIP, timeout: .seconds(2)).healthy })
                #expect(try await LabTestSupport.fetchFromClient(lab, "http://\(vipAddress):8080/").standardOutput == "node1\n")

                // node2 cannot take it while node1 answers for it.
                let refused = await reconciler2.apply(["web"])
                #expect(refused.last?.kind == .acquireRefused)
                #expect(await reconciler2.heldGroups.isEmpty)

                let released = await reconciler1.releaseEverything()
                #expect(released.map(\.kind) == [.removeVIP, .stopService])
                #expect(try await lab.systemctl("node1", ["is-active", "sfha-demo-web"]).exitCode == 3)
                let moved = await reconciler2.apply(["web"])
                #expect(moved.allSatisfy { $0.outcome == .done }, "\(moved)")
                let servedByNode2 = try await LabTestSupport.eventually(timeout: .seconds(10)) {
                    try await LabTestSupport.fetchFromClient(lab, "http://\(vipAddress):8080/").standardOutput == "node2\n"
                }
                #expect(servedByNode2)
                #expect(await reconciler2.releaseEverything().allSatisfy { $0.outcome == .done })
            }
        }
    }
}
