import CorosyncKit
import Foundation
import MeshKit
import SFHABase
import Testing

@testable import SFHACore

/// The membership record is committed over the process group with quorum, like the cluster document.
@Suite("membership record: replication over the group", .timeLimit(.minutes(1)))
struct MembershipReplicationTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func founded() throws -> MembershipRecord {
        var record = try MembershipRecord.founding(
            clusterName: "t", network: try IPv4Network(parsing: "10.99.0.0/24"), founder: "node1",
            publicKey: WireGuardPrivateKey.generate().publicKey, endpoint: try MeshEndpoint(parsing: "192.0.2.1:51820"), at: now)
        for name in ["node2", "node3"] {
            let invitationKey = WireGuardPrivateKey.generate().publicKey
            let (invited, _) = try record.inviting(invitationKey, issuer: "node1", at: now)
            (record, _) = try invited.redeeming(
                invitationKey, name: name, publicKey: WireGuardPrivateKey.generate().publicKey, endpoint: try MeshEndpoint(parsing: "192.0.2.9:51820"), at: now)
        }
        return record
    }

    /// Three daemons in one ring, the record committed as revision 1 through a proposal from node1.
    static func settled() throws -> (DaemonBus, MembershipRecord) {
        var bus = DaemonBus(configuration: DaemonStateTests.configuration)
        bus.form([0, 1, 2])
        let record = try founded()
        bus.queue.append((bus.member(0), bus.daemons[0].propose(membership: record, id: "init")))
        bus.deliver(to: [0, 1, 2])
        return (bus, record)
    }

    @Test func aProposalIsCommittedEverywhereInOrder() throws {
        let (bus, record) = try Self.settled()
        #expect(bus.outcomes["init"]?.0 == true)
        #expect(bus.membershipCommits == ["node1": [1], "node2": [1], "node3": [1]])
        #expect(bus.daemons.allSatisfy { $0.membership?.record == record && $0.membership?.revision == 1 })
    }

    @Test func concurrentChangesConflictAndOnlyTheFirstCommits() throws {
        var (bus, record) = try Self.settled()
        let a = try record.inviting(WireGuardPrivateKey.generate().publicKey, issuer: "node1", at: Self.now).0
        let b = try record.inviting(WireGuardPrivateKey.generate().publicKey, issuer: "node2", at: Self.now).0
        bus.queue.append((bus.member(0), bus.daemons[0].propose(membership: a, id: "a")))
        bus.queue.append((bus.member(1), bus.daemons[1].propose(membership: b, id: "b")))
        bus.deliver(to: [0, 1, 2])
        #expect(bus.outcomes["a"]?.0 == true && bus.outcomes["b"]?.0 == false)
        #expect(bus.outcomes["b"]?.1.contains("conflict") == true)
        #expect(bus.daemons.allSatisfy { $0.membership?.record == a && $0.membership?.revision == 2 })
        record = a
        _ = record
    }

    @Test func aMinorityCannotChangeIt() throws {
        var (bus, record) = try Self.settled()
        bus.form([0])
        let invited = try record.inviting(WireGuardPrivateKey.generate().publicKey, issuer: "node1", at: Self.now).0
        bus.queue.append((bus.member(0), bus.daemons[0].propose(membership: invited, id: "alone")))
        bus.deliver(to: [0])
        #expect(bus.outcomes["alone"]?.0 == false)
        #expect(bus.daemons[0].membership?.revision == 1)
        record = invited
        _ = record
    }

    /// A two-node cluster commits only with both nodes — except the record removing the absent one, when proposed
    /// as such (`sfha node remove --force` of the other node when it is down, or once it left).
    @Test func aTwoNodeRingOfOneCommitsOnlyTheRemovalOfTheAbsentPeer() throws {
        var bus = DaemonBus(configuration: DaemonStateTests.configuration, nodes: 2)
        bus.form([0, 1], twoNode: true)
        var record = try MembershipRecord.founding(
            clusterName: "t", network: try IPv4Network(parsing: "10.99.0.0/24"), founder: "node1",
            publicKey: WireGuardPrivateKey.generate().publicKey, endpoint: try MeshEndpoint(parsing: "192.0.2.1:51820"), at: Self.now)
        let invitationKey = WireGuardPrivateKey.generate().publicKey
        let (invited, _) = try record.inviting(invitationKey, issuer: "node1", at: Self.now)
        (record, _) = try invited.redeeming(
            invitationKey, name: "node2", publicKey: WireGuardPrivateKey.generate().publicKey, endpoint: try MeshEndpoint(parsing: "192.0.2.9:51820"), at: Self.now)
        bus.queue.append((bus.member(0), bus.daemons[0].propose(membership: record, id: "two")))
        bus.deliver(to: [0, 1])
        #expect(bus.outcomes["two"]?.0 == true)

        // node2 gone: node1 alone in a two-node ring.
        bus.form([0], twoNode: true)
        let withoutNode2 = try record.removing("node2", at: Self.now)
        // Not flagged: the two-node rule holds.
        bus.queue.append((bus.member(0), bus.daemons[0].propose(membership: withoutNode2, id: "plain")))
        bus.deliver(to: [0])
        #expect(bus.outcomes["plain"]?.0 == false && bus.outcomes["plain"]?.1.contains("both") == true, "\(bus.outcomes["plain"] ?? (false, ""))")
        // Flagged, but removing the node that is present, or changing something else: refused.
        bus.queue.append((bus.member(0), bus.daemons[0].propose(membership: try record.removing("node1", at: Self.now), id: "wrong", removingAbsentPeerOfTwo: true)))
        let other = try record.inviting(WireGuardPrivateKey.generate().publicKey, issuer: "node1", at: Self.now).0
        bus.queue.append((bus.member(0), bus.daemons[0].propose(membership: other, id: "other", removingAbsentPeerOfTwo: true)))
        bus.deliver(to: [0])
        #expect(bus.outcomes["wrong"]?.0 == false && bus.outcomes["other"]?.0 == false)
        #expect(bus.daemons[0].membership?.revision == 1)
        // Flagged, removing the absent node: committed.
        bus.queue.append((bus.member(0), bus.daemons[0].propose(membership: withoutNode2, id: "forced", removingAbsentPeerOfTwo: true)))
        bus.deliver(to: [0])
        #expect(bus.outcomes["forced"]?.0 == true && bus.daemons[0].membership?.record == withoutNode2 && bus.daemons[0].membership?.revision == 2)
    }

    @Test func aRecordThatReusesOrRenumbersIsRefusedEverywhere() throws {
        var (bus, record) = try Self.settled()
        var renumbered = record
        renumbered.members[1].nodeID = 9
        renumbered.highestNodeID = 9
        var lowered = record
        lowered.highestHost = 1
        var forgotten = try record.removing("node3", at: Self.now)
        forgotten.tombstones = []
        var otherCluster = record
        otherCluster.clusterName = "other"
        for (index, hostile) in [renumbered, lowered, forgotten, otherCluster].enumerated() {
            bus.queue.append((bus.member(0), bus.daemons[0].propose(membership: hostile, id: "h\(index)")))
        }
        bus.deliver(to: [0, 1, 2])
        for index in 0..<4 { #expect(bus.outcomes["h\(index)"]?.0 == false, "h\(index)") }
        #expect(bus.daemons.allSatisfy { $0.membership?.revision == 1 && $0.membership?.record == record })
        record = forgotten
        _ = record
    }

    @Test func aProposalFromAProcessThatIsNotTheProposersSfhadChangesNothing() throws {
        var (bus, record) = try Self.settled()
        let invited = try record.inviting(WireGuardPrivateKey.generate().publicKey, issuer: "node1", at: Self.now).0
        let intruder = ProcessGroupMember(nodeID: 2, pid: 666)
        bus.queue.append((intruder, .membershipProposal(MembershipProposal(id: "x", proposer: "node2", baseRevision: 1, record: invited))))
        bus.deliver(to: [0, 1, 2])
        #expect(bus.daemons.allSatisfy { $0.membership?.revision == 1 })
        #expect(bus.rejected.values.allSatisfy { !$0.isEmpty })
        record = invited
        _ = record
    }

    @Test func aDaemonThatWasAwayCatchesUpWhenItJoins() throws {
        var bus = DaemonBus(configuration: DaemonStateTests.configuration)
        bus.form([0, 1])
        let record = try Self.founded()
        bus.queue.append((bus.member(0), bus.daemons[0].propose(membership: record, id: "init")))
        bus.deliver(to: [0, 1])
        #expect(bus.daemons[2].membership == nil)
        // node3 joins: the others offer their record, and it takes it.
        bus.form([0, 1, 2])
        #expect(bus.daemons[2].membership?.record == record && bus.daemons[2].membership?.revision == 1)
        // A forged offer (hash of another content) is refused.
        var forged = MembershipDocument(revision: 5, record: record)
        forged.record.highestHost += 1
        bus.queue.append((bus.member(1), .membership(forged)))
        bus.deliver(to: [0, 1, 2])
        #expect(bus.daemons.allSatisfy { $0.membership?.revision == 1 })
    }
}
