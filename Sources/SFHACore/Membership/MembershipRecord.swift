import Foundation
import MeshKit
import SFHABase

/// A member of the cluster: its corosync node id and mesh address (allocated here, never reused), its WireGuard
/// public key and where its WireGuard listens.
public struct ClusterMember: Sendable, Equatable, Codable {
    public var name: String
    public var nodeID: UInt32
    public var meshAddress: IPv4Address
    public var publicKey: WireGuardPublicKey
    public var endpoint: MeshEndpoint
    public var joinedAt: Date
}

/// A pending invitation (innernet's model): the public half of a one-time WireGuard key whose private half is in the
/// join token, the mesh address the joiner will get, who issued it and until when it may be redeemed. No member
/// keeps anything that can join.
public struct ClusterInvitation: Sendable, Equatable, Codable {
    public var publicKey: WireGuardPublicKey
    public var meshAddress: IPv4Address
    public var issuer: String
    public var expiresAt: Date
}

/// A removed member: its node id, mesh address and key stay taken forever.
public struct ClusterTombstone: Sendable, Equatable, Codable {
    public var name: String
    public var nodeID: UInt32
    public var meshAddress: IPv4Address
    public var publicKey: WireGuardPublicKey
    public var removedAt: Date
}

/// Who is in the cluster, replicated like the cluster document (committed over the process group with quorum). The
/// corosync nodelist and the WireGuard peers of every node are derived from it. Node ids and mesh addresses are
/// allocated here from counters that only grow, so neither is ever given twice — not even after a removal, when a
/// stale corosync.conf or WireGuard peer somewhere could still name the old holder.
///
/// Every operation returns a new record or throws, changing nothing; `validated()` checks a record received from
/// elsewhere before it is used.
public struct MembershipRecord: Sendable, Equatable, Codable {
    public var clusterName: String
    /// The mesh network; every mesh address is in it.
    public var network: IPv4Network
    public var members: [ClusterMember]
    public var invitations: [ClusterInvitation]
    public var tombstones: [ClusterTombstone]
    /// The highest node id ever allocated (the next is one more).
    public var highestNodeID: UInt32
    /// The highest host number ever allocated in `network` (the next address is one more).
    public var highestHost: UInt32

    /// corosync's nodelist, like sfha, supports 2–16 nodes.
    public static let maximumMembers = 16
    public static let maximumInvitations = 64
    public static let maximumTombstones = 4096
    /// How long a join token may be redeemed, unless `sfha token --expires` says otherwise; and the longest allowed.
    public static let defaultInvitationLifetime: Duration = .seconds(3600)
    public static let maximumInvitationLifetime: Duration = .seconds(7 * 86400)

    /// A cluster of one: the founder gets node id 1 and the network's first host address.
    public static func founding(
        clusterName: String, network: IPv4Network, founder: String, publicKey: WireGuardPublicKey, endpoint: MeshEndpoint, at now: Date
    ) throws(SFHAError) -> MembershipRecord {
        if let problem = Validators.clusterName(clusterName) { throw SFHAError(.invalidArgument, "cluster name \(String(reflecting: clusterName)): \(problem)") }
        guard (8...29).contains(network.prefixLength) else {
            throw SFHAError(.invalidArgument, "mesh network \(network): the prefix must be /8 to /29 (room for the nodes and never-reused addresses)")
        }
        var record = MembershipRecord(
            clusterName: clusterName, network: try IPv4Network(address: network.networkAddress, prefixLength: network.prefixLength),
            members: [], invitations: [], tombstones: [], highestNodeID: 0, highestHost: 0)
        let address = try record.allocateAddress()
        try record.checkNewMember(name: founder, publicKey: publicKey)
        record.highestNodeID = 1
        record.members = [ClusterMember(name: founder, nodeID: 1, meshAddress: address, publicKey: publicKey, endpoint: endpoint, joinedAt: now)]
        return record
    }

    // MARK: - Operations

    /// A new invitation for the one-time key `invitationKey`, issued by the member `issuer`, valid for `lifetime`.
    public func inviting(
        _ invitationKey: WireGuardPublicKey, issuer: String, at now: Date, lifetime: Duration = MembershipRecord.defaultInvitationLifetime
    ) throws(SFHAError) -> (MembershipRecord, ClusterInvitation) {
        guard members.contains(where: { $0.name == issuer }) else {
            throw SFHAError(.invalidArgument, "\(String(reflecting: issuer)) is not a member: only members issue join tokens")
        }
        guard lifetime > .zero, lifetime <= Self.maximumInvitationLifetime else {
            throw SFHAError(.invalidArgument, "a join token lives from 1 s to \(Self.maximumInvitationLifetime), not \(lifetime)")
        }
        var record = self.expiringInvitations(at: now)
        guard record.invitations.count < Self.maximumInvitations else {
            throw SFHAError(.invalidState, "\(Self.maximumInvitations) join tokens are pending: let some expire or be redeemed first")
        }
        guard record.members.count + record.invitations.count < Self.maximumMembers else {
            throw SFHAError(.invalidState, "the cluster has \(record.members.count) members and \(record.invitations.count) pending join tokens; "
                + "it may have at most \(Self.maximumMembers) members")
        }
        guard !record.keyIsTaken(invitationKey) else { throw SFHAError(.exists, "this invitation key is already known to the cluster") }
        let address = try record.allocateAddress()
        let seconds = Double(lifetime.components.seconds) + Double(lifetime.components.attoseconds) / 1e18
        let invitation = ClusterInvitation(publicKey: invitationKey, meshAddress: address, issuer: issuer, expiresAt: now.addingTimeInterval(seconds))
        record.invitations.append(invitation)
        return (record, invitation)
    }

    /// The invitation of `invitationKey` is redeemed by a node named `name` with its own new key: it becomes a
    /// member with the invitation's mesh address and the next node id; the invitation is gone (single use).
    public func redeeming(
        _ invitationKey: WireGuardPublicKey, name: String, publicKey: WireGuardPublicKey, endpoint: MeshEndpoint, at now: Date
    ) throws(SFHAError) -> (MembershipRecord, ClusterMember) {
        guard let index = invitations.firstIndex(where: { $0.publicKey == invitationKey }) else {
            throw SFHAError(.notFound, "this join token is unknown to the cluster, or was already used: ask a member for a new one ('sfha token')")
        }
        guard invitations[index].expiresAt > now else {
            throw SFHAError(.invalidState, "this join token expired at \(invitations[index].expiresAt): ask a member for a new one ('sfha token')")
        }
        var record = self
        let invitation = record.invitations.remove(at: index)
        try record.checkNewMember(name: name, publicKey: publicKey)
        guard publicKey != invitationKey else {
            throw SFHAError(.invalidArgument, "the joining node must use a new WireGuard key, not the token's")
        }
        guard record.highestNodeID < UInt32(Int32.max) else { throw SFHAError(.invalidState, "no node id is left to allocate") }
        record.highestNodeID += 1
        let member = ClusterMember(
            name: name, nodeID: record.highestNodeID, meshAddress: invitation.meshAddress, publicKey: publicKey, endpoint: endpoint, joinedAt: now)
        record.members.append(member)
        return (record, member)
    }

    /// Expired invitations removed (their peer goes from the issuer's WireGuard with them).
    public func expiringInvitations(at now: Date) -> MembershipRecord {
        var record = self
        record.invitations.removeAll { $0.expiresAt <= now }
        return record
    }

    /// `name` removed: it leaves a tombstone that keeps its node id, address and key taken.
    public func removing(_ name: String, at now: Date) throws(SFHAError) -> MembershipRecord {
        guard let index = members.firstIndex(where: { $0.name == name }) else {
            throw SFHAError(.notFound, "\(String(reflecting: name)) is not a member of cluster \(clusterName)")
        }
        var record = self
        let member = record.members.remove(at: index)
        record.tombstones.append(ClusterTombstone(
            name: member.name, nodeID: member.nodeID, meshAddress: member.meshAddress, publicKey: member.publicKey, removedAt: now))
        if record.tombstones.count > Self.maximumTombstones { record.tombstones.removeFirst(record.tombstones.count - Self.maximumTombstones) }
        return record
    }

    // MARK: - What is derived from it

    /// The WireGuard peers of member `local`: every other member at its mesh address, and the invitations it issued
    /// (their one-time key, restricted to the address the joiner will get; no endpoint — the joiner calls in).
    public func meshPeers(for local: String) -> [MeshPeer] {
        var peers = members.filter { $0.name != local }.map {
            MeshPeer(publicKey: $0.publicKey, allowedIPs: [.host($0.meshAddress)], endpoint: $0.endpoint)
        }
        peers += invitations.filter { $0.issuer == local }.map {
            MeshPeer(publicKey: $0.publicKey, allowedIPs: [.host($0.meshAddress)], endpoint: nil)
        }
        return peers.sorted { $0.publicKey < $1.publicKey }
    }

    /// corosync's nodelist: name, node id and the mesh address as `ring0_addr`, by node id.
    public var corosyncNodes: [(name: String, nodeID: UInt32, address: IPv4Address)] {
        members.sorted { $0.nodeID < $1.nodeID }.map { ($0.name, $0.nodeID, $0.meshAddress) }
    }

    public func member(named name: String) -> ClusterMember? { members.first { $0.name == name } }

    // MARK: - Validation

    /// Checks a record received from elsewhere (the process group, a P2P answer, a file) before it is used: names
    /// valid, everything unique across members, invitations and tombstones, every address in the network and within
    /// what was allocated, every node id within what was allocated, sizes bounded.
    public func validated() throws(SFHAError) -> MembershipRecord {
        func fail(_ why: String) -> SFHAError { SFHAError(.invalidArgument, "invalid membership record: \(why)") }
        if let problem = Validators.clusterName(clusterName) { throw fail("cluster name: \(problem)") }
        guard (8...29).contains(network.prefixLength), network.networkAddress == network.address else { throw fail("mesh network \(network)") }
        guard !members.isEmpty, members.count <= Self.maximumMembers, invitations.count <= Self.maximumInvitations,
            tombstones.count <= Self.maximumTombstones
        else { throw fail("\(members.count) members, \(invitations.count) invitations, \(tombstones.count) tombstones") }
        guard highestHost <= hostCapacity, (1...UInt32(Int32.max)).contains(highestNodeID) else { throw fail("allocation counters out of range") }
        var names = Set<String>()
        var nodeIDs = Set<UInt32>()
        var addresses = Set<IPv4Address>()
        var keys = Set<WireGuardPublicKey>()
        func claimAddress(_ address: IPv4Address) throws(SFHAError) {
            let host = address.rawValue &- network.networkAddress.rawValue
            guard network.contains(address), host >= 1, host <= highestHost else { throw fail("address \(address) outside what was allocated in \(network)") }
            guard addresses.insert(address).inserted else { throw fail("address \(address) given twice") }
        }
        for member in members {
            if let problem = Validators.nodeName(member.name) { throw fail("member \(String(reflecting: member.name)): \(problem)") }
            guard names.insert(member.name).inserted else { throw fail("two members named \(member.name)") }
            guard (1...highestNodeID).contains(member.nodeID), nodeIDs.insert(member.nodeID).inserted else { throw fail("node id \(member.nodeID)") }
            try claimAddress(member.meshAddress)
            guard keys.insert(member.publicKey).inserted else { throw fail("a WireGuard key used twice") }
        }
        for invitation in invitations {
            guard names.contains(invitation.issuer) else { throw fail("an invitation issued by \(invitation.issuer), who is not a member") }
            try claimAddress(invitation.meshAddress)
            guard keys.insert(invitation.publicKey).inserted else { throw fail("a WireGuard key used twice") }
        }
        for tombstone in tombstones {
            if let problem = Validators.nodeName(tombstone.name) { throw fail("tombstone \(String(reflecting: tombstone.name)): \(problem)") }
            guard (1...highestNodeID).contains(tombstone.nodeID), nodeIDs.insert(tombstone.nodeID).inserted else { throw fail("node id \(tombstone.nodeID)") }
            try claimAddress(tombstone.meshAddress)
            guard keys.insert(tombstone.publicKey).inserted else { throw fail("a WireGuard key used twice") }
        }
        return self
    }

    // MARK: - Allocation

    /// Host numbers usable in the network (the network and broadcast addresses excluded).
    private var hostCapacity: UInt32 { (UInt32(1) << UInt32(32 - network.prefixLength)) - 2 }

    private mutating func allocateAddress() throws(SFHAError) -> IPv4Address {
        guard highestHost < hostCapacity else {
            throw SFHAError(.invalidState, "mesh network \(network) has no address left that was never used (addresses are never reused)")
        }
        highestHost += 1
        return IPv4Address(rawValue: network.networkAddress.rawValue + highestHost)
    }

    private func keyIsTaken(_ key: WireGuardPublicKey) -> Bool {
        members.contains { $0.publicKey == key } || invitations.contains { $0.publicKey == key } || tombstones.contains { $0.publicKey == key }
    }

    private func checkNewMember(name: String, publicKey: WireGuardPublicKey) throws(SFHAError) {
        if let problem = Validators.nodeName(name) { throw SFHAError(.invalidArgument, "node name \(String(reflecting: name)): \(problem)") }
        guard !members.contains(where: { $0.name == name }) else {
            throw SFHAError(.exists, "cluster \(clusterName) already has a member named \(name): choose another name (--name)")
        }
        guard !keyIsTaken(publicKey) else {
            throw SFHAError(.exists, "this WireGuard key is already known to the cluster (a member's or a removed member's): generate a new one")
        }
    }
}
