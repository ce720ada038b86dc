import Foundation
import SFHABase
import SFHALab
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension LabTests {
    @Suite struct Faults {
        /// node3 alone: not quorate; node1 and node2 quorate with two members.
        static func expectNode3Cut(_ lab: Lab) async throws -> Duration {
            let lost = try await lab.waitForQuorum(on: ["node3"], timeout: .seconds(30), describedAs: "loss of quorum") {
                $0.reachable && !$0.quorate
            }
            let shrunk = try await lab.waitForQuorum(
                on: ["node1", "node2"], timeout: .seconds(30), describedAs: "quorum with 2 members"
            ) { $0.quorate && $0.members == 2 }
            #expect(try await !lab.quorum(on: "node3").quorate)
            return max(lost, shrunk)
        }

        @Test func isolateLosesQuorumOnTheIsolatedNodeAndRejoinRestoresIt() async throws {
            try await LabTestSupport.withLab("lt-iso") { lab in
                let clock = ContinuousClock()
                let start = clock.now
                try await lab.isolate("node3")
                try await lab.isolate("node3")  // idempotent
                let onNode1 = try await lab.waitForQuorum(
                    on: ["node1"], timeout: .seconds(30), describedAs: "quorum with 2 members"
                ) { $0.quorate && $0.members == 2 }
                _ = try await Self.expectNode3Cut(lab)
                print("lab timing: isolate node3 -> node1 sees 2 members after \(onNode1) (total \(clock.now - start))")
                #expect(try lab.reload().state.faults.isolated == ["node3"])

                try await lab.rejoin("node3")
                try await lab.waitUntilAllQuorate(timeout: .seconds(30))
                for node in lab.nodes {
                    let status = try await lab.quorum(on: node.name)
                    #expect(status.quorate && status.members == 3, "\(node.name): \(status)")
                }
                #expect(try lab.reload().state.faults.isolated.isEmpty)
            }
        }

        @Test func partitionAndDropIncomingCutTrafficUntilHealed() async throws {
            try await LabTestSupport.withLab("lt-part") { lab in
                let client = lab.clientHost.address
                let node3 = try lab.node("node3").address

                try await lab.partition([["node1", "node2"], ["node3"]])
                _ = try await Self.expectNode3Cut(lab)
                #expect(try lab.reload().state.faults.partition == [["node1", "node2"], ["node3"]])
                try await lab.heal()
                try await lab.waitUntilAllQuorate(timeout: .seconds(30))

                // drop-incoming: node3 hears nothing (so it loses quorum) but its packets still leave: a counter
                // on the client sees them arrive, while the client's answers never reach node3.
                try await lab.check("client", ["nft", "-f", "/dev/stdin"], input: Array("""
                    table inet labtest {
                        chain input { type filter hook input priority 0; policy accept; ip saddr \(node3) counter; }
                    }

                    """.utf8))
                try await lab.dropIncoming("node3")
                _ = try await Self.expectNode3Cut(lab)
                let fetch = try await lab.exec("node3", ["curl", "-s", "-m", "2", "http://\(client):9/"])
                #expect(fetch.exitCode == 28, "curl from node3 should time out (its SYN leaves, no answer returns)")
                let counters = try await lab.check("client", ["nft", "list", "table", "inet", "labtest"])
                let packets = counters.standardOutput.split(separator: " ").split(separator: "packets").dropFirst().first?.first
                #expect((packets.flatMap { Int($0) } ?? 0) > 0, "no packet from node3 reached the client: \(counters.standardOutput)")
                let reverse = try await lab.exec("client", ["curl", "-s", "-m", "2", "http://\(node3):9/"])
                #expect(reverse.exitCode == 28, "node3 must not receive the client's SYN")
                try await lab.restoreIncoming("node3")
                try await lab.waitUntilAllQuorate(timeout: .seconds(30))
                // Connection refused (7) instead of a timeout: packets flow both ways again.
                #expect(try await lab.exec("client", ["curl", "-s", "-m", "2", "http://\(node3):9/"]).exitCode == 7)
                #expect(try lab.reload().state.faults == LabFaults())
            }
        }

        @Test func killStopAndStartCorosync() async throws {
            try await LabTestSupport.withLab("lt-kill") { lab in
                let killed = try await lab.kill("node2", process: "corosync", signal: SIGKILL)
                #expect(killed.count == 1)
                #expect(try lab.corosyncPID(on: "node2") == nil)
                #expect(try await lab.kill("node2", process: "corosync", signal: SIGKILL).isEmpty)  // idempotent
                let failed = try await lab.systemctl("node2", ["is-active", "corosync"])
                #expect(LabTestSupport.trimmed(failed.standardOutput) == "failed" && failed.exitCode == 3)
                try await lab.waitForQuorum(on: ["node1"], timeout: .seconds(30), describedAs: "2 members") {
                    $0.quorate && $0.members == 2
                }
                try await lab.startCorosync("node2")
                try await lab.waitUntilAllQuorate(timeout: .seconds(30))
                let restarted = try #require(try lab.corosyncPID(on: "node2"))
                #expect(restarted != killed.first)
                #expect(try lab.reload().state.corosyncPIDs["node2"] == restarted)

                try await lab.stopCorosync("node3")
                try await lab.stopCorosync("node3")  // idempotent
                let stopped = try await lab.systemctl("node3", ["is-active", "corosync"])
                #expect(LabTestSupport.trimmed(stopped.standardOutput) == "inactive" && stopped.exitCode == 3)
                #expect(try lab.corosyncPID(on: "node3") == nil)
                try await lab.startCorosync("node3")
                try await lab.startCorosync("node3")  // idempotent: still one corosync
                #expect(try lab.processes(on: "node3").filter { $0.name == "corosync" }.count == 1)
                try await lab.waitUntilAllQuorate(timeout: .seconds(30))
            }
        }

        @Test func netemLossDropsWhatTheNodeSendsAndDelayIsAppliedOrClearlyUnavailable() async throws {
            try await LabTestSupport.withLab("lt-netem", nodes: 2) { lab in
                _ = try await lab.systemctl("node2", ["start", "sfha-demo-web"])
                let url = "http://\(try lab.node("node2").address):8080/"
                #expect(LabTestSupport.trimmed(try await LabTestSupport.fetchFromClient(lab, url).standardOutput) == "node2")
                try await lab.netem("node2", delayMs: 0, lossPercent: 100)
                #expect(try await LabTestSupport.fetchFromClient(lab, url).exitCode != 0)
                #expect(try lab.reload().state.faults.netem["node2"] != nil)
                try await lab.netem("node2", delayMs: 0, lossPercent: 0)
                #expect(LabTestSupport.trimmed(try await LabTestSupport.fetchFromClient(lab, url).standardOutput) == "node2")
                #expect(try lab.reload().state.faults.netem.isEmpty)

                // Delay needs the kernel's netem qdisc: applied when present, a clear `unavailable` error otherwise.
                do {
                    try await lab.netem("node2", delayMs: 30, lossPercent: 0)
                    let qdisc = try await lab.check("node2", ["tc", "qdisc", "show", "dev", "eth0"])
                    #expect(qdisc.standardOutput.contains("netem"))
                    try await lab.clearNetem("node2")
                } catch let error as SFHAError {
                    #expect(error.code == .unavailable, "\(error)")
                    #expect(error.message.contains("netem"))
                }
            }
        }
    }
}
