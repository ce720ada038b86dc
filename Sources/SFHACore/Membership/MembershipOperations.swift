import Foundation
import MeshKit
import SFHABase

/// `POST /v1/token`: how long the token may be redeemed (seconds; nil: the default hour).
public struct TokenRequest: Sendable, Equatable, Codable {
    public var expiresSeconds: Int?
    public init(expiresSeconds: Int? = nil) { self.expiresSeconds = expiresSeconds }
}

/// The answer: the token (a secret: shown to the operator who asked, never logged or kept), the address the joiner
/// will get, the expiry and the membership revision that holds the invitation.
public struct TokenAnswer: Sendable, Equatable, Codable {
    public var token: String
    public var address: String
    public var expiresAt: Date
    public var revision: UInt64
}

extension DaemonRuntime {
    /// Makes a join token: a fresh one-time WireGuard key whose public half is committed as an invitation (so this
    /// node's mesh accepts it, restricted to the joiner's address), and the token carrying its private half. Refused
    /// without a membership record (a cluster not built by 'sfha init'), outside the group, or without quorum.
    public func issueToken(lifetime: Duration) async throws(SFHAError) -> TokenAnswer {
        for _ in 1...3 {
            guard let membership = state.membership else {
                throw SFHAError(.invalidState, "this cluster has no membership record (it was not built by 'sfha init'): join tokens need one")
            }
            guard let issuer = membership.record.member(named: state.nodeName) else {
                throw SFHAError(.invalidState, "this node (\(state.nodeName)) is not in the membership record: it cannot issue join tokens")
            }
            guard state.inProcessGroup else {
                throw SFHAError(.unavailable, "sfhad is not in the sfha process group yet (is corosync running?); no token was made")
            }
            guard state.view.quorate else {
                throw SFHAError(.notQuorate, "this node's partition has no quorum: no token was made")
            }
            let key = WireGuardPrivateKey.generate()
            let (record, invitation) = try membership.record.expiringInvitations(at: Date()).inviting(
                key.publicKey, issuer: state.nodeName, at: Date(), lifetime: lifetime)
            let id = UUID().uuidString
            switch await proposeMembership(state.propose(membership: record, id: id), id: id) {
            case .committed(let revision)?:
                let token = JoinToken(
                    clusterName: record.clusterName, invitationKey: key, assignedAddress: invitation.meshAddress, network: record.network,
                    issuer: issuer.name, issuerPublicKey: issuer.publicKey, issuerEndpoint: issuer.endpoint, issuerMeshAddress: issuer.meshAddress,
                    expiresAt: invitation.expiresAt)
                return TokenAnswer(token: token.encoded, address: "\(invitation.meshAddress)", expiresAt: invitation.expiresAt, revision: revision)
            case .conflict?:
                continue
            case .noQuorum?, .twoNodeIncomplete?:
                throw SFHAError(.notQuorate, "the partition lost quorum before the invitation was committed; no token was made")
            case .invalid(let why)?:
                throw SFHAError(.invalidArgument, "the invitation was refused by the cluster: \(why)")
            case .unchanged?:
                throw SFHAError(.internalError, "the invitation was not recorded; try again")
            case nil:
                throw SFHAError(.timeout, "no verdict on the invitation within \(Self.proposalTimeout.sfhaText); no token was made, try again")
            }
        }
        throw SFHAError(.conflict, "the invitation kept conflicting with concurrent membership changes; no token was made, try again")
    }
}
