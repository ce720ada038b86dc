import Foundation
import SFHABase
import SFHALab
import Testing

extension LabTests {
    @Suite struct Hygiene {
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
    }
}
