import Foundation
import MeshKit
import SFHABase

/// `GET /v1/mesh` (`sfha mesh status`): the mesh as this node sees it — every member from the membership record
/// with its WireGuard state and whether its sfhad answers on the P2P API, and the pending invitations.
public struct MeshStatusReport: Sendable, Equatable, Codable {
    public struct Member: Sendable, Equatable, Codable {
        public var name: String
        public var nodeId: UInt32
        public var meshAddress: String
        public var endpoint: String
        public var publicKey: String
        /// This node.
        public var local: Bool
        /// In corosync's membership now.
        public var online: Bool
        /// Its sfhad answered a P2P ping over the mesh just now.
        public var sfhaRunning: Bool
        /// WireGuard's last handshake with it (nil: none, or this node).
        public var latestHandshake: Date?
        public var receivedBytes: UInt64?
        public var sentBytes: UInt64?
    }

    public struct Invitation: Sendable, Equatable, Codable {
        public var address: String
        public var issuer: String
        public var expiresAt: Date
    }

    public var cluster: String
    public var node: String
    public var interfaceUp: Bool
    public var listenPort: UInt16?
    public var membershipRevision: UInt64
    public var members: [Member]
    public var invitations: [Invitation]
}

/// What sfhad answers on `POST /v1/ping` (P2P API).
public struct P2PPingAnswer: Sendable, Equatable, Codable {
    public var node: String
    public var cluster: String
    public var membershipRevision: UInt64

    public init(node: String, cluster: String, membershipRevision: UInt64) {
        self.node = node
        self.cluster = cluster
        self.membershipRevision = membershipRevision
    }
}

extension DaemonRuntime {
    /// The committed membership record (nil: this cluster was not built by `sfha init`).
    public var membershipDocument: MembershipDocument? { state.membership }

    /// Node ids in corosync's membership now.
    public var corosyncMembers: Set<UInt32> { state.facts?.members ?? [] }

    /// The report, from the record, WireGuard's state and a P2P ping of every member (`ping` answers, per member
    /// name, whether its sfhad answered).
    public nonisolated func meshStatus(
        mesh: any MeshController, ping: @escaping @Sendable (MembershipRecord) async -> [String: Bool]
    ) async throws(SFHAError) -> MeshStatusReport {
        guard let document = await membershipDocument else {
            throw SFHAError(.invalidState, "this cluster has no membership record (it was not built by 'sfha init'): there is no sfha mesh")
        }
        let record = document.record
        let online = await corosyncMembers
        let local = await state.nodeName
        let wireGuard = try await mesh.state(of: MeshInterfaceSpec.defaultName)
        let peers = Dictionary((wireGuard?.peers ?? []).map { ($0.publicKey, $0) }, uniquingKeysWith: { first, _ in first })
        let answered = await ping(record)
        let members = record.members.sorted { $0.nodeID < $1.nodeID }.map { member in
            let peer = peers[member.publicKey]
            return MeshStatusReport.Member(
                name: member.name, nodeId: member.nodeID, meshAddress: "\(member.meshAddress)", endpoint: "\(member.endpoint)",
                publicKey: member.publicKey.base64, local: member.name == local, online: online.contains(member.nodeID),
                sfhaRunning: answered[member.name] ?? false, latestHandshake: peer?.latestHandshake, receivedBytes: peer?.receivedBytes,
                sentBytes: peer?.sentBytes)
        }
        let invitations = record.expiringInvitations(at: Date()).invitations.map {
            MeshStatusReport.Invitation(address: "\($0.meshAddress)", issuer: $0.issuer, expiresAt: $0.expiresAt)
        }
        return MeshStatusReport(
            cluster: record.clusterName, node: local, interfaceUp: wireGuard != nil, listenPort: wireGuard?.listenPort,
            membershipRevision: document.revision, members: members, invitations: invitations)
    }
}
