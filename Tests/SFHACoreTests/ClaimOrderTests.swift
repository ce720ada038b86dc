import CorosyncKit
import Foundation
import Logging
import SFHABase
import Synchronization
import Testing

@testable import SFHACore

/// A two-node process group in memory, seen from node1: node1's messages wait in a queue until the test delivers
/// them, so the test decides the group's order; node2's messages are injected.
final class QueuedGroup: GroupTransport {
    let member = ProcessGroupMember(nodeID: 1, pid: 4242)
    let peer = ProcessGroupMember(nodeID: 2, pid: 4343)
    private let queue = Mutex<[[UInt8]]>([])
    private let runtime = Mutex<DaemonRuntime?>(nil)

    func connect(_ runtime: DaemonRuntime) { self.runtime.withLock { $0 = runtime } }

    func trySend(_ payload: [UInt8]) async -> CorosyncError? {
        queue.withLock { $0.append(payload) }
        return nil
    }

    /// node1's messages sent and not delivered yet.
    var queued: [ClusterMessage] { queue.withLock { $0 }.compactMap { try? ClusterMessage.decode($0) } }

    /// Delivers node1's queued messages, in order.
    func deliverQueued() async {
        let payloads = queue.withLock { queue -> [[UInt8]] in
            defer { queue = [] }
            return queue
        }
        guard let runtime = runtime.withLock({ $0 }) else { return }
        for payload in payloads { await runtime.groupEvent(.message(from: member, payload: payload)) }
    }

    func deliverFromPeer(_ message: ClusterMessage) async throws {
        guard let runtime = runtime.withLock({ $0 }) else { return }
        await runtime.groupEvent(.message(from: peer, payload: try message.encoded()))
    }
}

@Suite("a claim is acted on only once it came back from the group", .timeLimit(.minutes(1)))
struct ClaimOrderTests {
    struct Fixture {
        let runtime: DaemonRuntime
        let group = QueuedGroup()
        let addresses = FakeAddressController(addresses: [])
        let tasks: [Task<Void, Never>]

        init() {
            let configuration = ClusterConfiguration(
                name: "t", groups: [ResourceGroup(name: "default", vips: [RuntimeFixture.vip])])
            // node1 ranks first: placement picks it as soon as it is proven.
            let runtime = DaemonRuntime(
                node: NodeConfiguration(name: "node1", priority: 200), nodeID: 1,
                document: ClusterDocument(revision: 1, configuration: configuration),
                effects: NodeEffects(
                    addresses: addresses, announcer: FakeNeighbourAnnouncer(), duplicates: FakeDuplicateAddressChecker(),
                    services: FakeServiceController()),
                documentPath: FileManager.default.temporaryDirectory.appendingPathComponent("sfha-claim-\(UUID().uuidString).json").path,
                requireProof: false, logger: Logger(label: "test"))
            self.runtime = runtime
            group.connect(runtime)
            let sender = runtime.sender
            tasks = [
                Task { await sender.run() },
                Task { for await _ in runtime.reconcileWakeups { await runtime.reconcileOnce() } },
            ]
        }

        static let ring = RingID(nodeID: 1, sequence: 8)

        static var snapshot: ClusterSnapshot {
            ClusterSnapshot(
                clusterName: "t", localNodeID: 1, ring: ring, quorate: true, quorumRing: ring, expectedVotes: 3, highestExpected: 3,
                totalVotes: 2, quorum: 2, flags: [.quorate],
                members: [
                    ClusterMember(nodeID: 1, name: "node1", addresses: ["10.0.0.1"], online: true, votes: 1, isLocal: true),
                    ClusterMember(nodeID: 2, name: "node2", addresses: ["10.0.0.2"], online: true, votes: 1, isLocal: false),
                ])
        }

        /// Both daemons in the ring and the group; node1 proven; node2 has reported holding nothing.
        func start() async throws {
            await runtime.start()
            await runtime.corosync(.connected(Self.snapshot))
            await runtime.attach(transport: group, as: group.member)
            await runtime.groupEvent(.ring(Self.ring, nodes: [1, 2]))
            await runtime.groupEvent(.membership(ProcessGroupMembershipChange(
                members: [group.member, group.peer], joined: [(group.member, .joined), (group.peer, .joined)], left: [])))
            await runtime.proofEvent(.proven(true))
            await runtime.proofEvent(.previousRingKnown(learntAt: .now, leftAtMost: nil))
            try await peerReports(holdings: [], sequence: 1)
            await group.deliverQueued()
        }

        /// node2's report, written in the same group membership as node1's latest one.
        func peerReports(holdings: Set<String>, sequence: UInt64) async throws {
            let basedOn = try await awaitOwnReport()?.basedOn
            try await group.deliverFromPeer(.report(NodeStateReport(
                report: NodeReport(name: "node2", nodeID: 2, holdings: holdings), configurationRevision: 1,
                configurationHash: await runtime.document.contentHash, sequence: sequence, basedOn: basedOn)))
        }

        /// node1's latest report: queued, or already in its local view.
        func awaitOwnReport() async throws -> NodeStateReport? {
            var found: NodeStateReport?
            _ = await eventually {
                found = group.queued.reversed().compactMap { if case .report(let r) = $0 { r } else { nil } }.first
                return found != nil
            }
            return found
        }

        /// Waits until node1 has published a report claiming `default` (not delivered yet).
        func claimQueued() async -> Bool {
            await eventually {
                group.queued.contains { if case .report(let r) = $0 { r.report.holdings.contains("default") } else { false } }
            }
        }

        func stop() { for task in tasks { task.cancel() } }
        var vipAdded: Bool { addresses.log.all.contains { $0.hasPrefix("add") } }
    }

    /// Found by the lab under load: two nodes that each saw themselves proven first both decided to hold the group
    /// and both acquired (their claims were taken as delivered the moment they were published), so the VIP was on
    /// two nodes for 160 ms. Now the claim must come back from the group first: the claim delivered first wins.
    @Test func aClaimLosesToAnotherDeliveredBeforeIt() async throws {
        let fixture = Fixture()
        defer { fixture.stop() }
        try await fixture.start()
        #expect(await fixture.claimQueued(), "node1 claims the group")
        #expect(!fixture.vipAdded, "nothing is acquired before the claim came back")

        // node2's claim of the same group is ordered first; node1's own claim comes back after it.
        try await fixture.peerReports(holdings: ["default"], sequence: 2)
        await fixture.group.deliverQueued()
        let decided = await eventually { await fixture.runtime.placement?.holder(of: "default") == "node2" }
        #expect(decided, "stickiness: node2, whose claim came first, holds the group")
        await fixture.group.deliverQueued()
        let settled = await eventually { await fixture.runtime.localReport.holdings.isEmpty }
        #expect(settled, "node1 dropped its claim")
        #expect(!fixture.vipAdded, "node1 never added the VIP")
    }

    @Test func aClaimThatCameBackFirstIsAcquired() async throws {
        let fixture = Fixture()
        defer { fixture.stop() }
        try await fixture.start()
        #expect(await fixture.claimQueued())
        // Held back: still nothing.
        #expect(!fixture.vipAdded)
        await fixture.group.deliverQueued()
        #expect(await eventually { fixture.vipAdded }, "the claim came back: the VIP goes up")
    }

    /// `sfha_daemons_alive`: before, the count of reports ever received (an isolated node kept counting the others).
    @Test func daemonsAliveFollowsTheMembership() async throws {
        let fixture = Fixture()
        defer { fixture.stop() }
        try await fixture.start()
        await fixture.group.deliverQueued()
        #expect(await eventually { DaemonMetrics.daemonsAlive(await fixture.runtime.view) == 2 })
        var alone = Fixture.snapshot
        alone.members.removeAll { $0.nodeID == 2 }
        await fixture.runtime.corosync(.membershipChanged(
            MembershipChange(ring: RingID(nodeID: 1, sequence: 12), members: [1], joined: [], left: [2]), alone))
        #expect(DaemonMetrics.daemonsAlive(await fixture.runtime.view) == 1)
    }
}
