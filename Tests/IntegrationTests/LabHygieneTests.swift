import Foundation
import SFHABase
import SFHALab
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension LabTests {
    @Suite(.timeLimit(.minutes(10))) struct Hygiene {
        /// Everything of lab `name` that is still visible on the host.
        static func leftovers(of name: String, corosyncPIDs: [Int32]) -> [String] {
            var found: [String] = []
            let namespaces = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
            found += namespaces.filter { $0.hasPrefix("\(name)-") }.map { "netns \($0)" }
            let links = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")) ?? []
            found += links.filter { $0.hasPrefix("\(name)-") }.map { "link \($0)" }
            let mounts = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
            found += mounts.split(separator: "\n").filter { $0.contains("/run/sfha-lab/\(name)") }.map { "mount \($0)" }
            for pid in corosyncPIDs {
                let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
                let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
                if comm.hasPrefix("corosync") && !stat.contains(") Z") { found.append("corosync pid \(pid)") }
            }
            if FileManager.default.fileExists(atPath: "/run/sfha-lab/\(name)") { found.append("state dir") }
            return found
        }

        @Test func upAndDownThreeTimesLeavesNothingBehind() async throws {
            try LabTestSupport.requireRoot()
            let name = "lt-hyg"
            try await Lab.down(name)
            for round in 1...3 {
                let lab = try await Lab.up(
                    LabSpec(name: name, nodeCount: 3, tokenMilliseconds: 1000), corosyncConf: Lab.corosyncConfiguration)
                let pids = try lab.nodes.compactMap { try lab.corosyncPID(on: $0.name) }
                #expect(pids.count == 3)
                #expect(!Self.leftovers(of: name, corosyncPIDs: pids).isEmpty)
                if round == 2 {
                    // As after a crash that lost the state: down must find everything by name.
                    try FileManager.default.removeItem(atPath: "/run/sfha-lab/\(name)/lab.json")
                }
                let report = try await Lab.down(name)
                #expect(!report.nothingFound)
                #expect(Self.leftovers(of: name, corosyncPIDs: pids) == [], "round \(round)")
                #expect(try await Lab.down(name).nothingFound, "down is idempotent")
                #expect(!Lab.list().contains(name))
            }
        }

        @Test func upCleansUpAfterItselfWhenQuorumNeverComes() async throws {
            try LabTestSupport.requireRoot()
            let name = "lt-fail"
            try await Lab.down(name)
            // Every node believes the cluster has an extra, never-present member with 3 votes: no quorum ever.
            let error = await #expect(throws: SFHAError.self) {
                _ = try await Lab.up(
                    LabSpec(name: name, nodeCount: 1, tokenMilliseconds: 1000),
                    corosyncConf: { spec, nodes in
                        try Lab.corosyncConfiguration(spec: spec, nodes: nodes).replacingOccurrences(
                            of: "provider: corosync_votequorum", with: "provider: corosync_votequorum\n    expected_votes: 3")
                    },
                    quorumTimeout: .seconds(4))
            }
            #expect(error?.code == .timeout)
            #expect(error?.message.contains("node1") == true)
            #expect(error?.message.contains("corosync") == true)
            #expect(Self.leftovers(of: name, corosyncPIDs: []) == [])
        }
            /// A process started by hand in a node (not recorded anywhere) and one that keeps starting new ones when
        /// asked to stop: down ends all of them, and only then removes the namespaces they ran in.
        @Test func downEndsEveryProcessInTheLabIncludingOnesStartedByHand() async throws {
            try LabTestSupport.requireRoot()
            let name = "lt-procs"
            let byHand = ["sleep", "4711"]
            // Like a daemon that hands over on SIGTERM: it starts a new process when asked to stop, and stays.
            let supervisor = ["sh", "-c", "trap 'sleep 4712 &' TERM; while :; do sleep 0.1; done"]
            let startedOnTERM = ["sleep", "4712"]
            let inClient = ["sleep", "4713"]
            let all = [byHand, supervisor, startedOnTERM, inClient]
            defer { LabTestSupport.killLeftovers(commandLines: all) }
            try await Lab.down(name)
            let lab = try await Lab.up(LabSpec(name: name, nodeCount: 1, tokenMilliseconds: 1000))
            // As from a shell: sfha-lab exec node1 -- sleep 4711 &
            let background = try LabTestSupport.startLabCLI(["exec", "--name", name, "node1", "--"] + byHand)
            defer { if background.isRunning { background.terminate() } }
            // A snapshot of the lab's processes taken before the signals misses what the supervisor starts after them.
            _ = try LabTestSupport.startLabCLI(["exec", "--name", name, "node1", "--"] + supervisor)
            _ = try LabTestSupport.startLabCLI(["exec", "--name", name, "client", "--"] + inClient)
            let running = try await LabTestSupport.eventually(timeout: .seconds(10)) {
                [byHand, supervisor, inClient].allSatisfy { !LabTestSupport.livePIDs(commandLine: $0).isEmpty }
            }
            try #require(running, "the hand-started processes did not start")
            let corosync = try lab.nodes.compactMap { try lab.corosyncPID(on: $0.name) }

            let report = try await Lab.down(name)
            for commandLine in all {
                #expect(LabTestSupport.livePIDs(commandLine: commandLine) == [], "\(commandLine) survived down")
            }
            #expect(report.removed.contains { $0.contains("(sleep)") }, "\(report.removed)")
            #expect(Self.leftovers(of: name, corosyncPIDs: corosync) == [])
        }

        /// A process down cannot end (frozen in a cgroup: SIGKILL waits until it is thawed) makes down fail,
        /// naming it, with nothing removed that leads to it; once it can exit, a second down finishes.
        @Test func aFailedDownForgetsNothingAndASecondDownFinishes() async throws {
            try LabTestSupport.requireRoot()
            let freezerRoot = "/sys/fs/cgroup/freezer"
            try #require(
                FileManager.default.fileExists(atPath: "\(freezerRoot)/cgroup.procs"),
                "this test needs the cgroup v1 freezer at \(freezerRoot)")
            let name = "lt-frozen"
            let frozenCommand = ["sleep", "4721"]
            let cgroup = "\(freezerRoot)/sfha-lab-test-\(getpid())"
            defer {
                try? "THAWED".write(toFile: "\(cgroup)/freezer.state", atomically: false, encoding: .utf8)
                LabTestSupport.killLeftovers(commandLines: [frozenCommand])
                rmdir(cgroup)
            }
            try await Lab.down(name)
            let lab = try await Lab.up(LabSpec(name: name, nodeCount: 1, tokenMilliseconds: 1000))
            let started = try await lab.check("node1", ["sh", "-c", "sleep 4721 >/dev/null 2>&1 & echo $!"])
            let pid = try #require(Int32(LabTestSupport.trimmed(started.standardOutput)))
            try FileManager.default.createDirectory(atPath: cgroup, withIntermediateDirectories: false)
            try "\(pid)".write(toFile: "\(cgroup)/cgroup.procs", atomically: false, encoding: .utf8)
            try "FROZEN".write(toFile: "\(cgroup)/freezer.state", atomically: false, encoding: .utf8)
            let frozen = try await LabTestSupport.eventually(timeout: .seconds(5)) {
                LabTestSupport.trimmed(try String(contentsOfFile: "\(cgroup)/freezer.state", encoding: .utf8)) == "FROZEN"
            }
            try #require(frozen)

            let error = await #expect(throws: SFHAError.self) { try await Lab.down(name) }
            let message = error?.message ?? ""
            #expect(message.contains("process \(pid) (sleep"), "\(message)")
            #expect(message.contains("\(name)-node1"), "\(message)")
            #expect(message.contains("frozen by its cgroup (\(cgroup)/freezer.state)"), "\(message)")
            #expect(message.contains("sfha-lab down --name \(name)"), "\(message)")
            // Still findable: its namespaces, the node's mount namespace file and lab.json are all there.
            #expect(LabTestSupport.livePIDs(commandLine: frozenCommand) == [pid])
            #expect(FileManager.default.fileExists(atPath: "/run/netns/\(name)-node1"))
            #expect(LabTestSupport.isMountPoint("/run/sfha-lab/\(name)/node1.mnt"))
            #expect(Lab.list().contains(name))

            try "THAWED".write(toFile: "\(cgroup)/freezer.state", atomically: false, encoding: .utf8)
            let report = try await Lab.down(name)
            #expect(!report.nothingFound)
            #expect(LabTestSupport.livePIDs(commandLine: frozenCommand) == [])
            #expect(Self.leftovers(of: name, corosyncPIDs: []) == [])
            #expect(try await Lab.down(name).nothingFound)
        }

        /// Processes whose namespaces someone already removed (an older down did, after losing track of them) are
        /// still the lab's: down finds them by the lab's name in their environment.
        @Test func downEndsLabProcessesWhoseNamespacesWereAlreadyRemoved() async throws {
            try LabTestSupport.requireRoot()
            let name = "lt-orphan"
            let orphanCommand = ["sleep", "4731"]
            defer { LabTestSupport.killLeftovers(commandLines: [orphanCommand]) }
            try await Lab.down(name)
            let lab = try await Lab.up(LabSpec(name: name, nodeCount: 1, tokenMilliseconds: 1000))
            _ = try await lab.check("node1", ["sh", "-c", "sleep 4731 >/dev/null 2>&1 &"])
            try #require(LabTestSupport.livePIDs(commandLine: orphanCommand).count == 1)
            let corosync = try lab.nodes.compactMap { try lab.corosyncPID(on: $0.name) }
            let runner = SystemProgramRunner()
            try await runner.check("ip", ["netns", "delete", "\(name)-node1"])
            for file in ["node1.mnt", "node1.uts"] { try await runner.check("umount", ["/run/sfha-lab/\(name)/\(file)"]) }

            try await Lab.down(name)
            #expect(LabTestSupport.livePIDs(commandLine: orphanCommand) == [], "the orphaned sleep survived down")
            #expect(Self.leftovers(of: name, corosyncPIDs: corosync) == [])
        }
    }
}
