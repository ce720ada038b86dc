import CorosyncKit
import Foundation
import MeshKit
import SFHABase
import SFHACore
import SFHALab
import Testing

extension LabTests {
    /// `sfha node remove` on clusters built by init and join: the founding document's anti-regression checklist.
    @Suite struct NodeRemove {
        /// Every file a removal may touch on `node`, hashed (a dry run must leave them all as they were).
        static func fileHashes(_ lab: Lab, _ node: String) async throws -> String {
            let paths = ["/etc/corosync/corosync.conf", "/var/lib/sfha/membership.json", "/etc/wireguard/wg-sfha.conf", "/etc/sfha/config.yml"]
            return try await lab.check(node, ["sha256sum"] + paths).standardOutput
        }

        /// node1–node4 (or `count`) by init and join, watched, node1 holding the VIP. (A join may rarely move it — the
        /// join suites measure that —; these tests are about removals, so it is put back on node1 first.)
        static func fourNodes(_ lab: Lab, count: Int = 4) async throws -> (LabDaemonCluster, LabWatcher) {
            let cluster = try LabDaemonCluster(lab: lab)
            let watcher = try await LabWatcher.start(lab: lab, vips: [cluster.vip])
            do {
                try await cluster.found()
                for index in 2...count { _ = try await cluster.join("node\(index)", issuer: "node\(index - 1)") }
                #expect(try await Join.waitForCluster(lab, (1...count).map { "node\($0)" }))
                let holder = await watcher.waitForSingleHolder(of: cluster.vip.name, stable: .seconds(1), timeout: .seconds(30))
                if holder != "node1" {
                    print("[setup] the VIP is on \(holder ?? "no node") after the joins: moved back to node1")
                    try await lab.check("node1", ["sfha", "failover", "--to", "node1", "--yes"])
                }
            } catch {
                watcher.stop()
                throw error
            }
            return (cluster, watcher)
        }

        /// Removing an offline node (checklist 1, 3, 4, 5, 6): four nodes by init and join, the VIP on node1 and
        /// probed; node4 stopped; `sfha node remove node4` run on node2 (not the holder). Then: node4 started again
        /// with its old files is shut out and never holds the VIP; a removal in a minority partition is refused and
        /// changes nothing; a later join (node5) gets a new node id and mesh address.
        @Test func anOfflineNodeIsRemovedAndTheRestStayConnected() async throws {
            try await Init.withBareLab("lt-remove", nodes: 5) { lab in
                let (cluster, watcher) = try await Self.fourNodes(lab)
                defer { watcher.stop() }
                let all = ["node1", "node2", "node3", "node4"]
                let rest = ["node1", "node2", "node3"]
                #expect(try await Join.waitForCluster(lab, all))
                #expect(await watcher.waitForSingleHolder(of: cluster.vip.name, stable: .seconds(1), timeout: .seconds(30)) == "node1")
                let node4Key = try JSONDecoder().decode(MembershipDocument.self, from: Data(try await Init.text(lab, "node4", "/var/lib/sfha/membership.json").utf8))
                    .record.member(named: "node4")?.publicKey

                // node4 goes down for good.
                try await lab.check("node4", ["systemctl", "stop", "sfhad"])
                try await lab.check("node4", ["systemctl", "stop", "corosync"])
                #expect(try await LabTestSupport.eventually(timeout: .seconds(30)) {
                    try await Join.status(lab, "node1").nodes.first { $0.name == "node4" }?.member == false
                })
                #expect(await watcher.waitForSingleHolder(of: cluster.vip.name, stable: .seconds(2), timeout: .seconds(30)) == "node1")
                var pids: [String: Int32] = [:]
                for node in rest { pids[node] = try lab.corosyncPID(on: node) }
                let prober = try await LabHTTPProber.start(lab: lab, url: cluster.serviceURL)
                #expect(await prober.waitForAnswer(from: "node1", after: LabClock.now(), timeout: .seconds(15)) != nil)
                let start = LabClock.now()

                // A dry run prints the plan and changes nothing anywhere.
                var before: [String: String] = [:]
                for node in rest { before[node] = try await Self.fileHashes(lab, node) }
                let dry = try await lab.exec("node2", ["sfha", "node", "remove", "node4", "--dry-run", "--json"])
                try #require(dry.succeeded, "\(dry.standardError)")
                let plan = try JSONDecoder().decode(NodeRemoveAnswer.self, from: Data(dry.standardOutput.utf8))
                #expect(plan.plan.refusal == nil && plan.plan.membersAfter == 3 && plan.plan.quorumAfter == 2 && plan.steps.isEmpty)
                // Its diffs, from every remaining node: node4's nodelist entry and WireGuard peer go; no private key shown.
                let preview = try #require(plan.preview)
                #expect(preview.map(\.node) == rest && preview.allSatisfy { $0.error == nil }, "\(preview)")
                for report in preview {
                    let diffs = Dictionary((report.diffs ?? []).map { ($0.path, $0.diff) }, uniquingKeysWith: { first, _ in first })
                    let corosync = diffs["/etc/corosync/corosync.conf"] ?? ""
                    let wireguard = diffs["/etc/wireguard/wg-sfha.conf"] ?? ""
                    #expect(corosync.contains("-\t\tname: node4") && !corosync.contains("+\t\tname:"), "\(report.node): \(corosync)")
                    #expect(wireguard.contains("-PublicKey = \(node4Key?.base64 ?? "?")"), "\(report.node): \(wireguard)")
                    let key = try await Init.text(lab, report.node, "/etc/wireguard/wg-sfha.conf").split(separator: "\n")
                        .first { $0.hasPrefix("PrivateKey") }?.split(separator: "=", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces)
                    #expect(key.map { $0.count > 40 && !wireguard.contains($0) && !dry.standardOutput.contains($0) } == true, "\(report.node)'s private key shown")
                }
                let text = try await lab.exec("node2", ["sfha", "node", "remove", "node4", "--dry-run"])
                print("[remove] dry run:\n\(text.standardOutput)")
                #expect(text.standardOutput.contains("Files that would change:") && text.standardOutput.contains("node3: /etc/corosync/corosync.conf"))
                for node in rest { #expect(try await Self.fileHashes(lab, node) == before[node], "the dry run changed a file on \(node)") }

                // The removal, from node2.
                let run = try await lab.exec("node2", ["sfha", "node", "remove", "node4", "--yes", "--json"], timeout: .seconds(120))
                try #require(run.succeeded, "sfha node remove: \(run.standardError)\(run.standardOutput)")
                let answer = try JSONDecoder().decode(NodeRemoveAnswer.self, from: Data(run.standardOutput.utf8))
                print("[remove] \(answer.steps.map { "\($0.node): \($0.step) — \($0.result) (\($0.milliseconds) ms)" }.joined(separator: "\n[remove] "))")
                #expect(answer.revision != nil && answer.warnings.isEmpty, "\(answer.warnings)")
                #expect(answer.corosyncNodelist == rest)

                // 1 and 3: the others stay connected over P2P and see the same node list; quorate.
                #expect(try await LabTestSupport.eventually(timeout: .seconds(20)) {
                    for node in rest {
                        let status = try await Join.status(lab, node)
                        guard status.quorate, status.nodes.map(\.name).sorted() == rest,
                            status.nodes.allSatisfy({ $0.member && $0.sfhaRunning == true })
                        else { return false }
                    }
                    return true
                }, "every remaining node lists node1–3, all online with sfhad answering over the mesh")
                // 4: corosync's own view agrees on every node (runtime nodelist and membership); never restarted.
                var confs: Set<String> = []
                for node in rest {
                    #expect(try await LabTestSupport.eventually(timeout: .seconds(20)) {
                        let members = try await lab.check(node, ["corosync-quorumtool", "-l"]).standardOutput
                        return members.contains("node1") && members.contains("node3") && !members.contains("node4")
                    }, "corosync-quorumtool -l on \(node)")
                    let nodelist = try await lab.check(node, ["corosync-cmapctl", "-b", "nodelist.node"]).standardOutput
                    #expect(!nodelist.contains("node4") && nodelist.contains("node3"), "\(node)'s runtime nodelist: \(nodelist)")
                    #expect(try lab.corosyncPID(on: node) == pids[node] && pids[node] != nil, "corosync of \(node) restarted")
                    confs.insert(try await Init.text(lab, node, "/etc/corosync/corosync.conf"))
                    let peers = try await lab.check(node, ["wg", "show", "wg-sfha", "peers"]).standardOutput
                    #expect(!peers.contains(node4Key?.base64 ?? "?"), "\(node) still has node4's WireGuard peer")
                }
                #expect(confs.count == 1)
                #expect(try CorosyncConf(parsing: confs.first ?? "").nodes.map(\.name) == rest)

                // 5: the VIP on an untouched holder stayed up throughout.
                let client = prober.report(since: start)
                print("[remove] client: \(client)")
                #expect(client.failures == 0 && client.answeredBy == ["node1"], "\(client)")
                #expect(watcher.report(since: start).vipChanges.filter { !$0.present }.isEmpty, "the VIP left node1 during the removal")

                // Running it again: already removed.
                let again = try await lab.exec("node2", ["sfha", "node", "remove", "node4", "--yes"])
                #expect(again.succeeded && again.standardOutput.contains("already removed"), "\(again.standardOutput)\(again.standardError)")

                // The removed node started again with its old files: the others' meshes shut it out, so it stays
                // alone and without quorum, and never takes the VIP.
                try await lab.check("node4", ["systemctl", "start", "corosync"])
                try await lab.check("node4", ["systemctl", "start", "sfhad"])
                let comeback = LabClock.now()
                #expect(try await LabTestSupport.eventually(timeout: .seconds(30)) {
                    (try? await Join.status(lab, "node4")) != nil
                }, "node4's sfhad answers locally")
                // Long enough for a token timeout and a ring attempt (it stays shut out; nothing to wait for).
                _ = await watcher.waitForSample(timeout: .seconds(8)) { $0.holders(of: cluster.vip.name).contains("node4") }
                let node4Status = try await Join.status(lab, "node4")
                #expect(!node4Status.quorate && node4Status.nodes.filter(\.member).map(\.name) == ["node4"], "\(node4Status.nodes.map { ($0.name, $0.member) })")
                #expect(!watcher.report(since: comeback).vipChanges.contains { $0.node == "node4" && $0.present }, "the removed node took the VIP")
                for node in rest {
                    #expect(try await Join.status(lab, node).nodes.map(\.name).sorted() == rest, "\(node) still lists node1–3 only")
                }
                try await lab.check("node4", ["systemctl", "stop", "sfhad"])
                try await lab.check("node4", ["systemctl", "stop", "corosync"])

                // 6: failover still works: the holder cut off, another node takes over, never two holders. And on the
                // cut-off node (a minority partition) a removal is refused and changes nothing.
                try await lab.isolate("node1")
                let next = await watcher.waitForSingleHolder(of: cluster.vip.name, among: ["node2", "node3"], stable: .seconds(1), timeout: .seconds(60))
                #expect(next == "node2" || next == "node3", "after node1's isolation the VIP is on \(next ?? "no node")")
                #expect(try await LabTestSupport.eventually(timeout: .seconds(30)) { try await Join.status(lab, "node1").quorate == false })
                let isolatedFiles = try await Self.fileHashes(lab, "node1")
                let minority = try await lab.exec("node1", ["sfha", "node", "remove", "node3", "--yes"])
                #expect(!minority.succeeded && minority.standardError.contains("no quorum"), "\(minority.standardError)")
                #expect(try await Self.fileHashes(lab, "node1") == isolatedFiles)
                try await lab.rejoin("node1")
                #expect(try await Join.waitForCluster(lab, rest))
                await prober.stop()

                // A later join gets a node id and a mesh address never used before (node4's stay tombstoned).
                _ = try await cluster.join("node5", issuer: "node2")
                #expect(try await Join.waitForCluster(lab, rest + ["node5"]))
                let grown = try JSONDecoder().decode(MembershipDocument.self, from: Data(try await Init.text(lab, "node1", "/var/lib/sfha/membership.json").utf8)).record
                let node5 = try #require(grown.member(named: "node5"))
                #expect(node5.nodeID == 5 && "\(node5.meshAddress)" == "10.99.0.5" && grown.tombstones.map(\.nodeID) == [4], "\(node5)")
                let safety = watcher.report(since: start)
                print("[remove] watcher: \(safety)")
                #expect(safety.dualHolderSamples.isEmpty && safety.eventOverlaps.isEmpty && safety.heldWithoutQuorum.isEmpty, "\(safety)")
            }
        }
    
        /// Removing an online node with --force (checklist 2), the current holder at that: its groups go elsewhere
        /// first (never on two nodes), it is told to leave (sfhad and corosync stop, the mesh goes down, its files are
        /// moved aside), and the rest end identical, quorate, their corosync never restarted.
        @Test func theOnlineHolderIsRemovedWithForce() async throws {
            try await Init.withBareLab("lt-rmforce", nodes: 4) { lab in
                let (cluster, watcher) = try await Self.fourNodes(lab)
                defer { watcher.stop() }
                let rest = ["node2", "node3", "node4"]
                #expect(try await Join.waitForCluster(lab, ["node1"] + rest))
                #expect(await watcher.waitForSingleHolder(of: cluster.vip.name, stable: .seconds(1), timeout: .seconds(30)) == "node1")
                var pids: [String: Int32] = [:]
                for node in rest { pids[node] = try lab.corosyncPID(on: node) }
                let prober = try await LabHTTPProber.start(lab: lab, url: cluster.serviceURL)
                #expect(await prober.waitForAnswer(from: "node1", after: LabClock.now(), timeout: .seconds(15)) != nil)
                let start = LabClock.now()

                // Without --force: refused, nothing changed.
                let refused = try await lab.exec("node2", ["sfha", "node", "remove", "node1", "--yes"])
                #expect(!refused.succeeded && refused.standardError.contains("--force"), "\(refused.standardError)")

                let run = try await lab.exec("node2", ["sfha", "node", "remove", "node1", "--force", "--yes", "--json"], timeout: .seconds(120))
                try #require(run.succeeded, "sfha node remove --force: \(run.standardError)\(run.standardOutput)")
                let answer = try JSONDecoder().decode(NodeRemoveAnswer.self, from: Data(run.standardOutput.utf8))
                print("[remove-force] \(answer.steps.map { "\($0.node): \($0.step) — \($0.result) (\($0.milliseconds) ms)" }.joined(separator: "\n[remove-force] "))")
                #expect(answer.revision != nil && answer.warnings.isEmpty, "\(answer.warnings)")
                #expect(answer.steps.contains { $0.node == "node1" && $0.step.hasPrefix("hand its groups over") && $0.result == "done" })
                #expect(answer.steps.contains { $0.node == "node1" && $0.step.hasPrefix("left corosync's membership") && $0.result == "done" })

                // The removed node left: corosync and sfhad stopped and disabled, mesh down, files moved aside.
                #expect(try await LabTestSupport.eventually(timeout: .seconds(30)) {
                    guard try lab.corosyncPID(on: "node1") == nil else { return false }
                    return try await lab.exec("node1", ["systemctl", "is-active", "sfhad"]).standardOutput.contains("inactive")
                }, "corosync and sfhad stopped on node1")
                if ProcessInfo.processInfo.environment["SFHA_LAB_LOGS"] != nil {
                    print((try? await Init.text(lab, "node1", "/var/log/corosync/sfhad.log")) ?? "")
                }
                #expect(try await lab.exec("node1", ["ip", "link", "show", "dev", "wg-sfha"]).exitCode != 0, "node1's mesh is down")
                #expect(try await lab.exec("node1", ["test", "-e", "/etc/corosync/corosync.conf"]).exitCode != 0)
                let aside = try await lab.check("node1", ["sh", "-c", "ls /etc/corosync /var/lib/sfha /etc/wireguard"]).standardOutput
                #expect(aside.contains("corosync.conf.removed-") && aside.contains("membership.json.removed-") && aside.contains("wg-sfha.conf.removed-"), "\(aside)")
                #expect(try await lab.exec("node1", ["systemctl", "is-enabled", "corosync"]).exitCode != 0)

                // The rest: the same three, quorate, corosync untouched, the VIP on one of them.
                #expect(try await Join.waitForCluster(lab, rest))
                var confs: Set<String> = []
                for node in rest {
                    #expect(try lab.corosyncPID(on: node) == pids[node] && pids[node] != nil, "corosync of \(node) restarted")
                    confs.insert(try await Init.text(lab, node, "/etc/corosync/corosync.conf"))
                }
                let restConf = try CorosyncConf(parsing: confs.first ?? "")
                #expect(confs.count == 1 && restConf.nodes.map(\.name) == rest)
                let holder = await watcher.waitForSingleHolder(of: cluster.vip.name, among: Set(rest), stable: .seconds(1), timeout: .seconds(30))
                #expect(holder != nil)
                await prober.stop()
                let client = prober.report(since: start)
                let safety = watcher.report(since: start)
                print("[remove-force] client: \(client)\n[remove-force] watcher: \(safety)")
                #expect(safety.dualHolderSamples.isEmpty && safety.eventOverlaps.isEmpty && safety.heldWithoutQuorum.isEmpty, "\(safety)")
            }
        }
    
        /// `sfha propagate` repairs a corosync.conf broken by hand on one node (node1's entry deleted from node3's file):
        /// the dry run says so and changes nothing, the run rewrites it and reloads (corosync never restarted), and a
        /// second run has nothing to do.
        @Test func propagateRepairsAHandBrokenCorosyncConf() async throws {
            try await Init.withBareLab("lt-propag", nodes: 3) { lab in
                let cluster = try LabDaemonCluster(lab: lab)
                try await cluster.found()
                _ = try await cluster.join("node2", issuer: "node1")
                _ = try await cluster.join("node3", issuer: "node2")
                let all = ["node1", "node2", "node3"]
                #expect(try await Join.waitForCluster(lab, all))
                var pids: [String: Int32] = [:]
                for node in all { pids[node] = try lab.corosyncPID(on: node) }
                let good = try await Init.text(lab, "node3", "/etc/corosync/corosync.conf")
                var broken = try CorosyncConf(parsing: good)
                _ = try broken.reconcileNodelist(broken.nodes.filter { $0.name != "node1" }.map {
                    CorosyncConf.WantedNode(name: $0.name, nodeID: $0.nodeID, addresses: $0.addresses)
                })
                try await lab.check("node3", ["sh", "-c", "cat > /etc/corosync/corosync.conf"], input: Array(broken.render().utf8))
                let brokenHash = try await lab.check("node3", ["sha256sum", "/etc/corosync/corosync.conf"]).standardOutput

                func propagate(_ extra: [String]) async throws -> PropagateAnswer {
                    let result = try await lab.exec("node1", ["sfha", "propagate", "--json"] + extra, timeout: .seconds(60))
                    try #require(result.succeeded, "sfha propagate \(extra): \(result.standardError)")
                    return try JSONDecoder().decode(PropagateAnswer.self, from: Data(result.standardOutput.utf8))
                }
                let dry = try await propagate(["--dry-run"])
                let dryNode3 = try #require(dry.nodes.first { $0.node == "node3" })
                #expect(dryNode3.nodelistBefore == ["node2", "node3"] && dryNode3.nodelistAfter == all && dryNode3.corosync == "reloaded", "\(dryNode3)")
                let othersUntouched = dry.nodes.filter { $0.node != "node3" }.allSatisfy { $0.nothingToDo }
                #expect(othersUntouched, "\(dry.nodes)")
                #expect(try await lab.check("node3", ["sha256sum", "/etc/corosync/corosync.conf"]).standardOutput == brokenHash, "the dry run changed node3's file")

                let run = try await propagate([])
                print("[propagate] \(run.nodes)")
                let node3 = try #require(run.nodes.first { $0.node == "node3" })
                #expect(node3.nodelistAfter == all && node3.corosync == "reloaded" && node3.error == nil, "\(node3)")
                #expect(try await Init.text(lab, "node3", "/etc/corosync/corosync.conf") == good)
                for node in all {
                    let pid = try lab.corosyncPID(on: node)
                    #expect(pid == pids[node] && pid != nil, "corosync of \(node) restarted")
                }
                #expect(try await Join.waitForCluster(lab, all))

                let again = try await propagate([])
                let nothingLeft = again.nodes.count == 3 && again.nodes.allSatisfy { $0.nothingToDo }
                #expect(nothingLeft, "\(again.nodes)")
                let text = try await lab.check("node2", ["sfha", "propagate"]).standardOutput
                #expect(text.contains("node1: nothing to do") && text.contains("node3: nothing to do"), "\(text)")
            }
        }

        /// `sfha leave` on node4: node1 (the first other member online) runs its removal; node4 then stops corosync,
        /// its mesh and sfhad and moves its files aside; the holder's VIP never moves.
        @Test func aNodeLeaves() async throws {
            try await Init.withBareLab("lt-leave", nodes: 4) { lab in
                let (cluster, watcher) = try await Self.fourNodes(lab)
                defer { watcher.stop() }
                let rest = ["node1", "node2", "node3"]
                #expect(try await Join.waitForCluster(lab, rest + ["node4"]))
                #expect(await watcher.waitForSingleHolder(of: cluster.vip.name, stable: .seconds(1), timeout: .seconds(30)) == "node1")
                var pids: [String: Int32] = [:]
                for node in rest { pids[node] = try lab.corosyncPID(on: node) }
                let prober = try await LabHTTPProber.start(lab: lab, url: cluster.serviceURL)
                #expect(await prober.waitForAnswer(from: "node1", after: LabClock.now(), timeout: .seconds(15)) != nil)
                let start = LabClock.now()

                let before = try await Self.fileHashes(lab, "node4")
                let dry = try await lab.exec("node4", ["sfha", "leave", "--dry-run"])
                #expect(dry.succeeded && dry.standardOutput.contains("node1 runs the removal of node4"), "\(dry.standardOutput)\(dry.standardError)")
                // Its diffs: every other member's corosync.conf loses node4.
                for node in rest {
                    #expect(dry.standardOutput.contains("\(node): /etc/corosync/corosync.conf"), "\(dry.standardOutput)")
                }
                #expect(dry.standardOutput.contains("-\t\tname: node4"), "\(dry.standardOutput)")
                #expect(try await Self.fileHashes(lab, "node4") == before)

                let run = try await lab.exec("node4", ["sfha", "leave", "--yes"], timeout: .seconds(120))
                print("[leave] \(run.standardOutput)")
                #expect(run.succeeded && run.standardOutput.contains("✓ node4 left the cluster"), "\(run.standardError)")
                #expect(try await LabTestSupport.eventually(timeout: .seconds(30)) {
                    guard try lab.corosyncPID(on: "node4") == nil else { return false }
                    return try await lab.exec("node4", ["systemctl", "is-active", "sfhad"]).standardOutput.contains("inactive")
                }, "corosync and sfhad stopped on node4")
                #expect(try await lab.exec("node4", ["ip", "link", "show", "dev", "wg-sfha"]).exitCode != 0, "node4's mesh is down")
                let aside = try await lab.check("node4", ["sh", "-c", "ls /etc/corosync /var/lib/sfha /etc/wireguard"]).standardOutput
                #expect(aside.contains("corosync.conf.removed-") && !aside.contains("corosync.conf\n"), "\(aside)")

                #expect(try await Join.waitForCluster(lab, rest))
                var confs: Set<String> = []
                for node in rest {
                    let pid = try lab.corosyncPID(on: node)
                    #expect(pid == pids[node] && pid != nil, "corosync of \(node) restarted")
                    confs.insert(try await Init.text(lab, node, "/etc/corosync/corosync.conf"))
                    let record = try JSONDecoder().decode(MembershipDocument.self, from: Data(try await Init.text(lab, node, "/var/lib/sfha/membership.json").utf8)).record
                    #expect(record.members.map(\.name) == rest && record.tombstones.map(\.name) == ["node4"])
                }
                let restConf = try CorosyncConf(parsing: confs.first ?? "")
                #expect(confs.count == 1 && restConf.nodes.map(\.name) == rest)
                await prober.stop()
                let client = prober.report(since: start)
                let safety = watcher.report(since: start)
                print("[leave] client: \(client)\n[leave] watcher: \(safety)")
                #expect(client.answeredBy == ["node1"] && watcher.report(since: start).vipChanges.filter { !$0.present }.isEmpty, "\(client)")
                #expect(safety.dualHolderSamples.isEmpty && safety.heldWithoutQuorum.isEmpty, "\(safety)")
            }
        }

        /// A removal (node5, online in standby: told to leave) while another member (node3) is down: node3 is not asked
        /// (the plan names it), catches up from the record when it returns (corosync.conf rewritten, one reload,
        /// peers) and ends identical. Then 4 → 3 → 2 members: `two_node` set on the last two; and 2 → 1 with the other
        /// node down (`--force`): `two_node` cleared, the last node quorate alone; and that last member leaves with
        /// `sfha leave --force` (local clean-up: nobody else to run it).
        @Test func aMemberDownDuringARemovalCatchesUpAndFourToOneKeepsTwoNodeRight() async throws {
            try await Init.withBareLab("lt-rmdown", nodes: 5) { lab in
                let (cluster, watcher) = try await Self.fourNodes(lab, count: 5)
                defer { watcher.stop() }
                let rest = ["node1", "node2", "node3", "node4"]
                #expect(try await Join.waitForCluster(lab, rest + ["node5"]))
                try await lab.check("node3", ["systemctl", "stop", "sfhad"])
                try await lab.check("node3", ["systemctl", "stop", "corosync"])
                #expect(try await Join.waitForCluster(lab, ["node1", "node2", "node4", "node5"]))
                try await lab.check("node1", ["sfha", "standby", "node5"])
                let run = try await lab.exec("node1", ["sfha", "node", "remove", "node5", "--yes", "--json"], timeout: .seconds(120))
                try #require(run.succeeded, "\(run.standardError)")
                let answer = try JSONDecoder().decode(NodeRemoveAnswer.self, from: Data(run.standardOutput.utf8))
                #expect(answer.plan.offlineMembers == ["node3"] && answer.plan.votesOnlineAfter == 3 && answer.plan.quorumAfter == 3)
                #expect(answer.plan.steps.contains { $0.node == "node3" && $0.action.contains("catches up") } && answer.warnings.isEmpty, "\(answer.warnings)")

                // node3 returns with the old nodelist and catches up.
                try await lab.check("node3", ["systemctl", "start", "corosync"])
                try await lab.check("node3", ["systemctl", "start", "sfhad"])
                #expect(try await Join.waitForCluster(lab, rest), "node3 caught up")
                var confs: Set<String> = []
                var records: Set<String> = []
                for node in rest {
                    #expect(try await LabTestSupport.eventually(timeout: .seconds(30)) {
                        try CorosyncConf(parsing: try await Init.text(lab, node, "/etc/corosync/corosync.conf")).nodes.map(\.name) == rest
                    }, "\(node)'s corosync.conf")
                    confs.insert(try await Init.text(lab, node, "/etc/corosync/corosync.conf"))
                    #expect(try await LabTestSupport.eventually(timeout: .seconds(30)) {
                        try JSONDecoder().decode(MembershipDocument.self, from: Data(try await Init.text(lab, node, "/var/lib/sfha/membership.json").utf8)).record.member(named: "node5") == nil
                    }, "\(node)'s membership record")
                    let document = try JSONDecoder().decode(MembershipDocument.self, from: Data(try await Init.text(lab, node, "/var/lib/sfha/membership.json").utf8))
                    records.insert("\(document.revision) \(document.contentHash)")
                    let quorum = try await lab.check(node, ["corosync-quorumtool", "-s"]).standardOutput
                    #expect(quorum.contains("Nodes:            4") && quorum.contains("Quorate:          Yes"), "\(node): \(quorum)")
                }
                #expect(confs.count == 1 && records.count == 1, "\(records)")

                // 4 → 3 → 2 (each removed node online, in standby, told to leave); the last two get two_node.
                for node in ["node4", "node3"] {
                    try await lab.check("node1", ["sfha", "standby", node])
                    let result = try await lab.exec("node1", ["sfha", "node", "remove", node, "--yes"], timeout: .seconds(120))
                    try #require(result.succeeded, "remove \(node): \(result.standardError)")
                }
                #expect(try await Join.waitForCluster(lab, ["node1", "node2"]))
                for node in ["node1", "node2"] {
                    let conf = try CorosyncConf(parsing: try await Init.text(lab, node, "/etc/corosync/corosync.conf"))
                    #expect(conf.nodes.map(\.name) == ["node1", "node2"] && conf.values(at: "quorum.two_node") == ["1"], "\(node)")
                    let quorum = try await lab.check(node, ["corosync-quorumtool", "-s"]).standardOutput
                    #expect(quorum.contains("2Node") && quorum.contains("Quorate:          Yes"), "\(node): \(quorum)")
                }

                // 2 → 1: node2 goes down for good; removing it needs --force (from node1 a dead node and one cut off
                // look the same), then node1 is a cluster of one: no two_node, quorate, corosync never restarted.
                let node1PID = try lab.corosyncPID(on: "node1")
                try await lab.check("node2", ["systemctl", "stop", "sfhad"])
                try await lab.check("node2", ["systemctl", "stop", "corosync"])
                #expect(try await Join.waitForCluster(lab, ["node1"]))
                let unforced = try await lab.exec("node1", ["sfha", "node", "remove", "node2", "--yes"])
                #expect(!unforced.succeeded && unforced.standardError.contains("--force") && unforced.standardError.contains("one of two"), "\(unforced.standardError)")
                let forced = try await lab.exec("node1", ["sfha", "node", "remove", "node2", "--force", "--yes"], timeout: .seconds(60))
                print("[rmdown] 2 → 1: \(forced.standardOutput)")
                try #require(forced.succeeded, "remove node2 --force: \(forced.standardError)")
                let alone = try CorosyncConf(parsing: try await Init.text(lab, "node1", "/etc/corosync/corosync.conf"))
                #expect(alone.nodes.map(\.name) == ["node1"] && alone.values(at: "quorum.two_node").isEmpty)
                #expect(try await LabTestSupport.eventually(timeout: .seconds(10)) {
                    let quorum = try await lab.check("node1", ["corosync-quorumtool", "-s"]).standardOutput
                    return !quorum.contains("2Node") && quorum.contains("Quorate:          Yes")
                })
                #expect(try lab.corosyncPID(on: "node1") == node1PID && node1PID != nil)
                #expect(try await Join.waitForCluster(lab, ["node1"]))
                #expect(await watcher.waitForSingleHolder(of: cluster.vip.name, among: ["node1"], stable: .seconds(1), timeout: .seconds(30)) == "node1")
                let safety = watcher.report()
                #expect(safety.dualHolderSamples.isEmpty && safety.heldWithoutQuorum.isEmpty, "\(safety)")

                // The last member leaves: refused without --force; with it, this node alone is cleaned up.
                let refused = try await lab.exec("node1", ["sfha", "leave", "--yes"])
                #expect(!refused.succeeded && refused.standardError.contains("last member") && refused.standardError.contains("--force"), "\(refused.standardError)")
                #expect(try lab.corosyncPID(on: "node1") == node1PID)
                let last = try await lab.exec("node1", ["sfha", "leave", "--force", "--yes"], timeout: .seconds(60))
                #expect(last.succeeded && last.standardOutput.contains("last member"), "\(last.standardOutput)\(last.standardError)")
                #expect(try await LabTestSupport.eventually(timeout: .seconds(30)) { try lab.corosyncPID(on: "node1") == nil }, "corosync still runs on node1")
                #expect(try await lab.exec("node1", ["ip", "link", "show", "dev", "wg-sfha"]).exitCode != 0, "node1's mesh is up")
                let aside = try await lab.check("node1", ["sh", "-c", "ls /etc/corosync /var/lib/sfha"]).standardOutput
                #expect(aside.contains("corosync.conf.removed-") && aside.contains("membership.json.removed-"), "\(aside)")
            }
        }

        /// node1–node3 by init and join.
        static func threeNodes(_ lab: Lab) async throws -> LabDaemonCluster {
            let cluster = try LabDaemonCluster(lab: lab)
            try await cluster.found()
            _ = try await cluster.join("node2", issuer: "node1")
            _ = try await cluster.join("node3", issuer: "node2")
            #expect(try await Join.waitForCluster(lab, ["node1", "node2", "node3"]))
            return cluster
        }

        /// `node`'s sfhad restarted with `SFHA_FAILPOINTS` set to `failpoints` (none: unset).
        static func restartSfhad(_ lab: Lab, _ node: String, failpoints: Failpoint...) async throws {
            let directory = try #require(try lab.node(node).stateDirectory)
            var unit = try String(contentsOfFile: "\(directory)/units/sfhad.unit", encoding: .utf8)
                .split(separator: "\n").filter { !$0.hasPrefix("Environment=\(Failpoint.environmentVariable)=") }.joined(separator: "\n") + "\n"
            if !failpoints.isEmpty { unit += "Environment=\(Failpoint.environmentVariable)=\(failpoints.map(\.rawValue).joined(separator: ","))\n" }
            try lab.installUnit(on: node, name: "sfhad", contents: unit)
            try await lab.check(node, ["systemctl", "restart", "sfhad"])
        }

        /// How many reloads corosync on `node` logged (its notice on every member, whoever asked).
        static func reloadsLogged(_ lab: Lab, _ node: String) async throws -> Int {
            let log = try await lab.exec(node, ["sh", "-c", "cat /var/log/corosync/corosync*.log"]).standardOutput
            return log.components(separatedBy: "Config reload requested").count - 1
        }

        /// The founding document's second table: standby, failover, VIP, service and maintenance changes and a failover after an
        /// isolation go through sfhad alone — corosync is never restarted, never reloaded, its file never rewritten.
        /// (A reload by hand at the end shows the count does see one.)
        @Test func dailyOperationsNeverTouchCorosync() async throws {
            try await Init.withBareLab("lt-nocoro", nodes: 3) { lab in
                let cluster = try await Self.threeNodes(lab)
                let watcher = try await LabWatcher.start(lab: lab, vips: [cluster.vip])
                defer { watcher.stop() }
                let all = ["node1", "node2", "node3"]
                #expect(await watcher.waitForSingleHolder(of: cluster.vip.name, stable: .seconds(1), timeout: .seconds(30)) != nil)
                var pids: [String: Int32] = [:]
                var confs: [String: String] = [:]
                var reloads: [String: Int] = [:]
                for node in all {
                    pids[node] = try lab.corosyncPID(on: node)
                    confs[node] = try await lab.check(node, ["sha256sum", "/etc/corosync/corosync.conf"]).standardOutput
                    reloads[node] = try await Self.reloadsLogged(lab, node)
                }
                let start = LabClock.now()
                func sfha(_ arguments: [String]) async throws {
                    let result = try await lab.exec("node2", ["sfha"] + arguments)
                    #expect(result.succeeded, "sfha \(arguments): \(result.standardError)")
                }
                try await sfha(["standby", "node1"])
                #expect(await watcher.waitForSingleHolder(of: cluster.vip.name, among: ["node2", "node3"], stable: .seconds(1), timeout: .seconds(30)) != nil)
                try await sfha(["unstandby", "node1"])
                try await sfha(["failover", "--to", "node3", "--yes"])
                #expect(await watcher.waitForSingleHolder(of: cluster.vip.name, among: ["node3"], stable: .seconds(1), timeout: .seconds(30)) == "node3")
                let extra = try lab.spec.resolvedSubnet().address(host: 101)
                try await sfha(["vip", "add", "vip-extra", "\(extra)/24"])
                try await sfha(["vip", "remove", "vip-extra", "--yes"])
                try await sfha(["maintenance", "on"])
                try await sfha(["maintenance", "off"])
                for node in all {
                    try lab.installUnit(on: node, name: "sfha-extra", contents: "Description=an extra service\nType=simple\nExecStart=sleep 100000\n")
                }
                try await sfha(["service", "add", "extra", "sfha-extra"])
                try await sfha(["service", "remove", "extra", "--yes"])
                // A failover for real: the holder cut off, then back.
                try await lab.isolate("node3")
                #expect(await watcher.waitForSingleHolder(of: cluster.vip.name, among: ["node1", "node2"], stable: .seconds(1), timeout: .seconds(60)) != nil)
                try await lab.rejoin("node3")
                #expect(try await Join.waitForCluster(lab, all))
                for node in all {
                    #expect(try lab.corosyncPID(on: node) == pids[node] && pids[node] != nil, "corosync of \(node) restarted")
                    #expect(try await lab.check(node, ["sha256sum", "/etc/corosync/corosync.conf"]).standardOutput == confs[node], "corosync.conf of \(node) rewritten")
                    #expect(try await Self.reloadsLogged(lab, node) == reloads[node], "corosync of \(node) reloaded")
                }
                let safety = watcher.report(since: start)
                #expect(safety.dualHolderSamples.isEmpty && safety.eventOverlaps.isEmpty && safety.heldWithoutQuorum.isEmpty, "\(safety)")
                // The count sees a reload: one asked by hand is logged by the node that asked it (the others log it too
                // once they process it).
                try await lab.check("node1", ["corosync-cfgtool", "-R"])
                var seen: [String: Int] = [:]
                #expect(try await LabTestSupport.eventually(timeout: .seconds(20)) {
                    for node in all { seen[node] = try await Self.reloadsLogged(lab, node) }
                    return (seen["node1"] ?? 0) > (reloads["node1"] ?? 0)
                }, "corosync's log does not show reloads: this test could not see one (before \(reloads), after \(seen))")
            }
        }

        /// A removal whose coordinator (node2) is killed mid-way is completed. Killed once every member prepared
        /// (nothing committed): the re-run goes through at once, its newer prepare replacing the one left on node1.
        /// Killed after the commit, before its reload (record and files without the node, corosync still listing it):
        /// the dry run says so, and `sfha propagate` reloads; a second run has nothing to do. corosync never restarted.
        /// Last, node2 of the remaining two leaves (`sfha leave`).
        @Test func anInterruptedRemovalIsCompletedByARerunOrPropagate() async throws {
            try await Init.withBareLab("lt-rmkill", nodes: 4) { lab in
                let cluster = try await Self.threeNodes(lab)
                let rest = ["node1", "node2"]
                var pids: [String: Int32] = [:]
                for node in rest { pids[node] = try lab.corosyncPID(on: node) }
                func record(_ node: String) async throws -> MembershipRecord {
                    try JSONDecoder().decode(MembershipDocument.self, from: Data(try await Init.text(lab, node, "/var/lib/sfha/membership.json").utf8)).record
                }
                func runtimeNodelist(_ node: String) async throws -> String {
                    try await lab.check(node, ["corosync-cmapctl", "-b", "nodelist.node"]).standardOutput
                }
                func sfhadStopped(_ node: String) async throws -> Bool {
                    try await LabTestSupport.eventually(timeout: .seconds(20)) {
                        LabTestSupport.trimmed(try await lab.exec(node, ["systemctl", "is-active", "sfhad"]).standardOutput) != "active"
                    }
                }
                func stop(_ node: String) async throws {
                    try await lab.check(node, ["systemctl", "stop", "sfhad"])
                    try await lab.check(node, ["systemctl", "stop", "corosync"])
                    #expect(try await Join.waitForCluster(lab, rest))
                }

                // 1. node3 offline; the removal killed once every member prepared: nothing committed, node1's file
                // left prepared. The re-run (node2's sfhad back) goes through at once.
                try await stop("node3")
                try await Self.restartSfhad(lab, "node2", failpoints: .removalAfterPrepare)
                #expect(try await Join.waitForCluster(lab, rest))
                let killed = try await lab.exec("node2", ["sfha", "node", "remove", "node3", "--yes"], timeout: .seconds(60))
                #expect(!killed.succeeded, "\(killed.standardOutput)")
                #expect(try await sfhadStopped("node2"))
                #expect(try await record("node1").member(named: "node3") != nil, "committed although killed before the commit")
                #expect(try CorosyncConf(parsing: try await Init.text(lab, "node1", "/etc/corosync/corosync.conf")).nodes.map(\.name) == rest)
                try await Self.restartSfhad(lab, "node2")
                #expect(try await Join.waitForCluster(lab, rest))
                let rerun = try await lab.exec("node2", ["sfha", "node", "remove", "node3", "--yes", "--json"], timeout: .seconds(60))
                try #require(rerun.succeeded, "the re-run: \(rerun.standardError)")
                let completed = try JSONDecoder().decode(NodeRemoveAnswer.self, from: Data(rerun.standardOutput.utf8))
                #expect(completed.revision != nil && completed.warnings.isEmpty && completed.corosyncNodelist == rest, "\(completed)")

                // 2. node4 joins, goes offline, and its removal is killed after the commit, before the reload.
                _ = try await cluster.join("node4", issuer: "node1")
                #expect(try await Join.waitForCluster(lab, rest + ["node4"]))
                // 2 → 3: two_node cleared everywhere (votequorum too).
                for node in rest + ["node4"] {
                    #expect(try CorosyncConf(parsing: try await Init.text(lab, node, "/etc/corosync/corosync.conf")).values(at: "quorum.two_node").isEmpty, "\(node)")
                    #expect(try await LabTestSupport.eventually(timeout: .seconds(10)) {
                        !(try await lab.check(node, ["corosync-quorumtool", "-s"]).standardOutput.contains("2Node"))
                    }, "\(node) still has votequorum's 2Node flag")
                }
                try await stop("node4")
                try await Self.restartSfhad(lab, "node2", failpoints: .removalAfterCommit)
                #expect(try await Join.waitForCluster(lab, rest))
                let second = try await lab.exec("node2", ["sfha", "node", "remove", "node4", "--yes"], timeout: .seconds(60))
                #expect(!second.succeeded, "\(second.standardOutput)\(second.standardError)")
                #expect(try await sfhadStopped("node2"))
                #expect(try await LabTestSupport.eventually(timeout: .seconds(10)) { try await record("node1").member(named: "node4") == nil })
                for node in rest {
                    #expect(try CorosyncConf(parsing: try await Init.text(lab, node, "/etc/corosync/corosync.conf")).nodes.map(\.name) == rest)
                    #expect(try await runtimeNodelist(node).contains("node4"), "corosync of \(node) reloaded although the coordinator was killed before")
                }

                // 3. From node1 (node2's sfhad still down): the dry run says what is left; propagate completes it.
                let dry = try await lab.exec("node1", ["sfha", "node", "remove", "node4", "--dry-run"])
                #expect(dry.succeeded && dry.standardOutput.contains("interrupted"), "\(dry.standardOutput)\(dry.standardError)")
                let propagate = try await lab.exec("node1", ["sfha", "propagate", "--json"], timeout: .seconds(60))
                try #require(propagate.succeeded, "\(propagate.standardError)")
                let answer = try JSONDecoder().decode(PropagateAnswer.self, from: Data(propagate.standardOutput.utf8))
                print("[rmkill] propagate: \(answer.nodes)")
                #expect(answer.nodes.contains { $0.node == "node1" && $0.runtimeNodelistBefore?.contains("node4") == true && $0.corosync == "reloaded" }, "\(answer.nodes)")
                #expect(answer.nodes.contains { $0.node == "node2" && $0.error != nil }, "node2's sfhad is down: \(answer.nodes)")
                for node in rest {
                    #expect(try await LabTestSupport.eventually(timeout: .seconds(10)) { try await !runtimeNodelist(node).contains("node4") }, "\(node)")
                }
                try await Self.restartSfhad(lab, "node2")
                #expect(try await Join.waitForCluster(lab, rest))
                let again = try await lab.exec("node1", ["sfha", "propagate", "--json"], timeout: .seconds(60))
                let secondAnswer = try JSONDecoder().decode(PropagateAnswer.self, from: Data(again.standardOutput.utf8))
                let settled = secondAnswer.nodes.filter { rest.contains($0.node) }.allSatisfy { $0.nothingToDo }
                #expect(settled, "\(secondAnswer.nodes)")
                let finished = try await lab.exec("node2", ["sfha", "node", "remove", "node4", "--yes"])
                #expect(finished.succeeded && finished.standardOutput.contains("already removed"), "\(finished.standardOutput)\(finished.standardError)")
                for node in rest {
                    #expect(try lab.corosyncPID(on: node) == pids[node] && pids[node] != nil, "corosync of \(node) restarted")
                    #expect(try CorosyncConf(parsing: try await Init.text(lab, node, "/etc/corosync/corosync.conf")).values(at: "quorum.two_node") == ["1"])
                    #expect(try await record(node).tombstones.map(\.name) == ["node3", "node4"])
                }

                // And 2 → 1 by `sfha leave` on node2 (online: no --force needed): node1 runs its removal, alone after.
                let leave = try await lab.exec("node2", ["sfha", "leave", "--yes"], timeout: .seconds(120))
                #expect(leave.succeeded && leave.standardOutput.contains("✓ node2 left the cluster"), "\(leave.standardOutput)\(leave.standardError)")
                #expect(try CorosyncConf(parsing: try await Init.text(lab, "node1", "/etc/corosync/corosync.conf")).nodes.map(\.name) == ["node1"])
                #expect(try await Join.waitForCluster(lab, ["node1"]))
                #expect(try lab.corosyncPID(on: "node1") == pids["node1"])
            }
        }
    }
}
