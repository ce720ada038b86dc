import Foundation
import Logging
import MeshKit
import SFHABase
import Testing

@testable import SFHACore

@Suite("mesh reconciler: the record's peers on wg-sfha", .timeLimit(.minutes(1)))
struct MeshReconcilerTests {
    @Test func peersFollowTheRecordAndAnExpiredInvitationsPeerGoes() async throws {
        let mesh = FakeMeshController()
        let key = WireGuardPrivateKey.generate()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshrec-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/wg-sfha.conf"
        let spec = try MeshInterfaceSpec(privateKey: key, address: try IPv4Network(parsing: "10.99.0.1/24"))
        try WireGuardConfigFile.write(spec, peers: [], to: path)
        let reconciler = MeshReconciler(mesh: mesh, nodeName: "node1", configPath: path, logger: Logger(label: "test"))

        var record = try MembershipRecord.founding(
            clusterName: "t", network: try IPv4Network(parsing: "10.99.0.0/24"), founder: "node1", publicKey: key.publicKey,
            endpoint: try MeshEndpoint(parsing: "192.0.2.1:51820"), at: Date())
        // Not up yet: nothing applied, no error thrown.
        await reconciler.apply(record)
        #expect(await reconciler.appliedPeers.isEmpty)
        try await mesh.bringUp(spec)

        let joinerKey = WireGuardPrivateKey.generate().publicKey
        let longInvitation = WireGuardPrivateKey.generate().publicKey
        let shortInvitation = WireGuardPrivateKey.generate().publicKey
        (record, _) = try record.inviting(longInvitation, issuer: "node1", at: Date())
        (record, _) = try record.inviting(shortInvitation, issuer: "node1", at: Date(), lifetime: .seconds(1))
        let invited = try record.inviting(joinerKey, issuer: "node1", at: Date())
        (record, _) = try invited.0.redeeming(joinerKey, name: "node2", publicKey: WireGuardPrivateKey.generate().publicKey, endpoint: try MeshEndpoint(parsing: "192.0.2.2:51820"), at: Date())
        await reconciler.apply(record)
        let peers = try #require(try await mesh.state(of: "wg-sfha")).peers.map(\.publicKey)
        #expect(Set(peers) == Set([longInvitation, shortInvitation, record.member(named: "node2")!.publicKey]))
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains("PublicKey = \(longInvitation)"))
        // The short invitation expires: its peer goes without any new record.
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline, try await mesh.state(of: "wg-sfha")?.peers.contains(where: { $0.publicKey == shortInvitation }) == true {
            try await Task.sleep(for: .milliseconds(50))
        }
        let after = try #require(try await mesh.state(of: "wg-sfha")).peers.map(\.publicKey)
        #expect(!after.contains(shortInvitation) && after.contains(longInvitation))
    }

    /// The boot file as it is and as a record would make it, for a diff: the private key never in either.
    @Test func theBootFilePreviewHidesThePrivateKey() async throws {
        let key = WireGuardPrivateKey.generate()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshprev-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/wg-sfha.conf"
        try WireGuardConfigFile.write(try MeshInterfaceSpec(privateKey: key, address: try IPv4Network(parsing: "10.99.0.1/24")), peers: [], to: path)
        let reconciler = MeshReconciler(mesh: FakeMeshController(), nodeName: "node1", configPath: path, logger: Logger(label: "test"))
        let record = try MembershipRecord.founding(
            clusterName: "t", network: try IPv4Network(parsing: "10.99.0.0/24"), founder: "node1", publicKey: key.publicKey,
            endpoint: try MeshEndpoint(parsing: "192.0.2.1:51820"), at: Date())
        let (invited, _) = try record.inviting(WireGuardPrivateKey.generate().publicKey, issuer: "node1", at: Date())
        let preview = try #require(await reconciler.bootFilePreview(for: invited))
        let secret = key.base64ForWireGuard
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains(secret))
        #expect(!preview.before.contains(secret) && !preview.after.contains(secret))
        #expect(preview.before.contains("PrivateKey = (hidden)") && preview.after.contains("PrivateKey = (hidden)"))
        #expect(preview.after.contains("[Peer]") && !preview.before.contains("[Peer]"))
        #expect(await reconciler.bootFilePreview(for: try invited.removingForTest("node1")) == nil)
    }
}

extension MembershipRecord {
    /// The record without `name` among its members (a node no longer in it has no boot file to preview).
    func removingForTest(_ name: String) throws -> MembershipRecord {
        var copy = self
        copy.members.removeAll { $0.name == name }
        return copy
    }
}
