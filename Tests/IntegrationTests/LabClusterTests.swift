import CorosyncKit
import Foundation
import SFHABase
import SFHALab
import Testing

/// CorosyncKit against a real 3-node corosync cluster in the lab.
extension LabTests {
    @Suite struct ClusterTests {
        @Test func threeNodesAreQuorateAndCorosyncKitSeesThreeMembers() async throws {
            try await LabTestSupport.withLab("lt-kit") { lab in
                let snapshot = try await ClusterMonitor.readSnapshot(endpoint: try lab.corosyncEndpoint("node1"))
                #expect(snapshot.quorate)
                #expect(snapshot.onlineMembers.map(\.nodeID) == [1, 2, 3])
                #expect(snapshot.members.map(\.name) == ["node1", "node2", "node3"])
                #expect(snapshot.members.map(\.addresses) == lab.nodes.map { [$0.address] })
                #expect(snapshot.localNodeID == 1)
                // The CLI run inside the node reports the same, as JSON — corosync's view, since no sfhad runs here,
                // which the exit status says (4: sfhad not running).
                let status = try await lab.exec("node1", [Lab.builtProduct("sfha"), "status", "--json"])
                #expect(status.exitCode == 4, "\(status.standardError)")
                let json = try JSONSerialization.jsonObject(with: Data(status.standardOutput.utf8)) as? [String: Any]
                let quorum = json?["quorum"] as? [String: Any]
                #expect(quorum?["quorate"] as? Bool == true)
                #expect((json?["members"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["node1", "node2", "node3"])
            }
        }

        @Test func isolatingANodeIsSeenByEveryoneAndRejoinRestoresTheSameIDs() async throws {
            try await LabTestSupport.withLab("lt-iso") { lab in
                let monitors = try ["node1", "node2", "node3"].map { ClusterMonitor(endpoint: try lab.corosyncEndpoint($0)) }
                let runners = monitors.map { monitor in Task { await monitor.run() } }
                defer { runners.forEach { $0.cancel() } }
                var streams = monitors.map { $0.events.makeAsyncIterator() }
                for index in streams.indices {
                    guard let snapshot = await streams[index].nextConnection() else {
                        Issue.record("node\(index + 1): expected connected first")
                        return
                    }
                    #expect(snapshot.quorate)
                }
                let clock = ContinuousClock()
                let isolatedAt = clock.now
                try await lab.isolate("node3")
                // node1 and node2: a membership event with left = [3], still quorate.
                for index in 0..<2 {
                    let change = await nextMembershipChange(&streams[index])
                    #expect(change?.0.left == [3], "node\(index + 1) sees node3 leave")
                    #expect(change?.1.quorate == true, "node\(index + 1) stays quorate")
                    if index == 0 {
                        let detection = clock.now - isolatedAt
                        print("membership change seen by node1 \(detection) after isolating node3 (token 1000 ms)")
                        #expect(detection < .seconds(10))
                    }
                }
                // node3 alone loses quorum.
                var node3Quorate = true
                while let event = await streams[2].next() {
                    if case .quorumChanged(let quorate, _) = event {
                        node3Quorate = quorate
                        break
                    }
                }
                #expect(!node3Quorate)

                try await lab.rejoin("node3")
                for index in 0..<3 {
                    var snapshot: ClusterSnapshot?
                    while let event = await streams[index].next() {
                        if let s = event.snapshot, s.quorate, s.onlineMembers.count == 3 {
                            snapshot = s
                            break
                        }
                    }
                    #expect(snapshot?.onlineMembers.map(\.nodeID) == [1, 2, 3], "node\(index + 1) sees all three again")
                    #expect(snapshot?.localNodeID == UInt32(index + 1), "node ids unchanged")
                }
            }
        }

        @Test func isolatingTwoOfThreeLeavesTheLastNodeWithoutQuorum() async throws {
            try await LabTestSupport.withLab("lt-two") { lab in
                let monitor = ClusterMonitor(endpoint: try lab.corosyncEndpoint("node1"))
                let runner = Task { await monitor.run() }
                defer { runner.cancel() }
                var events = monitor.events.makeAsyncIterator()
                guard let first = await events.nextConnection() else {
                    Issue.record("expected connected first")
                    return
                }
                #expect(first.quorate)
                try await lab.isolate("node2")
                try await lab.isolate("node3")
                var lost = false
                while let event = await events.next() {
                    if case .quorumChanged(false, let snapshot) = event {
                        lost = true
                        #expect(snapshot.onlineMembers.map(\.nodeID) == [1])
                        break
                    }
                }
                #expect(lost, "node1 reports quorum lost")
            }
        }

        @Test func processGroupSpansNodesInOneOrderAndSeesAKilledProcessLeave() async throws {
            try await LabTestSupport.withLab("lt-cpg") { lab in
                let group = "lab-cpg-\(UInt16.random(in: 0...UInt16.max))"
                let onNode1 = try ProcessGroup(joining: group, endpoint: try lab.corosyncEndpoint("node1"))
                let onNode3 = try ProcessGroup(joining: group, endpoint: try lab.corosyncEndpoint("node3"))
                defer {
                    onNode1.leave()
                    onNode3.leave()
                }
                // A separate process on node2 joins, waits for all three members, then sends 30 messages.
                let probe = try await lab.spawn(
                    "node2",
                    [Lab.builtProduct("sfha-lab"), "probe", "cpg", "--group", group, "--send", "30", "--wait-for-members", "3"],
                    logTo: "\(lab.stateDirectory)/cpg-probe.log")
                // Meanwhile node1 sends too, so the total order interleaves two senders.
                async let node1Sends: Void = {
                    for index in 0..<30 { try await onNode1.send(Array("node1-\(index)".utf8)) }
                }()
                func collect(_ member: ProcessGroup, count: Int) async throws -> [String] {
                    var seen: [String] = []
                    for try await event in member.events {
                        if case .message(_, let payload) = event { seen.append(String(decoding: payload, as: UTF8.self)) }
                        if seen.count == count { break }
                    }
                    return seen
                }
                try await node1Sends
                let seenOnNode1 = try await collect(onNode1, count: 60)
                let seenOnNode3 = try await collect(onNode3, count: 60)
                #expect(seenOnNode1.count == 60)
                #expect(seenOnNode1 == seenOnNode3, "node1 and node3 deliver the same total order")
                #expect(seenOnNode1.filter { $0.hasPrefix("probe-") } == (0..<30).map { "probe-\($0)" })
                let probeMember = try onNode1.members().first { $0.nodeID == 2 }
                #expect(probeMember?.pid != nil)

                // Kill the node2 process: node1 and node3 both see it leave as "process down".
                _ = kill(probe, SIGKILL)
                for member in [onNode1, onNode3] {
                    var reasons: [ProcessGroupChangeReason] = []
                    for try await event in member.events {
                        if case .membership(let change) = event, let left = change.left.first {
                            #expect(left.member.nodeID == 2)
                            reasons = change.left.map(\.reason)
                            break
                        }
                    }
                    #expect(reasons == [.processDown])
                }
            }
        }
    }
}

private func nextMembershipChange(_ events: inout AsyncStream<ClusterEvent>.Iterator) async -> (MembershipChange, ClusterSnapshot)? {
    while let event = await events.next() {
        if case .membershipChanged(let change, let snapshot) = event, !change.left.isEmpty { return (change, snapshot) }
    }
    return nil
}
