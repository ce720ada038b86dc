import CorosyncKit
import Foundation
import SFHABase
import SFHALab
import Testing

/// CorosyncKit against a real corosync (one node on the loopback of a private namespace, started by the tests).
extension LabTests {
@Suite(.timeLimit(.minutes(5))) struct CorosyncLiveTests {
    @Test func snapshotMatchesQuorumtool() async throws {
        try await withSingleNodeCorosync { node in
            let snapshot = try await ClusterMonitor.readSnapshot(endpoint: node.endpoint)
            let tool = try await node.run(["corosync-quorumtool", "-s"])
            let facts = QuorumtoolOutput(tool.standardOutput)
            #expect(snapshot.quorate == facts.quorate)
            #expect(snapshot.expectedVotes == facts.expectedVotes)
            #expect(snapshot.totalVotes == facts.totalVotes)
            #expect(snapshot.quorum == facts.quorum)
            #expect(snapshot.localNodeID == facts.localNodeID)
            #expect(snapshot.onlineMembers.map(\.nodeID) == facts.members.map(\.nodeID))
            #expect(snapshot.onlineMembers.map(\.name) == facts.members.map(\.name))
            #expect(snapshot.onlineMembers.map(\.votes) == facts.members.map(\.votes))
            #expect(snapshot.clusterName == node.clusterName)
            #expect(snapshot.flags.names == facts.flags)
        }
    }

    @Test func cmapSetGetDeleteAndIterate() async throws {
        try await withSingleNodeCorosync { node in
            let cmap = try CMap(endpoint: node.endpoint)
            defer { cmap.close() }
            let values: [(String, CMapValue)] = [
                ("sfha.test.i8", .int8(-8)), ("sfha.test.u8", .uint8(200)), ("sfha.test.i16", .int16(-1600)),
                ("sfha.test.u16", .uint16(65000)), ("sfha.test.i32", .int32(-320_000)), ("sfha.test.u32", .uint32(4_000_000_000)),
                ("sfha.test.i64", .int64(-64_000_000_000)), ("sfha.test.u64", .uint64(18_000_000_000_000_000_000)),
                ("sfha.test.f", .float(1.5)), ("sfha.test.d", .double(-2.25)), ("sfha.test.s", .string("héllo: wörld")),
                ("sfha.test.b", .binary([0, 1, 2, 255])),
            ]
            for (key, value) in values { try await cmap.set(key, value) }
            for (key, value) in values {
                #expect(try await cmap.get(key) == value, "round trip of \(key)")
            }
            let listed = try await cmap.entries(prefix: "sfha.test.")
            #expect(Set(listed.map(\.key)) == Set(values.map(\.0)))
            // corosync-cmapctl (another client) sees what we wrote: the store really is corosync's.
            let tool = try await node.run(["corosync-cmapctl", "-g", "sfha.test.s"])
            #expect(tool.standardOutput.contains("héllo: wörld"))
            for (key, _) in values { try await cmap.delete(key) }
            #expect(try await cmap.get("sfha.test.s") == nil)
            #expect(try await cmap.entries(prefix: "sfha.test.").isEmpty)
            // Deleting a missing key is not an error; reading one gives nil.
            try await cmap.delete("sfha.test.missing")
            #expect(try await cmap.get("sfha.test.missing") == nil)
            // corosync's own keys are readable.
            #expect(try await cmap.get("totem.cluster_name") == .string(node.clusterName))
        }
    }

    @Test func cmapTrackReportsChangesInOrder() async throws {
        try await withSingleNodeCorosync { node in
            let cmap = try CMap(endpoint: node.endpoint)
            defer { cmap.close() }
            let changes = try cmap.track("sfha.track.", prefix: true)
            var iterator = changes.makeAsyncIterator()
            try await cmap.set("sfha.track.a", .uint32(1))
            try await cmap.set("sfha.track.a", .uint32(2))
            try await cmap.set("sfha.track.b", .string("x"))
            try await cmap.delete("sfha.track.a")
            // A write from another process (corosync-cmapctl) is seen too.
            try await node.run(["corosync-cmapctl", "-s", "sfha.track.c", "u8", "7"])
            try await cmap.set("sfha.untracked", .uint8(1))  // outside the prefix: no event
            var seen: [CMapChange] = []
            for _ in 0..<5 {
                guard let change = try await iterator.next() else { break }
                seen.append(change)
            }
            #expect(seen.map(\.kind) == [.added, .modified, .added, .deleted, .added])
            #expect(seen.map(\.key) == ["sfha.track.a", "sfha.track.a", "sfha.track.b", "sfha.track.a", "sfha.track.c"])
            #expect(seen[1].oldValue == .uint32(1) && seen[1].newValue == .uint32(2))
            #expect(seen[3].newValue == nil && seen[3].oldValue == .uint32(2))
            #expect(seen[4].newValue == .uint8(7))
            try await cmap.delete("sfha.track.b")
            try await cmap.delete("sfha.track.c")
            try await cmap.delete("sfha.untracked")
        }
    }

    @Test func processGroupRoundTripBetweenTwoProcessesInOneOrderWithLeaveNotifications() async throws {
        try await withSingleNodeCorosync { node in
            let group = "sfha-test-\(UInt32.random(in: 0...UInt32.max))"
            let member = try ProcessGroup(joining: group, endpoint: node.endpoint)
            var events = member.events.makeAsyncIterator()
            // A second process on the node joins, waits for both members, sends 40 messages and prints what the group
            // delivers (JSON lines) until it is killed.
            let log = "\(node.lab.stateDirectory)/cpg-probe.log"
            let probe = try await node.lab.spawn(
                node.nodeName,
                [Lab.builtProduct("sfha-lab"), "probe", "cpg", "--group", group, "--send", "40", "--wait-for-members", "2"],
                logTo: log)
            var joinedPID: UInt32?
            while let event = try await events.next() {
                if case .membership(let change) = event, change.members.count == 2 {
                    joinedPID = change.joined.first?.member.pid
                    break
                }
            }
            #expect(joinedPID == UInt32(probe))
            for index in 0..<40 { try await member.send(Array("test-\(index)".utf8)) }
            var seenHere: [String] = []
            while seenHere.count < 80, let event = try await events.next() {
                if case .message(_, let payload) = event { seenHere.append(String(decoding: payload, as: UTF8.self)) }
            }
            #expect(seenHere.filter { $0.hasPrefix("probe-") } == (0..<40).map { "probe-\($0)" }, "sender order kept")
            #expect(seenHere.filter { $0.hasPrefix("test-") } == (0..<40).map { "test-\($0)" }, "sender order kept")
            // The other process delivered exactly the same total order.
            let delivered = try await LabTestSupport.eventually(timeout: .seconds(10)) {
                ProbeLog(path: log).messages.count >= 80
            }
            #expect(delivered)
            #expect(ProbeLog(path: log).messages == seenHere, "both processes deliver one total order")

            // Killing the other process: this member sees it leave as "process down".
            _ = kill(probe, SIGKILL)
            var reasons: [ProcessGroupChangeReason] = []
            while let event = try await events.next() {
                if case .membership(let change) = event, !change.left.isEmpty {
                    reasons = change.left.map(\.reason)
                    #expect(change.left.first?.member.pid == UInt32(probe))
                    break
                }
            }
            #expect(reasons == [.processDown])
            member.leave()
        }
    }

    @Test func reloadAppliesAnEditedConfigurationWithoutRestart() async throws {
        try await withSingleNodeCorosync { node in
            let pidBefore = try node.corosyncPID()
            let control = try CorosyncControl(endpoint: node.endpoint)
            let cmap = try CMap(endpoint: node.endpoint)
            defer { cmap.close() }
            #expect(try control.localNodeID() == 1)
            let edited = try node.configurationText.replacingOccurrences(of: "token: 1000", with: "token: 1500")
            #expect(try edited != node.configurationText)
            try node.writeConfiguration(edited)
            try await control.reloadConfiguration()
            #expect(try await cmap.get("totem.token") == .uint32(1500))
            #expect(try node.corosyncPID() == pidBefore, "reload must not restart corosync")

            // A file corosync cannot parse: the reload is refused with an error and the running config stays.
            try node.writeConfiguration(edited + "totem {\n")
            await #expect(throws: CorosyncError.self) { try await control.reloadConfiguration() }
            #expect(try await cmap.get("totem.token") == .uint32(1500))
            #expect(try node.corosyncPID() == pidBefore)
        }
    }

    @Test func monitorReportsLossAtOnceAndReconnectsWhenCorosyncReturns() async throws {
        try await withSingleNodeCorosync { node in
            let monitor = ClusterMonitor(endpoint: node.endpoint, backoff: .init(initial: .milliseconds(50), maximum: .milliseconds(400)))
            let runner = Task { await monitor.run() }
            defer { runner.cancel() }
            var events = monitor.events.makeAsyncIterator()
            guard let first = await events.nextConnection() else {
                Issue.record("expected a connected event first")
                return
            }
            #expect(first.quorate)
            // Kill corosync directly (not through the lab's process scan) so the printed time is the monitor's alone.
            // corosync stays dead until it is started again below: the event arriving at all shows the monitor did not
            // wait for it to return.
            let corosync = try node.corosyncPID()
            let killedAt = ContinuousClock.now
            _ = kill(corosync, SIGKILL)
            // Events already on their way (a vote change right after start) may come first; the loss must follow.
            var lost: CorosyncError?
            while let event = await events.next() {
                if case .connectionLost(let error) = event {
                    lost = error
                    break
                }
                if case .connected = event { break }
            }
            guard let error = lost else {
                Issue.record("expected connectionLost after corosync was killed")
                return
            }
            #expect(error.isConnectionLoss)
            print("corosync killed → connectionLost after \(ContinuousClock.now - killedAt)")
            try await node.killCorosync()  // makes sure it is gone before starting it again
            try await node.startCorosync()
            var reconnected: ClusterSnapshot?
            while let event = await events.next() {
                if case .connected(let snapshot) = event {
                    reconnected = snapshot
                    break
                }
            }
            #expect(reconnected?.quorate == true)
            #expect(reconnected?.members.map(\.nodeID) == [1])
        }
    }

    @Test func unreachableCorosyncIsAClearError() async throws {
        try await withSingleNodeCorosync { node in
            try await node.killCorosync()
            do throws(CorosyncError) {
                _ = try CMap(endpoint: node.endpoint)
                Issue.record("connecting to a stopped corosync must fail")
            } catch {
                #expect(error.code == .library)
                #expect(error.description.contains("not reachable"))
            }
            let status = try await node.run([node.sfhaBinary, "status", "--json"])
            #expect(status.exitCode == 3)
            #expect(status.standardOutput.contains("\"corosyncReachable\" : false"))
        }
    }
}
}

/// The facts `corosync-quorumtool -s` prints.
struct QuorumtoolOutput {
    struct Member: Equatable {
        var nodeID: UInt32
        var votes: UInt32?
        var name: String?
    }
    var quorate = false
    var localNodeID: UInt32 = 0
    var expectedVotes: UInt32 = 0
    var totalVotes: UInt32 = 0
    var quorum: UInt32 = 0
    var flags: [String] = []
    var members: [Member] = []

    init(_ text: String) {
        var inMembers = false
        for line in text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            func value(_ label: String) -> String? {
                line.hasPrefix(label) ? line.dropFirst(label.count).trimmingCharacters(in: .whitespaces) : nil
            }
            if let v = value("Quorate:") { quorate = v.hasPrefix("Yes") }
            if let v = value("Node ID:") { localNodeID = UInt32(v) ?? 0 }
            if let v = value("Expected votes:") { expectedVotes = UInt32(v) ?? 0 }
            if let v = value("Total votes:") { totalVotes = UInt32(v) ?? 0 }
            if let v = value("Quorum:") { quorum = UInt32(v.split(separator: " ").first ?? "") ?? 0 }
            if let v = value("Flags:") { flags = v.split(separator: " ").map(String.init) }
            if line.hasPrefix("Nodeid") {
                inMembers = true
                continue
            }
            if inMembers {
                let fields = line.split(separator: " ")
                guard fields.count >= 2, let id = UInt32(fields[0]) else { continue }
                members.append(Member(nodeID: id, votes: UInt32(fields[1]), name: fields.count > 2 ? String(fields[2]) : nil))
            }
        }
    }
}

/// The messages a `sfha-lab probe cpg` printed, in delivery order.
struct ProbeLog {
    let path: String

    var messages: [String] {
        let text = (try? AtomicFile.readText(path)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                object["event"] as? String == "message"
            else { return nil }
            return object["payload"] as? String
        }
    }
}
