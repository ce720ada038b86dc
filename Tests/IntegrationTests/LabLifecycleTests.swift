import Foundation
import SFHABase
import SFHALab
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension LabTests {
    @Suite(.timeLimit(.minutes(10))) struct Lifecycle {
        @Test func threeNodeLabComesUpQuorateAndRecordsItsState() async throws {
            let authKey = (0..<128).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            var spawnedPID: Int32 = 0
            try await LabTestSupport.withLab("lt-life", authKey: authKey) { lab in
                // Every node is quorate with all three members, as corosync itself reports it.
                for node in lab.nodes {
                    let result = try await lab.exec(node.name, ["corosync-quorumtool", "-s"])
                    #expect(result.exitCode == 0, "\(node.name): \(result.standardOutput)")
                    let status = try await lab.quorum(on: node.name)
                    #expect(status.quorate && status.members == 3, "\(node.name): \(status)")
                }

                // lab.json describes the lab, and any process can load it.
                let data = try #require(FileManager.default.contents(atPath: "/run/sfha-lab/lt-life/lab.json"))
                let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
                let nodes = try #require(json["nodes"] as? [[String: Any]])
                #expect(nodes.map { $0["name"] as? String } == ["node1", "node2", "node3"])
                let subnet = try #require(json["subnet"] as? String)
                let prefix = String(subnet.dropLast("0/24".count))
                #expect(nodes.map { $0["address"] as? String } == ["\(prefix)11", "\(prefix)12", "\(prefix)13"])
                #expect(nodes.map { $0["networkNamespace"] as? String } == ["lt-life-node1", "lt-life-node2", "lt-life-node3"])
                let client = try #require(json["clientHost"] as? [String: Any])
                #expect(client["address"] as? String == "\(prefix)250")
                let pids = try #require(json["corosyncPIDs"] as? [String: Int])
                #expect(pids.keys.sorted() == ["node1", "node2", "node3"])
                for (node, pid) in pids {
                    let name = try String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)
                    #expect(LabTestSupport.trimmed(name) == "corosync", "\(node) pid \(pid)")
                }
                let loaded = try Lab.load("lt-life")
                #expect(loaded.nodes == lab.nodes)
                #expect(Lab.list().contains("lt-life"))
                for namespace in ["lt-life-node1", "lt-life-node2", "lt-life-node3", "lt-life-client"] {
                    #expect(FileManager.default.fileExists(atPath: "/run/netns/\(namespace)"))
                }

                // exec passes exit codes and output through.
                #expect(try await lab.exec("node1", ["true"]).exitCode == 0)
                #expect(try await lab.exec("node1", ["false"]).exitCode == 1)
                let missing = try await lab.exec("node2", ["ls", "/nonexistent-sfha-lab-path"])
                #expect(missing.exitCode == 2)
                #expect(missing.standardError.contains("nonexistent-sfha-lab-path"))
                #expect(LabTestSupport.trimmed(try await lab.exec("node2", ["hostname"]).standardOutput) == "node2")
                let address = try await lab.exec("node3", ["ip", "-o", "-4", "addr", "show", "eth0"])
                #expect(address.standardOutput.contains("\(prefix)13/24"))
                let echoed = try await lab.exec("client", ["cat"], input: Array("from stdin".utf8))
                #expect(echoed.standardOutput == "from stdin")

                // The node's private mounts: its own corosync.conf and authkey, a tmpfs on /run with /run/sfha.
                let config = try await lab.exec("node1", ["cat", "/etc/corosync/corosync.conf"])
                #expect(try config.standardOutput == Lab.corosyncConfiguration(spec: lab.spec, nodes: lab.nodes))
                let keyMode = try await lab.exec("node1", ["stat", "-c", "%a", "/etc/corosync/authkey"])
                #expect(LabTestSupport.trimmed(keyMode.standardOutput) == "400")
                let keyBytes = FileManager.default.contents(atPath: "/run/sfha-lab/lt-life/node1/etc-corosync/authkey")
                #expect(keyBytes.map(Array.init) == authKey)
                let runType = try await lab.exec("node2", ["findmnt", "-n", "-o", "FSTYPE", "/run"])
                #expect(LabTestSupport.trimmed(runType.standardOutput) == "tmpfs")
                #expect(try await lab.exec("node2", ["test", "-d", "/run/sfha"]).exitCode == 0)
                // The host's /run (which holds /run/netns right now) is not visible in the node.
                #expect(FileManager.default.fileExists(atPath: "/run/netns"))
                #expect(try await lab.exec("node2", ["test", "-e", "/run/netns"]).exitCode == 1)
                for target in ["/etc/sfha", "/var/lib/sfha", "/etc/wireguard", "/var/lib/corosync", "/var/log/corosync"] {
                    let source = try await lab.exec("node3", ["findmnt", "-n", "-o", "SOURCE", target])
                    #expect(source.standardOutput.contains("/run/sfha-lab/lt-life/node3/"), "\(target): \(source.standardOutput)")
                }

                // The lab environment: its bin dir first on PATH, wireguard-go allowed.
                let path = try await lab.exec("node1", ["printenv", "PATH"])
                #expect(path.standardOutput.hasPrefix("/run/sfha-lab/lt-life/bin:"))
                let wireguardFlag = try await lab.exec("node1", ["printenv", "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD"])
                #expect(LabTestSupport.trimmed(wireguardFlag.standardOutput) == "1")

                // Unknown hosts are refused before anything runs.
                await #expect(throws: SFHAError.self) { _ = try await lab.exec("node9", ["true"]) }

                // Up of a lab that exists fails and leaves the running lab alone.
                let again = await #expect(throws: SFHAError.self) {
                    _ = try await Lab.up(lab.spec, corosyncConf: Lab.corosyncConfiguration)
                }
                #expect(again?.code == .exists)
                #expect(try await lab.quorum(on: "node1").quorate)

                // A spawned long-running process is recorded and found in the node; down kills it.
                spawnedPID = try await lab.spawn("node2", ["sleep", "600"], logTo: "/run/sfha-lab/lt-life/node2/logs/sleep.log")
                // nsenter → env → close-inherited-fds → sleep: the same pid becomes "sleep" once the execs are done.
                let pid = spawnedPID
                #expect(try await LabTestSupport.eventually(timeout: .seconds(5)) {
                    try lab.processes(on: "node2").contains { $0.pid == pid && $0.name == "sleep" }
                })
                #expect(try lab.reload().state.spawned.map(\.pid) == [spawnedPID])
            }
            #expect(spawnedPID > 0)
            let stat = try? String(contentsOfFile: "/proc/\(spawnedPID)/stat", encoding: .utf8)
            #expect(stat == nil || stat?.contains(") Z") == true, "spawned sleep survived down")
        }

        @Test func wireguardGoCreatesAndDeletesAnInterfaceInANode() async throws {
            try await LabTestSupport.withLab("lt-wg", nodes: 1) { lab in
                #expect(try await lab.exec("node1", ["test", "-c", "/dev/net/tun"]).exitCode == 0)
                // wireguard-go daemonizes; exec still returns because inherited descriptors are closed.
                let start = try await lab.exec("node1", ["wireguard-go", "wg0"], timeout: .seconds(20))
                #expect(start.exitCode == 0, "\(start.standardError)")
                let show = try await lab.exec("node1", ["wg", "show", "wg0"])
                #expect(show.exitCode == 0 && show.standardOutput.contains("interface: wg0"))
                // The interface exists only in the node.
                #expect(!FileManager.default.fileExists(atPath: "/sys/class/net/wg0"))
                #expect(try await lab.exec("node1", ["ip", "link", "delete", "wg0"]).exitCode == 0)
                let gone = try await LabTestSupport.eventually(timeout: .seconds(10)) {
                    try !lab.processes(on: "node1").contains { $0.name == "wireguard-go" }
                }
                #expect(gone, "wireguard-go still runs after its interface was deleted")
                #expect(try await lab.exec("node1", ["ip", "link", "show", "wg0"]).exitCode != 0)
            }
        }

        /// Docs/Lab.md's examples run `sfha` and `sfhad` by name inside a node, and the node's `sfhad` unit starts as
        /// it comes: the built products are on the node's PATH and `up` leaves a minimal config.yml.
        @Test func aNodeRunsTheBuiltSfhadFromItsDefaultUnitWithSfhaOnItsPath() async throws {
            try await LabTestSupport.withLab("lt-path", nodes: 1) { lab in
                for product in ["sfha", "sfhad", "sfha-lab"] {
                    // The name resolves on the node's PATH to the binary built next to this test.
                    let found = try await lab.exec("node1", ["sh", "-c", "readlink -f \"$(command -v \"$1\")\"", "sh", product])
                    #expect(
                        LabTestSupport.trimmed(found.standardOutput) == Lab.builtProduct(product),
                        "\(product): \(found.standardOutput)\(found.standardError)")
                }
                let started = try await lab.exec("node1", ["systemctl", "start", "sfhad"])
                #expect(started.exitCode == 0, "\(started.standardError)")
                let pid = try #require(try lab.processes(on: "node1").first { $0.name == "sfhad" }?.pid)
                let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
                #expect(executable == Lab.builtProduct("sfhad"))
                // Docs/Lab.md's command, word for word (sfhad answers once it has met corosync).
                var status = ProgramResult(exitCode: -1)
                let answered = try await LabTestSupport.eventually(timeout: .seconds(20)) {
                    status = try await LabTestSupport.labCLI(["exec", "--name", "lt-path", "node1", "--", "sfha", "status"])
                    return status.exitCode == 0
                }
                #expect(answered, "sfha status: \(status.exitCode) \(status.standardOutput)\(status.standardError)")
                #expect(status.standardOutput.contains("node1"), "\(status.standardOutput)")
                #expect(try await lab.exec("node1", ["systemctl", "stop", "sfhad"]).exitCode == 0)
            }
        }

        /// `--name` after the host used to be swallowed into the command, which then ran in the default lab.
        @Test func execParsesTheLabNameAnywhereBeforeTheCommandAndRefusesACommandWithoutDashes() async throws {
            try await LabTestSupport.withLab("lt-exec", nodes: 1) { lab in
                for arguments in [
                    ["exec", "node1", "--name", "lt-exec", "--", "printenv", "SFHA_LAB"],
                    ["exec", "--name", "lt-exec", "node1", "--", "printenv", "SFHA_LAB"],
                    ["exec", "node1", "--name=lt-exec", "--", "printenv", "SFHA_LAB"],
                ] {
                    let result = try await LabTestSupport.labCLI(arguments)
                    #expect(result.exitCode == 0, "\(arguments): \(result.standardError)")
                    #expect(LabTestSupport.trimmed(result.standardOutput) == "lt-exec", "\(arguments)")
                }
                // The command starts with no signal blocked, as from a shell (it used to inherit the blocked mask of
                // sfha-lab's thread and ignore SIGTERM).
                let signals = try await LabTestSupport.labCLI(["exec", "--name", "lt-exec", "node1", "--", "grep", "^SigBlk:", "/proc/self/status"])
                #expect(LabTestSupport.trimmed(signals.standardOutput) == "SigBlk:\t0000000000000000", "\(signals.standardError)")
                // After --, everything is the command's, --name included.
                let passed = try await LabTestSupport.labCLI(
                    ["exec", "--name", "lt-exec", "node1", "--", "sh", "-c", "echo \"$SFHA_LAB $*\"", "sh", "--name", "other"])
                #expect(LabTestSupport.trimmed(passed.standardOutput) == "lt-exec --name other", "\(passed.standardError)")
                // Without --, the command's words cannot be told from sfha-lab's options: refused, nothing runs.
                for (arguments, explanation) in [
                    (["exec", "--name", "lt-exec", "node1", "touch", "/run/sfha/ran"], "after --"),
                    (["exec", "node1", "--name", "lt-exec", "touch", "/run/sfha/ran"], "after --"),
                    (["exec", "--name", "lt-exec", "node1", "--"], "after --"),
                    (["exec", "--name", "lt-exec", "node1", "--bogus", "--", "touch", "/run/sfha/ran"], "--bogus"),
                ] {
                    let refused = try await LabTestSupport.labCLI(arguments)
                    #expect(refused.exitCode != 0, "\(arguments) was accepted")
                    #expect(refused.standardError.contains(explanation), "\(arguments): \(refused.standardError)")
                }
                #expect(try await lab.exec("node1", ["test", "-e", "/run/sfha/ran"]).exitCode == 1, "a refused exec ran")
            }
        }

        @Test func specValidationRejectsBadNamesCountsAndSubnets() throws {
            for name in ["", "Upper", "1abc", "has_underscore", "waytoolongname", "trailing-"] {
                #expect(throws: SFHAError.self, "\(name)") { try LabSpec(name: name, nodeCount: 3).validate() }
            }
            for count in [0, 17] {
                #expect(throws: SFHAError.self) { try LabSpec(name: "ok", nodeCount: count).validate() }
            }
            #expect(throws: SFHAError.self) { try LabSpec(name: "ok", nodeCount: 3, subnet: "10.1.2.3/16").validate() }
            try LabSpec(name: "a-b-7", nodeCount: 16, tokenMilliseconds: 1000, subnet: "10.231.9.0/24").validate()
            #expect(try LabSpec(name: "x", nodeCount: 1, subnet: "10.231.9.0/24").resolvedSubnet() == LabSubnet(10, 231, 9))
            // Derived subnets are stable and stay inside 10.231.1-254.0/24.
            let derived = LabSubnet.derived(fromLabName: "sfha")
            #expect(derived == LabSubnet.derived(fromLabName: "sfha"))
            #expect(derived.first == 10 && derived.second == 231 && (1...254).contains(derived.third))
            #expect(LabNames.nodeIndex(of: "node16") == 16)
            #expect(LabNames.nodeIndex(of: "node17") == nil && LabNames.nodeIndex(of: "node01") == nil)
            #expect(LabSignals.number("SIGTERM") == SIGTERM && LabSignals.number("kill") == SIGKILL)
            #expect(LabSignals.number("BOGUS") == nil)
        }
    }
}
