import CorosyncKit
import Foundation
import Logging
import SFHABase
import Testing

@testable import SFHACore
@testable import sfha

/// `sfha status` tells the truth: every node of corosync's nodelist by name (OFFLINE when not a member), nothing
/// made up for a node whose sfhad is down, the votes, and every node's document revision — one JSON schema.
@Suite(.timeLimit(.minutes(1))) struct StatusTruthTests {
    static let ring = RingID(nodeID: 1, sequence: 8)

    /// node1 (this daemon) and node2 are members, node2's sfhad is not running; node3 is in the nodelist only.
    static func snapshot() -> ClusterSnapshot {
        ClusterSnapshot(
            clusterName: "t", localNodeID: 1, ring: ring, quorate: true, quorumRing: ring, expectedVotes: 3, highestExpected: 3,
            totalVotes: 2, quorum: 2, flags: [.quorate],
            members: [
                ClusterMember(nodeID: 1, name: "node1", addresses: ["10.0.0.1"], online: true, votes: 1, isLocal: true),
                ClusterMember(nodeID: 2, name: "node2", addresses: ["10.0.0.2"], online: true, votes: 1, isLocal: false),
                ClusterMember(nodeID: 3, name: "node3", addresses: ["10.0.0.3"], online: false, votes: 1, isLocal: false),
            ])
    }

    @Test func offlineAndDaemonlessNodesAreShownByNameWithoutInventedValues() async throws {
        let runtime = DaemonRuntime(
            node: NodeConfiguration(name: "node1"), nodeID: 1,
            document: ClusterDocument(revision: 1, configuration: ClusterConfiguration(name: "t")),
            effects: NodeEffects(
                addresses: FakeAddressController(addresses: []), announcer: FakeNeighbourAnnouncer(),
                duplicates: FakeDuplicateAddressChecker(), services: FakeServiceController()),
            documentPath: FileManager.default.temporaryDirectory.appendingPathComponent("sfha-st-\(UUID().uuidString).json").path,
            requireProof: false, logger: Logger(label: "test"))
        await runtime.start()
        await runtime.corosync(.connected(Self.snapshot()))
        let status = await runtime.status()
        #expect(status.votes == DaemonStatus.Votes(present: 2, expected: 3, quorum: 2))
        let node2 = try #require(status.nodes.first { $0.nodeId == 2 })
        #expect(node2.name == "node2" && node2.member && !node2.daemonAlive)
        #expect(node2.healthy == nil && node2.priority == nil && node2.standby == nil && node2.failures == nil)
        let node3 = try #require(status.nodes.first { $0.nodeId == 3 })
        #expect(node3.name == "node3" && !node3.member)
        #expect(status.nodes.first { $0.local }?.revision == 1)

        let text = DaemonStatusText.render(status)
        #expect(text.contains("votes 2/3"), "\(text)")
        let line3 = try #require(text.split(separator: "\n").first { $0.hasPrefix("node3") })
        #expect(line3.contains("OFFLINE"), "\(line3)")
        let line2 = try #require(text.split(separator: "\n").first { $0.hasPrefix("node2") })
        #expect(!line2.contains("failing") && !line2.contains(" 0 "), "no invented health or priority: \(line2)")

        // One schema: every node has every key, null when unknown.
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(status)) as? [String: Any]
        let nodes = try #require(json?["nodes"] as? [[String: Any]])
        let keys = Set(nodes[0].keys)
        #expect(nodes.allSatisfy { Set($0.keys) == keys }, "\(nodes)")
        #expect(keys.isSuperset(of: ["name", "nodeId", "member", "daemonAlive", "standby", "healthy", "priority", "revision"]))
    }

    /// `sfha status --watch --json`: one status object per line, again and again, until stopped.
    @Test func watchPrintsOneStatusPerLineUntilStopped() async throws {
        let directory = try CLITemporaryDirectory()
        defer { directory.remove() }
        var router = ControlRouter()
        router.get("/v1/status") { _ in
            DaemonStatus(
                clusterName: "t", node: "node1", nodeId: 1, quorate: true, maintenance: false, configurationRevision: 7,
                configurationHash: "h", nodes: [], groups: [])
        }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let server = ControlServer(socketPath: directory.path + "/sfhad.sock", router: router, logger: logger)
        try server.start()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try builtSFHA())
        process.arguments = ["status", "--watch", "--json", "--interval", "0.2", "--socket", server.socketPath]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let reader = pipe.fileHandleForReading
        // Two status lines (on a loaded machine a refresh may report the daemon not answering in time: that line is
        // another object, also on one line).
        let (statuses, malformed) = await withCheckedContinuation { (continuation: CheckedContinuation<([DaemonStatus], [String]), Never>) in
            Thread.detachNewThread {
                var text = ""
                var found: [DaemonStatus] = []
                var malformed: [String] = []
                while found.count < 2 {
                    let data = reader.availableData
                    if data.isEmpty { break }
                    text += String(decoding: data, as: UTF8.self)
                    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
                    text = String(lines.last ?? "")
                    for line in lines.dropLast() {
                        if line.first != "{" || line.last != "}" { malformed.append(String(line)) }
                        if let status = try? ControlJSON.decoder().decode(DaemonStatus.self, from: Data(line.utf8)) { found.append(status) }
                    }
                }
                continuation.resume(returning: (found, malformed))
            }
        }
        #expect(process.isRunning, "still watching")
        process.terminate()
        process.waitUntilExit()
        await server.stop()
        #expect(statuses.count >= 2)
        #expect(malformed.isEmpty, "one JSON object per line: \(malformed)")
        #expect(statuses.allSatisfy { $0.configurationRevision == 7 })
    }
}
