import Foundation
import MeshKit
import SFHABase
import Synchronization
import Testing

@testable import SFHACore

/// `sfha node remove`'s plan: the refusals (with the quorum arithmetic) and the founding document's order.
@Suite("node removal: refusals and the plan", .timeLimit(.minutes(1)))
struct NodeRemovalPlanTests {
    /// A record of `count` members node1…nodeN (node ids 1…N), built the way the cluster builds it.
    static func record(_ count: Int) throws -> MembershipRecord {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        var record = try MembershipRecord.founding(
            clusterName: "prod", network: try IPv4Network(parsing: "10.99.0.0/24"), founder: "node1",
            publicKey: WireGuardPrivateKey.generate().publicKey, endpoint: try MeshEndpoint(parsing: "192.0.2.1:51820"), at: now)
        for index in stride(from: 2, through: count, by: 1) {
            let invitation = WireGuardPrivateKey.generate().publicKey
            let (invited, _) = try record.inviting(invitation, issuer: "node1", at: now)
            (record, _) = try invited.redeeming(
                invitation, name: "node\(index)", publicKey: WireGuardPrivateKey.generate().publicKey,
                endpoint: try MeshEndpoint(parsing: "192.0.2.\(index):51820"), at: now)
        }
        return record
    }

    static func plan(
        _ record: MembershipRecord, target: String, online: Set<UInt32>, quorate: Bool = true, standby: Bool = false, force: Bool = false
    ) -> NodeRemovalPlan {
        NodeRemoval.plan(record: record, coordinator: "node1", target: target, online: online, quorate: quorate, targetStandby: standby, force: force)
    }

    @Test func anOfflineNodeIsRemovedInTheCorrectedOrder() throws {
        let plan = Self.plan(try Self.record(4), target: "node3", online: [1, 2, 4])
        #expect(plan.refusal == nil && plan.forceOverrides == nil)
        #expect(plan.membersAfter == 3 && plan.votesOnlineAfter == 3 && plan.quorumAfter == 2)
        #expect(plan.onlineMembers == ["node2", "node4"] && plan.offlineMembers.isEmpty)
        let order = plan.steps.map { "\($0.node): \($0.action.prefix(20))" }
        // The target first, the record, every other member, and only then this node — its WireGuard peer last.
        #expect(plan.steps.first?.node == "node3")
        #expect(plan.steps.firstIndex { $0.action.hasPrefix("commit") }! < plan.steps.firstIndex { $0.node == "node2" }!, "\(order)")
        #expect(plan.steps.lastIndex { $0.node == "node4" }! < plan.steps.firstIndex { $0.action.hasPrefix("write corosync.conf") && $0.node == "node1" }!, "\(order)")
        let reload = try #require(plan.steps.firstIndex { $0.action.hasPrefix("reload corosync once") })
        let ownPeer = try #require(plan.steps.firstIndex { $0.node == "node1" && $0.action.hasPrefix("remove node3's WireGuard peer") })
        #expect(reload < ownPeer, "\(order)")
        #expect(plan.steps.filter { $0.action.contains("reload") }.count == 1)
        #expect(!plan.steps.contains { $0.action.contains("restart") && !$0.action.contains("never a restart") })
    }

    @Test func thisNodeLeavesWithLeave() throws {
        let plan = Self.plan(try Self.record(3), target: "node1", online: [1, 2, 3])
        #expect(plan.refusal?.contains("sfha leave") == true && plan.steps.isEmpty)
    }

    @Test func anUnknownNodeNamesTheMembers() throws {
        let plan = Self.plan(try Self.record(3), target: "node9", online: [1, 2, 3])
        #expect(plan.refusal?.contains("node1, node2, node3") == true && !plan.alreadyRemoved)
    }

    @Test func aRemovedNodeIsAlreadyRemoved() throws {
        let removed = try Self.record(3).removing("node3", at: Date())
        let plan = Self.plan(removed, target: "node3", online: [1, 2])
        #expect(plan.alreadyRemoved && plan.refusal?.contains("already removed") == true)
    }

    @Test func aMinorityPartitionRemovesNothing() throws {
        let plan = Self.plan(try Self.record(5), target: "node5", online: [1, 2], quorate: false)
        #expect(plan.refusal?.contains("no quorum") == true && plan.steps.isEmpty)
    }

    @Test func theRestMustKeepQuorumAndTheArithmeticIsShown() throws {
        // 5 members, node4 and node5 down: removing node5 leaves 4 members needing 3 votes; 3 online (node1–3) → fine.
        #expect(Self.plan(try Self.record(5), target: "node5", online: [1, 2, 3]).refusal == nil)
        // Removing node3 (online, in standby) instead: 4 members need 3, only node1 and node2 stay online → refused.
        let plan = Self.plan(try Self.record(5), target: "node3", online: [1, 2, 3], standby: true)
        #expect(plan.quorumAfter == 3 && plan.votesOnlineAfter == 2)
        #expect(plan.refusal?.contains("would need 3 votes but only 2 members are online") == true, "\(plan.refusal ?? "")")
        #expect(plan.refusal?.contains("5 → 4 members") == true)
    }

    @Test func anOnlineNodeStopsBeforeTheExpectedVotesDrop() throws {
        // 4 members, node3 down: removing node4 online would leave 2 of 4 votes (3 needed) between its stop and the
        // reload; removing it once it is down is the same partition without quorum.
        let plan = Self.plan(try Self.record(4), target: "node4", online: [1, 2, 4], standby: true)
        #expect(plan.refusalKind == .wouldLoseQuorum && plan.refusal?.contains("2 of 4 votes remain") == true, "\(plan.refusal ?? "")")
        // 5 members, node3 down: 3 of 5 remain when node5 stops (3 needed): allowed.
        #expect(Self.plan(try Self.record(5), target: "node5", online: [1, 2, 4, 5], standby: true).refusal == nil)
    }

    @Test func anOnlineNodeNeedsStandbyOrForce() throws {
        let record = try Self.record(3)
        let refused = Self.plan(record, target: "node3", online: [1, 2, 3])
        #expect(refused.refusal?.contains("--force") == true && refused.refusal?.contains("sfha standby node3") == true)
        let standby = Self.plan(record, target: "node3", online: [1, 2, 3], standby: true)
        #expect(standby.refusal == nil && standby.forceOverrides == nil && standby.steps.first?.action.hasPrefix("told to leave") == true)
        let forced = Self.plan(record, target: "node3", online: [1, 2, 3], force: true)
        #expect(forced.refusal == nil && forced.forceOverrides?.contains("handed over first") == true)
        #expect(forced.steps.first?.action.hasPrefix("hand its groups over") == true)
    }

    @Test func threeToTwoSetsTwoNodeAndTwoToOneClearsIt() throws {
        let three = Self.plan(try Self.record(3), target: "node3", online: [1, 2])
        #expect(three.refusal == nil && !three.twoNodeBefore && three.twoNodeAfter && three.quorumAfter == 1)
        #expect(three.arithmetic.contains("two_node set"))
        // Of two, the other one down: only with --force (a dead node and one cut off look the same from here).
        let two = Self.plan(try Self.record(2), target: "node2", online: [1])
        #expect(two.refusalKind == .peerOfTwoDown && two.refusal?.contains("--force") == true && two.twoNodeBefore && !two.twoNodeAfter)
        let forced = Self.plan(try Self.record(2), target: "node2", online: [1], force: true)
        #expect(forced.refusal == nil && forced.forceOverrides?.contains("down for good") == true && forced.quorumAfter == 1)
        #expect(forced.arithmetic.contains("two_node cleared"))
        // Of two, both online, the other in standby: the usual rule (it is told to leave; no --force needed).
        let online = Self.plan(try Self.record(2), target: "node2", online: [1, 2], standby: true)
        #expect(online.refusal == nil && online.forceOverrides == nil)
    }

    /// After the reload, a member agrees when its file and corosync's runtime nodelist are the record's and the
    /// removed node is not in corosync's membership there.
    @Test func aMemberAgreesOnlyWhenItsCorosyncDoes() {
        let good = MembershipRepairReport(node: "node2", nodelistBefore: ["node1", "node2"], nodelistAfter: ["node1", "node2"])
        var agreeing = good
        agreeing.corosyncMembers = ["node1", "node2"]
        #expect(DaemonRuntime.agrees(agreeing, without: "node3"))
        #expect(!DaemonRuntime.agrees(good, without: "node3"), "corosync not running: no membership to check")
        var stale = agreeing
        stale.runtimeNodelistBefore = ["node1", "node2", "node3"]
        #expect(!DaemonRuntime.agrees(stale, without: "node3"))
        var stillMember = agreeing
        stillMember.corosyncMembers = ["node1", "node2", "node3"]
        #expect(!DaemonRuntime.agrees(stillMember, without: "node3"))
        var oldFile = agreeing
        oldFile.nodelistBefore = ["node1", "node2", "node3"]
        #expect(!DaemonRuntime.agrees(oldFile, without: "node3"))
    }

    @Test func votequorumsQuorum() {
        #expect((1...7).map(NodeRemoval.quorum(of:)) == [1, 1, 2, 3, 3, 4, 4])
    }
}

/// What a node told to leave does to itself after its handover, in order.
@Suite("a node leaving: its own steps", .timeLimit(.minutes(1)))
struct NodeDepartureTests {
    @Test func corosyncFirstThenTheMeshThenTheFilesAndSfhadLast() async {
        let effects = FakeDepartureEffects()
        let steps = Mutex<[(String, String)]>([])
        await NodeDeparture.run(node: "node3", effects: effects, at: Date(timeIntervalSince1970: 1_800_000_000)) { step in
            steps.withLock { $0.append((step.step, step.result)) }
        }
        let calls = effects.calls
        #expect(calls.first == "systemctl disable --now corosync")
        #expect(calls[1] == "mesh down wg-sfha" && calls[2] == "systemctl disable wg-quick@wg-sfha")
        #expect(calls.last == "systemctl --no-block disable --now sfhad")
        let moved = calls.filter { $0.hasPrefix("move ") }.map { String($0.dropFirst(5)) }
        #expect(moved == NodeDeparture.files && moved.contains("/etc/corosync/corosync.conf") && moved.contains("/etc/wireguard/wg-sfha.conf"))
        #expect(steps.withLock { $0 }.allSatisfy { $0.1 == "done" })
        #expect(NodeDeparture.suffix(at: Date(timeIntervalSince1970: 1_800_000_000)) == ".removed-20270115T080000Z")
    }

    @Test func aFailedStepIsRecordedAndTheOthersStillRun() async {
        struct Failing: DepartureEffects {
            let inner = FakeDepartureEffects()
            func systemctl(_ arguments: [String]) async throws(SFHAError) {
                if arguments.contains("corosync") { throw SFHAError(.commandFailed, "corosync would not stop") }
                try await inner.systemctl(arguments)
            }
            func tearDownMesh(_ interface: String) async throws(SFHAError) { try await inner.tearDownMesh(interface) }
            func moveAside(_ path: String, suffix: String) throws(SFHAError) -> Bool { try inner.moveAside(path, suffix: suffix) }
        }
        let effects = Failing()
        let steps = Mutex<[(String, String)]>([])
        await NodeDeparture.run(node: "node3", effects: effects, at: Date()) { step in steps.withLock { $0.append((step.step, step.result)) } }
        #expect(steps.withLock { $0 }.first?.1.hasPrefix("failed: corosync would not stop") == true)
        #expect(effects.inner.calls.last == "systemctl --no-block disable --now sfhad")
    }
}
