import Foundation
import MeshKit
import SFHABase
import Testing

@testable import SFHACore

@Suite("membership record: allocation, invitations, validation", .timeLimit(.minutes(1)))
struct MembershipRecordTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let network = try! IPv4Network(parsing: "10.99.0.0/24")

    static func endpoint(_ host: Int) -> MeshEndpoint { try! MeshEndpoint(parsing: "192.0.2.\(host):51820") }
    static func key() -> WireGuardPublicKey { WireGuardPrivateKey.generate().publicKey }

    static func founded() throws -> MembershipRecord {
        try MembershipRecord.founding(clusterName: "prod", network: network, founder: "node1", publicKey: key(), endpoint: endpoint(1), at: now)
    }

    /// Invites and redeems: `name` joins through a token issued by node1.
    static func join(_ record: MembershipRecord, _ name: String, at time: Date = now) throws -> (MembershipRecord, ClusterMember) {
        let invitationKey = key()
        let (invited, _) = try record.inviting(invitationKey, issuer: "node1", at: time)
        return try invited.redeeming(invitationKey, name: name, publicKey: key(), endpoint: endpoint(9), at: time)
    }

    @Test func theFounderGetsTheFirstIdAndAddress() throws {
        let record = try Self.founded()
        #expect(record.members.map(\.nodeID) == [1] && record.members[0].meshAddress == IPv4Address("10.99.0.1")!)
        #expect(try record.validated() == record)
        #expect(throws: SFHAError.self) {
            try MembershipRecord.founding(clusterName: "bad name", network: Self.network, founder: "n", publicKey: Self.key(), endpoint: Self.endpoint(1), at: Self.now)
        }
        #expect(throws: SFHAError.self) {
            try MembershipRecord.founding(clusterName: "c", network: try IPv4Network(parsing: "10.0.0.0/30"), founder: "n", publicKey: Self.key(), endpoint: Self.endpoint(1), at: Self.now)
        }
    }

    @Test func nodeIdsAndAddressesAreNeverReused() throws {
        var record = try Self.founded()
        (record, _) = try Self.join(record, "node2")
        (record, _) = try Self.join(record, "node3")
        record = try record.removing("node3", at: Self.now)
        // node3's name may come back, its id and address never do.
        let (again, member) = try Self.join(record, "node3")
        #expect(member.nodeID == 4 && member.meshAddress == IPv4Address("10.99.0.4")!)
        #expect(again.tombstones.map(\.nodeID) == [3])
        #expect(try again.validated() == again)
        // A removed member's key cannot come back either.
        let removedKey = try #require(again.tombstones.first?.publicKey)
        let invitationKey = Self.key()
        let (invited, _) = try again.inviting(invitationKey, issuer: "node1", at: Self.now)
        #expect(throws: SFHAError.self) {
            try invited.redeeming(invitationKey, name: "node5", publicKey: removedKey, endpoint: Self.endpoint(5), at: Self.now)
        }
    }

    @Test func anInvitationIsSingleUseAndExpires() throws {
        let record = try Self.founded()
        let invitationKey = Self.key()
        let (invited, invitation) = try record.inviting(invitationKey, issuer: "node1", at: Self.now, lifetime: .seconds(60))
        #expect(invitation.meshAddress == IPv4Address("10.99.0.2")! && invitation.expiresAt == Self.now.addingTimeInterval(60))
        // The issuer routes the invitation's address to the one-time key until it is redeemed.
        #expect(invited.meshPeers(for: "node1").map(\.publicKey) == [invitationKey])
        let (joined, _) = try invited.redeeming(invitationKey, name: "node2", publicKey: Self.key(), endpoint: Self.endpoint(2), at: Self.now)
        #expect(joined.invitations.isEmpty)
        let error = #expect(throws: SFHAError.self) {
            try joined.redeeming(invitationKey, name: "node3", publicKey: Self.key(), endpoint: Self.endpoint(3), at: Self.now)
        }
        #expect(error?.message.contains("already used") == true)
        let late = #expect(throws: SFHAError.self) {
            try invited.redeeming(invitationKey, name: "node2", publicKey: Self.key(), endpoint: Self.endpoint(2), at: Self.now.addingTimeInterval(61))
        }
        #expect(late?.message.contains("expired") == true)
        #expect(invited.expiringInvitations(at: Self.now.addingTimeInterval(61)).invitations.isEmpty)
    }

    @Test func refusalsChangeNothing() throws {
        let record = try Self.founded()
        #expect(throws: SFHAError.self) { try record.inviting(Self.key(), issuer: "stranger", at: Self.now) }
        #expect(throws: SFHAError.self) { try record.inviting(Self.key(), issuer: "node1", at: Self.now, lifetime: .seconds(8 * 86400)) }
        #expect(throws: SFHAError.self) { try record.inviting(record.members[0].publicKey, issuer: "node1", at: Self.now) }
        let invitationKey = Self.key()
        let (invited, _) = try record.inviting(invitationKey, issuer: "node1", at: Self.now)
        // The member's name is taken; the token's own key may not become the member's key.
        #expect(throws: SFHAError.self) { try invited.redeeming(invitationKey, name: "node1", publicKey: Self.key(), endpoint: Self.endpoint(2), at: Self.now) }
        #expect(throws: SFHAError.self) { try invited.redeeming(invitationKey, name: "node2", publicKey: invitationKey, endpoint: Self.endpoint(2), at: Self.now) }
        #expect(throws: SFHAError.self) { try invited.redeeming(invitationKey, name: "bad name", publicKey: Self.key(), endpoint: Self.endpoint(2), at: Self.now) }
        #expect(invited.invitations.count == 1 && invited.members.count == 1)
        #expect(throws: SFHAError.self) { try record.removing("nobody", at: Self.now) }
    }

    @Test func theClusterHasAtMostSixteenMembersCountingPendingTokens() throws {
        var record = try Self.founded()
        for index in 2...15 { (record, _) = try Self.join(record, "node\(index)") }
        let (full, _) = try record.inviting(Self.key(), issuer: "node1", at: Self.now)
        #expect(throws: SFHAError.self) { try full.inviting(Self.key(), issuer: "node1", at: Self.now) }
    }

    @Test func peersAndNodelistAreDerived() throws {
        var record = try Self.founded()
        (record, _) = try Self.join(record, "node2")
        (record, _) = try Self.join(record, "node3")
        let peers = record.meshPeers(for: "node2")
        #expect(Set(peers.map(\.publicKey)) == Set(record.members.filter { $0.name != "node2" }.map(\.publicKey)))
        #expect(peers.allSatisfy { $0.allowedIPs.count == 1 && $0.allowedIPs[0].prefixLength == 32 && $0.endpoint != nil })
        #expect(record.corosyncNodes.map(\.nodeID) == [1, 2, 3])
        #expect(record.corosyncNodes.map(\.address.description) == ["10.99.0.1", "10.99.0.2", "10.99.0.3"])
    }

    @Test func hostileRecordsAreRefused() throws {
        var record = try Self.founded()
        (record, _) = try Self.join(record, "node2")
        var cases: [(String, MembershipRecord)] = []
        var twice = record
        twice.members[1].nodeID = 1
        cases.append(("a node id given twice", twice))
        var unallocated = record
        unallocated.members[1].nodeID = 99
        cases.append(("a node id never allocated", unallocated))
        var outside = record
        outside.members[1].meshAddress = IPv4Address("10.98.0.2")!
        cases.append(("an address outside the network", outside))
        var ahead = record
        ahead.members[1].meshAddress = IPv4Address("10.99.0.200")!
        cases.append(("an address beyond the counter", ahead))
        var sameKey = record
        sameKey.members[1].publicKey = sameKey.members[0].publicKey
        cases.append(("a key used twice", sameKey))
        var badName = record
        badName.members[1].name = "-x"
        cases.append(("an invalid name", badName))
        var zero = record
        zero.highestNodeID = 0
        cases.append(("a node id counter at zero (an empty range must not trap)", zero))
        var empty = record
        empty.members = []
        cases.append(("no member", empty))
        var orphan = record
        orphan.invitations = [ClusterInvitation(publicKey: Self.key(), meshAddress: IPv4Address("10.99.0.2")!, issuer: "ghost", expiresAt: Self.now)]
        cases.append(("an invitation of a non-member", orphan))
        for (what, hostile) in cases {
            #expect(throws: SFHAError.self, "\(what)") { try hostile.validated() }
        }
        // And through JSON, as it arrives from the network: a bad endpoint does not even decode.
        let data = try JSONEncoder().encode(record)
        #expect(try JSONDecoder().decode(MembershipRecord.self, from: data).validated() == record)
        let portZero = String(decoding: data, as: UTF8.self).replacingOccurrences(of: "192.0.2.1:51820", with: "192.0.2.1:0")
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(MembershipRecord.self, from: Data(portZero.utf8)) }
    }
}
