import Foundation
import SFHABase
import SFHACore
import SFHALab
import Testing

/// sfhad on every node of a real 3-node lab: one VIP + the demo web service, and the VIP sampled on every node
/// throughout each fault (never on two nodes at once).
extension LabTests {
    @Suite(.timeLimit(.minutes(10))) struct Daemon {
        struct Cluster {
            let lab: Lab
            let vip: VirtualIP
            let addresses: [String: NetlinkAddressController]

            /// The nodes whose eth0 has the VIP now (read over netlink inside each node's namespace).
            func holders() async throws -> [String] {
                var found: [String] = []
                for node in lab.nodes where try await addresses[node.name]!.isPresent(vip) { found.append(node.name) }
                return found
            }

            /// Samples the holders every ~20 ms until `condition` holds on a sample or `timeout` passes; returns the
            /// number of samples with two holders, and the last sample.
            func watch(timeout: Duration, until condition: ([String]) -> Bool) async throws -> (dual: Int, samples: Int, last: [String]) {
                let clock = ContinuousClock()
                let deadline = clock.now + timeout
                var dual = 0
                var samples = 0
                var last: [String] = []
                while clock.now < deadline {
                    last = try await holders()
                    samples += 1
                    if last.count > 1 { dual += 1 }
                    if condition(last) { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                return (dual, samples, last)
            }

            func sfha(_ node: String, _ arguments: [String]) async throws -> ProgramResult {
                try await lab.exec(node, [Lab.builtProduct("sfha")] + arguments)
            }

            func sfhadPID(_ node: String) throws -> Int32? {
                try lab.processes(on: node).first { $0.name == "sfhad" }?.pid
            }
        }

        /// sfhad on every node of a 3-node lab (`LabDaemonCluster`: VIP `vip-web` + the demo web service), once one
        /// node holds the VIP.
        static func withCluster(
            _ name: String, settings: LabDaemonCluster.Settings = LabDaemonCluster.Settings(), _ body: (Cluster) async throws -> Void
        ) async throws {
            try await LabTestSupport.withLab(name) { lab in
                let daemons = try LabDaemonCluster(lab: lab, settings: settings)
                try await daemons.start()
                let address = try #require(IPAddress(daemons.vip.address))
                let addresses = Dictionary(uniqueKeysWithValues: try lab.nodes.map {
                    ($0.name, NetlinkAddressController(namespace: .named(try lab.node($0.name).networkNamespace)))
                })
                let cluster = Cluster(
                    lab: lab, vip: VirtualIP(name: daemons.vip.name, address: address, prefixLength: 24, interface: "eth0"),
                    addresses: addresses)
                let started = try await cluster.watch(timeout: .seconds(20)) { $0.count == 1 }
                try #require(started.last.count == 1, "one node holds the VIP once sfhad runs everywhere")
                try await body(cluster)
            }
        }

        @Test func statusStandbyAndNoDualVIPWhenTheHoldersDaemonIsKilled() async throws {
            try await Self.withCluster("lt-sfhad") { cluster in
                let holder = try await cluster.holders()[0]
                // The CLI asks sfhad: every daemon up, the group on the holder (daemons start one after the other).
                var json: DaemonStatus?
                let settled = try await LabTestSupport.eventually(timeout: .seconds(15)) {
                    let status = try await cluster.sfha("node2", ["status", "--json"])
                    json = try? ControlJSON.decoder().decode(DaemonStatus.self, from: Data(status.standardOutput.utf8))
                    return json.map { $0.quorate && $0.nodes.count == 3 && $0.nodes.allSatisfy(\.daemonAlive) } ?? false
                }
                #expect(settled, "status from node2: \(String(describing: json))")
                #expect(json?.groups.first?.holder == holder)
                // The demo service answers through the VIP (once the holder has started it, right after the VIP).
                var page = ""
                let answered = try await LabTestSupport.eventually(timeout: .seconds(10)) {
                    page = LabTestSupport.trimmed(try await LabTestSupport.fetchFromClient(cluster.lab, "http://\(cluster.vip.address):8080/").standardOutput)
                    return !page.isEmpty
                }
                #expect(answered && page == holder)
                // Prometheus can scrape each node over TCP (`metrics.listen`, set by the lab on the node's address).
                let scrape = try await LabTestSupport.fetchFromClient(
                    cluster.lab, "http://\(try cluster.lab.node(holder).address):\(LabDaemonCluster.Settings().metricsPort)/metrics")
                #expect(scrape.standardOutput.contains("sfha_quorate"), "\(scrape.standardOutput.prefix(300))\(scrape.standardError)")

                // Standby moves the group at once; unstandby does not move it back (stickiness).
                #expect(try await cluster.sfha(holder, ["standby"]).succeeded)
                let moved = try await cluster.watch(timeout: .seconds(10)) { $0.count == 1 && $0[0] != holder }
                #expect(moved.dual == 0)
                let second = try #require(moved.last.first)
                #expect(second != holder)
                // Status says why it moved: the previous holder went into standby.
                let afterStandby = try await cluster.sfha(second, ["status", "--json"])
                let standbyStatus = try? ControlJSON.decoder().decode(DaemonStatus.self, from: Data(afterStandby.standardOutput.utf8))
                #expect(standbyStatus?.groups.first?.lastMove?.cause == .holderIneligible(node: holder, why: .standby), "\(afterStandby.standardOutput)")
                #expect(standbyStatus?.groups.first?.ineligible.contains { $0.node == holder && $0.why == .standby } == true)
                #expect(try await cluster.sfha(holder, ["unstandby"]).succeeded)

                // A ban keeps the group off a node, cluster-wide: it leaves `second` (never two holders), the answer
                // says where it went, and status names the ban; --clear lifts it.
                let group = try #require(standbyStatus?.groups.first?.name)
                let ban = try await cluster.sfha(holder, ["failover", group, "--ban", second, "--yes"])
                #expect(ban.succeeded && ban.standardOutput.contains("\(group) is on "), "\(ban.standardOutput)\(ban.standardError)")
                let banned = try await cluster.watch(timeout: .seconds(10)) { $0.count == 1 && $0[0] != second }
                #expect(banned.dual == 0 && banned.last.count == 1 && banned.last.first != second, "\(banned.last)")
                let bannedStatus = try await cluster.sfha(holder, ["status", "--json"])
                let bans = try? ControlJSON.decoder().decode(DaemonStatus.self, from: Data(bannedStatus.standardOutput.utf8))
                #expect(bans?.groups.first?.bannedNodes == [second], "\(bannedStatus.standardOutput)")
                #expect(try await cluster.sfha(holder, ["failover", group, "--clear"]).succeeded)
                // Let every daemon settle (an acquisition in flight is only reported once it completes).
                let settledHolder = try await cluster.watch(timeout: .seconds(10)) { _ in false }
                #expect(settledHolder.dual == 0)

                // SIGKILL of sfhad on the holder: its VIP lease runs out, another node takes over, never two holders.
                let before = try await cluster.holders()
                let victim = try #require(before.first)
                #expect(before.count == 1)
                let pid = try #require(try cluster.sfhadPID(victim))
                let killedAt = ContinuousClock.now
                #expect(kill(pid, SIGKILL) == 0)
                let takeover = try await cluster.watch(timeout: .seconds(15)) { $0.count == 1 && $0[0] != victim }
                print("sfhad \(pid) killed on \(victim): taken over after \(ContinuousClock.now - killedAt), "
                    + "\(takeover.samples) samples, \(takeover.dual) with two holders, now on \(takeover.last)")
                #expect(takeover.dual == 0)
                #expect(takeover.last.count == 1 && takeover.last.first != victim)
            }
        }

        @Test func isolatingTheHolderMovesTheVIPWithoutOverlapAndRejoiningKeepsIt() async throws {
            try await Self.withCluster("lt-sfhiso") { cluster in
                let holder = try await cluster.holders()[0]
                try await cluster.lab.isolate(holder)
                let takeover = try await cluster.watch(timeout: .seconds(20)) { $0.count == 1 && $0[0] != holder }
                print("isolated \(holder): \(takeover.samples) samples, \(takeover.dual) with two holders, now on \(takeover.last)")
                #expect(takeover.dual == 0)
                let newHolder = try #require(takeover.last.first)
                #expect(newHolder != holder)
                try await cluster.lab.rejoin(holder)
                // Give the membership time to re-form, sampling all along: no overlap, the new holder keeps it.
                let after = try await cluster.watch(timeout: .seconds(8)) { _ in false }
                #expect(after.dual == 0)
                #expect(after.last == [newHolder])
            }
        }
    }
}
