import CorosyncKit
import Foundation
import Logging
import MeshKit
import SFHABase
import Synchronization
import Testing

@testable import SFHACore

/// `removeMember` run by a real `DaemonRuntime` (node1 of four; node4 down and removed) on fake effects: the other
/// members are fakes that prepare a copy of the same corosync.conf, the reload is counted, the mesh is in memory.
@Suite("node removal run by the daemon", .timeLimit(.minutes(1)))
struct NodeRemovalRunTests {
    /// The other members: node2 prepares its own copy of corosync.conf and answers its hash; node3 does not answer.
    final class Peers: MembershipPeers {
        let copy: CorosyncNodelistApplier
        let calls = Mutex<[String]>([])
        let events: @Sendable (String) -> Void

        init(copyPath: String, events: @escaping @Sendable (String) -> Void) {
            copy = CorosyncNodelistApplier(path: copyPath, nodeName: "node2", reloader: FakeCorosyncReloader(), logger: Logger(label: "test"))
            self.events = events
        }

        func prepare(_ request: MembershipPrepareRequest, on member: SFHACore.ClusterMember) async throws(SFHAError) -> MembershipPrepareAnswer {
            calls.withLock { $0.append("prepare \(member.name)") }
            events("prepare \(member.name)")
            guard member.name == "node2" else { throw SFHAError(.timeout, "P2P POST /v1/membership/prepare to \(member.name) timed out") }
            return MembershipPrepareAnswer(node: member.name, corosyncConfHash: try await copy.prepare(request, committed: nil))
        }

        func leave(_ request: LeaveRequest, on member: SFHACore.ClusterMember) async throws(SFHAError) -> LeaveAnswer {
            calls.withLock { $0.append("leave \(member.name)") }
            throw SFHAError(.timeout, "\(member.name) does not answer")
        }

        func remove(_ request: NodeRemoveRequest, on member: SFHACore.ClusterMember) async throws(SFHAError) -> NodeRemoveAnswer {
            throw SFHAError(.unavailable, "not in this test")
        }

        func abort(_ id: String, on member: SFHACore.ClusterMember) async {
            calls.withLock { $0.append("abort \(member.name)") }
        }
    }

    /// Counts reloads and, like corosync, reports the new nodelist to the daemon afterwards.
    final class Reloader: CorosyncReloading {
        let reloads = Mutex(0)
        let afterReload = Mutex<(@Sendable () async -> Void)?>(nil)
        let events: @Sendable (String) -> Void
        init(events: @escaping @Sendable (String) -> Void) { self.events = events }
        func reload() async throws(SFHAError) {
            reloads.withLock { $0 += 1 }
            events("reload")
            if let after = afterReload.withLock({ $0 }) { await after() }
        }
        func start() async throws(SFHAError) { events("start") }
    }

    static func snapshot(_ nodes: [UInt32], online: Set<UInt32>) -> ClusterSnapshot {
        let ring = RingID(nodeID: 1, sequence: 8)
        return ClusterSnapshot(
            clusterName: "prod", localNodeID: 1, ring: ring, quorate: true, quorumRing: ring, expectedVotes: UInt32(nodes.count),
            highestExpected: UInt32(nodes.count), totalVotes: UInt32(online.count), quorum: UInt32(nodes.count / 2 + 1),
            flags: [.quorate],
            members: nodes.map {
                CorosyncKit.ClusterMember(nodeID: $0, name: "node\($0)", addresses: ["10.99.0.\($0)"], online: online.contains($0), votes: 1, isLocal: $0 == 1)
            })
    }

    /// node1 of four (node4 down), its membership record `document`, corosync.conf (here and node2's copy) for
    /// `confMembers`, corosync's runtime nodelist node1–4; a reload makes corosync report node1–3.
    final class Fixture {
        let directory: String
        let record: MembershipRecord
        let runtime: DaemonRuntime
        let reloader: Reloader
        let mesh: FakeMeshController
        let peers: Peers
        let order: EventLog
        let tasks: [Task<Void, Never>]

        init(document: (MembershipRecord) throws -> MembershipDocument = { MembershipDocument(revision: 7, record: $0) },
             confMembers: (MembershipRecord) throws -> [SFHACore.ClusterMember] = { $0.members }) async throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("sfha-remove-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            record = try NodeRemovalPlanTests.record(4)
            try JSONEncoder().encode(try document(record)).write(to: URL(fileURLWithPath: directory + "/membership.json"))
            let conf = try CorosyncConf.generate(CorosyncClusterSpec(
                clusterName: "prod", nodes: try confMembers(record).map { CorosyncNodeEntry(nodeID: $0.nodeID, name: $0.name, addresses: ["\($0.meshAddress)"]) }))
            try conf.render().write(toFile: directory + "/corosync.conf", atomically: true, encoding: .utf8)
            try conf.render().write(toFile: directory + "/node2-corosync.conf", atomically: true, encoding: .utf8)

            let order = EventLog()
            self.order = order
            let note: @Sendable (String) -> Void = { event in order.withLock { $0.append(event) } }
            mesh = FakeMeshController()
            try await mesh.bringUp(try MeshInterfaceSpec(privateKey: WireGuardPrivateKey.generate(), address: try IPv4Network(parsing: "10.99.0.1/24")))
            let reloader = Reloader(events: note)
            self.reloader = reloader
            let runtime = DaemonRuntime(
                node: NodeConfiguration(name: "node1"), nodeID: 1,
                // node4 was put in standby before it went down: the removal clears that.
                document: ClusterDocument(revision: 1, configuration: try ClusterConfiguration(name: "prod", groups: []).settingStandby("node4", true)),
                effects: NodeEffects(addresses: FakeAddressController(addresses: []), announcer: FakeNeighbourAnnouncer(), duplicates: FakeDuplicateAddressChecker(), services: HangingServiceController()),
                documentPath: directory + "/cluster.json", requireProof: false, mesh: mesh, corosyncReloader: reloader,
                corosyncConfPath: directory + "/corosync.conf", logger: Logger(label: "test"))
            self.runtime = runtime
            let group = LoopbackGroup()
            group.connect(runtime)
            let sender = runtime.sender
            tasks = [Task { await sender.run() }, Task { for await _ in runtime.reconcileWakeups { await runtime.reconcileOnce() } }]
            await runtime.start()
            await runtime.corosync(.connected(NodeRemovalRunTests.snapshot([1, 2, 3, 4], online: [1, 2, 3])))
            await runtime.attach(transport: group, as: group.member)
            await runtime.groupEvent(.ring(RingID(nodeID: 1, sequence: 8), nodes: [1, 2, 3]))
            await runtime.groupEvent(.membership(ProcessGroupMembershipChange(members: [group.member], joined: [(group.member, .joined)], left: [])))
            reloader.afterReload.withLock {
                $0 = { await runtime.corosync(.nodeListChanged(NodeRemovalRunTests.snapshot([1, 2, 3], online: [1, 2, 3]))) }
            }
            peers = Peers(copyPath: directory + "/node2-corosync.conf", events: note)
        }

        func close() {
            for task in tasks { task.cancel() }
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    @Test func anOfflineNodeIsRemovedOthersFirstOneReloadOwnPeerLast() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let (directory, record, runtime, reloader, mesh, peers) = (
            fixture.directory, fixture.record, fixture.runtime, fixture.reloader, fixture.mesh, fixture.peers
        )
        let order = fixture.order
        let node4Key = try #require(record.member(named: "node4")?.publicKey)
        #expect(await eventually { (try? await mesh.state(of: "wg-sfha"))?.peers.contains { $0.publicKey == node4Key } == true })

        // A dry run plans and changes nothing.
        let before = try String(contentsOfFile: directory + "/corosync.conf", encoding: .utf8)
        let dry = try await runtime.removeMember(NodeRemoveRequest(name: "node4", dryRun: true), peers: peers)
        #expect(dry.revision == nil && dry.steps.isEmpty && !dry.plan.steps.isEmpty && dry.plan.refusal == nil)
        #expect(try String(contentsOfFile: directory + "/corosync.conf", encoding: .utf8) == before && peers.calls.withLock { $0 }.isEmpty)

        let answer = try await runtime.removeMember(NodeRemoveRequest(name: "node4"), peers: peers)
        #expect(answer.revision == 8, "\(answer)")
        // node3 did not answer: a warning naming it, not an error.
        #expect(answer.warnings.contains { $0.hasPrefix("node3 did not acknowledge") }, "\(answer.warnings)")
        // The others first, then this node's file, one reload, and this node's own WireGuard peer of node4 last.
        #expect(reloader.reloads.withLock { $0 } == 1)
        let steps = answer.steps.map { "\($0.node): \($0.step)" }
        let acknowledged = try #require(answer.steps.firstIndex { $0.node == "node2" && $0.result == "done" }, "\(steps)")
        let ownFile = try #require(answer.steps.firstIndex { $0.node == "node1" && $0.step.hasPrefix("write corosync.conf") }, "\(steps)")
        let reload = try #require(answer.steps.firstIndex { $0.step.hasPrefix("reload corosync") }, "\(steps)")
        let ownPeer = try #require(answer.steps.firstIndex { $0.node == "node1" && $0.step.hasPrefix("remove node4's WireGuard peer") }, "\(steps)")
        #expect(acknowledged < reload && ownFile < reload && reload < ownPeer, "\(steps)")
        #expect(order.withLock { $0 }.firstIndex(of: "reload")! > order.withLock { $0 }.firstIndex(of: "prepare node2")!)
        // The files, the record and the mesh.
        let after = try CorosyncConf(parsing: String(contentsOfFile: directory + "/corosync.conf", encoding: .utf8))
        #expect(after.nodes.map(\.name) == ["node1", "node2", "node3"])
        #expect(try CorosyncConf(parsing: String(contentsOfFile: directory + "/node2-corosync.conf", encoding: .utf8)).nodes.map(\.name) == ["node1", "node2", "node3"])
        let committed = try #require(await runtime.membershipDocument)
        #expect(committed.record.member(named: "node4") == nil && committed.record.tombstones.map(\.name) == ["node4"])
        #expect(await eventually { (try? await mesh.state(of: "wg-sfha"))?.peers.contains { $0.publicKey == node4Key } == false })
        #expect(answer.corosyncNodelist == ["node1", "node2", "node3"])
        #expect(await runtime.documentStandbyNodes.isEmpty, "node4's standby stays in the cluster document")

        // Again: already removed, nothing changes.
        let again = try await runtime.removeMember(NodeRemoveRequest(name: "node4"), peers: peers)
        #expect(again.plan.alreadyRemoved && again.revision == nil && again.unfinished == nil && reloader.reloads.withLock { $0 } == 1)
    }

    /// The coordinator killed after the commit, before its reload: the record and every file are without node4, but
    /// corosync still lists it. A re-run says so in its plan and completes it with one reload; `propagate` sees it too.
    @Test func aRemovalInterruptedBeforeItsReloadIsCompletedByARerun() async throws {
        let fixture = try await Fixture(
            document: { MembershipDocument(revision: 8, record: try $0.removing("node4", at: Date())) },
            confMembers: { $0.members.filter { $0.name != "node4" } })
        defer { fixture.close() }
        let dry = try await fixture.runtime.removeMember(NodeRemoveRequest(name: "node4", dryRun: true), peers: fixture.peers)
        #expect(dry.plan.alreadyRemoved && dry.unfinished?.contains("interrupted") == true && fixture.reloader.reloads.withLock { $0 } == 0, "\(dry)")

        let run = try await fixture.runtime.removeMember(NodeRemoveRequest(name: "node4"), peers: fixture.peers)
        #expect(fixture.reloader.reloads.withLock { $0 } == 1 && run.corosyncNodelist == ["node1", "node2", "node3"] && run.warnings.isEmpty, "\(run)")
        #expect(run.steps.contains { $0.step.hasPrefix("reload corosync") } && run.revision == 8)
        let again = try await fixture.runtime.removeMember(NodeRemoveRequest(name: "node4"), peers: fixture.peers)
        #expect(again.unfinished == nil && again.steps.isEmpty && fixture.reloader.reloads.withLock { $0 } == 1)
    }

    @Test func propagateReloadsWhenCorosyncsRuntimeNodelistDiffersFromTheRecord() async throws {
        let fixture = try await Fixture(
            document: { MembershipDocument(revision: 8, record: try $0.removing("node4", at: Date())) },
            confMembers: { $0.members.filter { $0.name != "node4" } })
        defer { fixture.close() }
        let document = try #require(await fixture.runtime.membershipDocument)
        let request = MembershipRepairRequest(coordinator: "node1", membership: document, dryRun: true)
        let dry = try await fixture.runtime.repairMembership(request)
        #expect(dry.runtimeNodelistBefore == ["node1", "node2", "node3", "node4"] && dry.corosync == "reloaded" && dry.nodelistBefore == dry.nodelistAfter)
        #expect(fixture.reloader.reloads.withLock { $0 } == 0)
        var real = request
        real.dryRun = false
        #expect(try await fixture.runtime.repairMembership(real).corosync == "reloaded" && fixture.reloader.reloads.withLock { $0 } == 1)
        #expect(try await fixture.runtime.repairMembership(real).nothingToDo && fixture.reloader.reloads.withLock { $0 } == 1)
    }
}

/// Events in the order they happened (shared with the fakes' closures).
final class EventLog: Sendable {
    private let events = Mutex<[String]>([])
    func withLock<T>(_ body: (inout [String]) -> T) -> T { events.withLock { body(&$0) } }
}

extension DaemonRuntime {
    var documentStandbyNodes: [String] { state.document.configuration.standbyNodes }
}
