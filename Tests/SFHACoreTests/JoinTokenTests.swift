import Foundation
import MeshKit
import SFHABase
import Testing

@testable import SFHACore

@Suite("join tokens", .timeLimit(.minutes(1)))
struct JoinTokenTests {
    static func token() throws -> JoinToken {
        JoinToken(
            clusterName: "prod", invitationKey: WireGuardPrivateKey.generate(), assignedAddress: IPv4Address("10.99.0.5")!,
            network: try IPv4Network(parsing: "10.99.0.0/24"), issuer: "node1", issuerPublicKey: WireGuardPrivateKey.generate().publicKey,
            issuerEndpoint: try MeshEndpoint(parsing: "192.0.2.1:51820"), issuerMeshAddress: IPv4Address("10.99.0.1")!,
            expiresAt: Date(timeIntervalSince1970: 1_800_003_600))
    }

    @Test func aTokenRoundTrips() throws {
        let token = try Self.token()
        let text = token.encoded
        #expect(text.hasPrefix("sfha1-") && !text.contains("+") && !text.contains("/") && !text.contains("="))
        let parsed = try JoinToken(parsing: "  " + text + "\n")
        #expect(parsed.invitationKey.publicKey == token.invitationKey.publicKey)
        #expect(parsed.clusterName == "prod" && parsed.issuer == "node1" && parsed.assignedAddress == token.assignedAddress)
        #expect(parsed.issuerPublicKey == token.issuerPublicKey && parsed.issuerEndpoint == token.issuerEndpoint)
        #expect(parsed.network == token.network && parsed.issuerMeshAddress == token.issuerMeshAddress && parsed.expiresAt == token.expiresAt)
        // Its description never holds the key.
        #expect(!"\(parsed)".contains(token.invitationKey.base64ForWireGuard))
    }

    @Test func damagedTokensAreRefusedWithoutEchoingThem() throws {
        let text = try Self.token().encoded
        let body = text.dropFirst(JoinToken.prefix.count)
        let dot = body.firstIndex(of: ".")!
        var flipped = Array(body[..<dot])
        flipped[10] = flipped[10] == "A" ? "B" : "A"
        let cases = [
            "", "hello", "sfha1-", "sfha2-" + body, String(text.dropLast(3)), JoinToken.prefix + String(flipped) + String(body[dot...]),
            JoinToken.prefix + "!!!!" + String(body[dot...]), text + "." + "00", String(repeating: "x", count: 5000),
        ]
        for damaged in cases {
            do {
                _ = try JoinToken(parsing: damaged)
                Issue.record("accepted \(damaged.prefix(40))")
            } catch {
                #expect(error.message.contains("not a valid sfha join token"))
                #expect(damaged.count < 20 || !error.message.contains(damaged))
            }
        }
    }
}
