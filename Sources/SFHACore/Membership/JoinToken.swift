import Crypto
import Foundation
import MeshKit
import SFHABase

/// What `sfha token` prints and `sfha join` takes (innernet's invitation model): everything a bare machine needs to
/// reach the issuing member inside the mesh — the one-time WireGuard private key whose public half the cluster
/// committed as an invitation, the address the joiner will have, the issuer's WireGuard public key, endpoint and mesh
/// address, the mesh network, the cluster's name — and when it expires.
///
/// The token is a secret until redeemed (it holds a private key), and worthless afterwards: redeeming replaces the
/// invitation key with the joiner's own new key. Its checksum catches corruption and casual edits; a forged token
/// still fails at the issuer, which checks the redeem against the committed invitation.
public struct JoinToken: Sendable, CustomStringConvertible {
    public static let prefix = "sfha1-"
    /// A token is a few hundred characters; anything much longer is not one.
    public static let maximumLength = 4096

    public var clusterName: String
    public var invitationKey: WireGuardPrivateKey
    public var assignedAddress: IPv4Address
    public var network: IPv4Network
    public var issuer: String
    public var issuerPublicKey: WireGuardPublicKey
    public var issuerEndpoint: MeshEndpoint
    public var issuerMeshAddress: IPv4Address
    public var expiresAt: Date

    public init(
        clusterName: String, invitationKey: WireGuardPrivateKey, assignedAddress: IPv4Address, network: IPv4Network, issuer: String,
        issuerPublicKey: WireGuardPublicKey, issuerEndpoint: MeshEndpoint, issuerMeshAddress: IPv4Address, expiresAt: Date
    ) {
        self.clusterName = clusterName
        self.invitationKey = invitationKey
        self.assignedAddress = assignedAddress
        self.network = network
        self.issuer = issuer
        self.issuerPublicKey = issuerPublicKey
        self.issuerEndpoint = issuerEndpoint
        self.issuerMeshAddress = issuerMeshAddress
        self.expiresAt = expiresAt
    }

    /// Never the key: "join token for cluster C, issued by N, expires …".
    public var description: String { "join token for cluster \(clusterName), issued by \(issuer), expires \(expiresAt)" }

    private struct Payload: Codable {
        var cluster: String
        var invitationKey: String
        var address: IPv4Address
        var network: IPv4Network
        var issuer: String
        var issuerKey: WireGuardPublicKey
        var issuerEndpoint: String
        var issuerMeshAddress: IPv4Address
        var expires: Int64
    }

    /// `sfha1-` + base64url(JSON) + `.` + the first 8 bytes of its SHA-256 in hex.
    public var encoded: String {
        let payload = Payload(
            cluster: clusterName, invitationKey: invitationKey.base64ForWireGuard, address: assignedAddress, network: network, issuer: issuer,
            issuerKey: issuerPublicKey, issuerEndpoint: issuerEndpoint.description, issuerMeshAddress: issuerMeshAddress,
            expires: Int64(expiresAt.timeIntervalSince1970.rounded(.down)))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Every field is a string or a number: encoding cannot fail.
        let json = try! encoder.encode(payload)
        return Self.prefix + Self.base64URL(json) + "." + Self.checksum(json)
    }

    /// Parses and checks a token (format, checksum, every field), without looking at the clock: `sfha join` says
    /// "expired" separately, with the time.
    public init(parsing text: String) throws(SFHAError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        func fail(_ why: String) -> SFHAError { SFHAError(.invalidArgument, "this is not a valid sfha join token: \(why); copy the whole line 'sfha token' printed") }
        guard trimmed.utf8.count <= Self.maximumLength, trimmed.hasPrefix(Self.prefix) else { throw fail("it does not start with \(Self.prefix)") }
        let parts = trimmed.dropFirst(Self.prefix.count).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let json = Self.unbase64URL(String(parts[0])) else { throw fail("it is not base64 text") }
        guard Self.checksum(json) == parts[1] else { throw fail("its checksum does not match (it was cut or altered)") }
        let payload: Payload
        do {
            payload = try JSONDecoder().decode(Payload.self, from: json)
        } catch {
            throw fail("its content is not what sfha writes")
        }
        if let problem = Validators.clusterName(payload.cluster) { throw fail("cluster name: \(problem)") }
        if let problem = Validators.nodeName(payload.issuer) { throw fail("issuer name: \(problem)") }
        guard payload.network.contains(payload.address), payload.network.contains(payload.issuerMeshAddress), payload.address != payload.issuerMeshAddress else {
            throw fail("its addresses are not in its mesh network")
        }
        clusterName = payload.cluster
        invitationKey = try WireGuardPrivateKey(base64: payload.invitationKey)
        assignedAddress = payload.address
        network = payload.network
        issuer = payload.issuer
        issuerPublicKey = payload.issuerKey
        issuerEndpoint = try MeshEndpoint(parsing: payload.issuerEndpoint)
        issuerMeshAddress = payload.issuerMeshAddress
        expiresAt = Date(timeIntervalSince1970: TimeInterval(payload.expires))
    }

    static func checksum(_ data: Data) -> String { SHA256.hash(data: data).prefix(8).hexEncoded }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func unbase64URL(_ text: String) -> Data? {
        guard text.utf8.allSatisfy({ byte in
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
        }) else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.utf8.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
