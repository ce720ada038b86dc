import CorosyncKit
import Foundation
import Logging
import MeshKit
import SFHABase
import Testing

@testable import SFHACore

@Suite("corosync.conf from the membership record: prepare, abort, commit, catch up", .timeLimit(.minutes(1)))
struct NodelistApplierTests {
    struct Fixture {
        let directory: String
        let path: String
        let reloader = FakeCorosyncReloader()
        let applier: CorosyncNodelistApplier
        var record: MembershipRecord
        let founder = WireGuardPrivateKey.generate()

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("nodelist-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            path = directory + "/corosync.conf"
            record = try MembershipRecord.founding(
                clusterName: "t", network: try IPv4Network(parsing: "10.99.0.0/24"), founder: "node1", publicKey: founder.publicKey,
                endpoint: try MeshEndpoint(parsing: "192.0.2.1:51820"), at: Date())
            let conf = try CorosyncConf.generate(CorosyncClusterSpec(
                clusterName: "t", nodes: [CorosyncNodeEntry(nodeID: 1, name: "node1", addresses: ["10.99.0.1"])]))
            try AtomicFile.write(conf.render(), to: path, mode: 0o644)
            applier = CorosyncNodelistApplier(path: path, nodeName: "node1", reloader: reloader, logger: Logger(label: "test"))
        }

        /// The record with `name` invited and redeemed.
        func joined(_ name: String) throws -> MembershipRecord {
            let invitation = WireGuardPrivateKey.generate().publicKey
            let (invited, _) = try record.inviting(invitation, issuer: "node1", at: Date())
            return try invited.redeeming(
                invitation, name: name, publicKey: WireGuardPrivateKey.generate().publicKey, endpoint: try MeshEndpoint(parsing: "192.0.2.9:51820"),
                at: Date()).0
        }

        func conf() throws -> CorosyncConf { try CorosyncConf(parsing: try String(contentsOfFile: path, encoding: .utf8)) }
    }

    @Test func aPreparedFileIsKeptByItsCommitAndNothingIsReloaded() async throws {
        let fixture = try Fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let candidate = try fixture.joined("node2")
        let hash = try await fixture.applier.prepare(MembershipPrepareRequest(id: "a", coordinator: "node1", record: candidate), committed: fixture.record)
        let conf = try fixture.conf()
        #expect(conf.nodes.map(\.name) == ["node1", "node2"] && conf.nodes.map(\.nodeID) == [1, 2])
        // Two nodes: two_node is set (the votequorum rule kept right).
        #expect(conf.values(at: "quorum.two_node") == ["1"])
        #expect(hash == CorosyncNodelistApplier.hash(try String(contentsOfFile: fixture.path, encoding: .utf8)))
        // The same prepare again answers the same hash; another coordinator's is refused as busy and writes nothing,
        // and so is an older one of the same coordinator (a late prepare of a change it gave up).
        #expect(try await fixture.applier.prepare(MembershipPrepareRequest(id: "a", coordinator: "node1", record: candidate), committed: fixture.record) == hash)
        await #expect(throws: SFHAError.self) {
            try await fixture.applier.prepare(MembershipPrepareRequest(id: "b", coordinator: "node2", record: try fixture.joined("node3")), committed: fixture.record)
        }
        await #expect(throws: SFHAError.self) {
            try await fixture.applier.prepare(
                MembershipPrepareRequest(id: "c", coordinator: "node1", record: try fixture.joined("node3"), issuedAt: Date.distantPast), committed: fixture.record)
        }
        #expect(try fixture.conf().nodes.count == 2)
        // An unrelated commit (an invitation) while prepared leaves the prepared file alone.
        let (invited, _) = try fixture.record.inviting(WireGuardPrivateKey.generate().publicKey, issuer: "node1", at: Date())
        await fixture.applier.apply(invited)
        #expect(try fixture.conf().nodes.count == 2 && fixture.reloader.reloads == 0)
        // Its commit settles it: the file stays, no reload here (the coordinator reloads once).
        await fixture.applier.apply(candidate)
        #expect(try fixture.conf().nodes.count == 2 && fixture.reloader.reloads == 0)
    }

    /// A coordinator killed after its prepare (before commit or abort) runs the change again at once: its newer
    /// prepare replaces the one left here (no wait for the expiry); the older one arriving late is refused.
    @Test func aNewerPrepareOfTheSameCoordinatorReplacesAGivenUpOne() async throws {
        let fixture = try Fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let given = Date()
        _ = try await fixture.applier.prepare(
            MembershipPrepareRequest(id: "a", coordinator: "node1", record: try fixture.joined("node2"), issuedAt: given), committed: fixture.record)
        let rerun = try fixture.joined("node3")
        let hash = try await fixture.applier.prepare(
            MembershipPrepareRequest(id: "b", coordinator: "node1", record: rerun, issuedAt: given.addingTimeInterval(1)), committed: fixture.record)
        #expect(try fixture.conf().nodes.map(\.name) == ["node1", "node3"])
        #expect(hash == CorosyncNodelistApplier.hash(try String(contentsOfFile: fixture.path, encoding: .utf8)))
        await #expect(throws: SFHAError.self) {
            try await fixture.applier.prepare(
                MembershipPrepareRequest(id: "a", coordinator: "node1", record: try fixture.joined("node2"), issuedAt: given), committed: fixture.record)
        }
        #expect(try fixture.conf().nodes.map(\.name) == ["node1", "node3"])
        await fixture.applier.apply(rerun)
        #expect(fixture.reloader.reloads == 0)
    }

    /// A prepare never settled (its coordinator died) is put back when it expires, and corosync reloaded: a reload
    /// by another member meanwhile made corosync here read the prepared file.
    @Test func anExpiredPrepareIsPutBackAndReloaded() async throws {
        let fixture = try Fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let before = try String(contentsOfFile: fixture.path, encoding: .utf8)
        let applier = CorosyncNodelistApplier(
            path: fixture.path, nodeName: "node1", reloader: fixture.reloader, preparedLifetime: .milliseconds(50), logger: Logger(label: "test"))
        _ = try await applier.prepare(MembershipPrepareRequest(id: "a", coordinator: "node2", record: try fixture.joined("node2")), committed: fixture.record)
        #expect(try fixture.conf().nodes.count == 2)
        #expect(await eventually { fixture.reloader.reloads == 1 })
        #expect(try String(contentsOfFile: fixture.path, encoding: .utf8) == before)
    }

    @Test func anAbortPutsTheFileBackAndACommittedRecordIsCaughtUpWithOneReload() async throws {
        let fixture = try Fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let before = try String(contentsOfFile: fixture.path, encoding: .utf8)
        let candidate = try fixture.joined("node2")
        _ = try await fixture.applier.prepare(MembershipPrepareRequest(id: "a", coordinator: "node1", record: candidate), committed: fixture.record)
        await fixture.applier.abort("other")  // not the prepared change: nothing
        #expect(try fixture.conf().nodes.count == 2)
        await fixture.applier.abort("a")
        #expect(try String(contentsOfFile: fixture.path, encoding: .utf8) == before)
        // A node that missed the prepare (down) catches up from the committed record, and reloads.
        await fixture.applier.apply(candidate)
        #expect(try fixture.conf().nodes.map(\.name) == ["node1", "node2"] && fixture.reloader.reloads == 1)
        // Applying it again changes nothing.
        await fixture.applier.apply(candidate)
        #expect(fixture.reloader.reloads == 1)
    }

    @Test func aRecordThatCannotFollowTheCommittedOneIsRefusedAndNothingIsWritten() async throws {
        let fixture = try Fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let before = try String(contentsOfFile: fixture.path, encoding: .utf8)
        var forged = try fixture.joined("node2")
        forged.highestNodeID = 0  // lowers an allocation counter
        await #expect(throws: SFHAError.self) {
            try await fixture.applier.prepare(MembershipPrepareRequest(id: "a", coordinator: "node1", record: forged), committed: fixture.record)
        }
        #expect(try String(contentsOfFile: fixture.path, encoding: .utf8) == before)
        // A renumbered node in the file is never "fixed" by renumbering: the prepare is refused.
        var renumbered = try fixture.joined("node2")
        renumbered.members[0].nodeID = 2
        renumbered.members[1].nodeID = 1
        await #expect(throws: SFHAError.self) {
            try await fixture.applier.prepare(MembershipPrepareRequest(id: "b", coordinator: "node1", record: renumbered), committed: nil)
        }
        #expect(try String(contentsOfFile: fixture.path, encoding: .utf8) == before)
    }

    @Test func theIssuersMeshKeepsTheInvitationsPeerWhileHeld() async throws {
        let mesh = FakeMeshController()
        let key = WireGuardPrivateKey.generate()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hold-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let spec = try MeshInterfaceSpec(privateKey: key, address: try IPv4Network(parsing: "10.99.0.1/24"))
        try await mesh.bringUp(spec)
        let reconciler = MeshReconciler(mesh: mesh, nodeName: "node1", configPath: directory + "/wg-sfha.conf", logger: Logger(label: "test"))
        let record = try MembershipRecord.founding(
            clusterName: "t", network: try IPv4Network(parsing: "10.99.0.0/24"), founder: "node1", publicKey: key.publicKey,
            endpoint: try MeshEndpoint(parsing: "192.0.2.1:51820"), at: Date())
        let invitation = WireGuardPrivateKey.generate().publicKey
        let (invited, _) = try record.inviting(invitation, issuer: "node1", at: Date())
        await reconciler.apply(invited)
        let hold = await reconciler.hold()
        let joinerKey = WireGuardPrivateKey.generate().publicKey
        let (joined, _) = try invited.redeeming(invitation, name: "node2", publicKey: joinerKey, endpoint: try MeshEndpoint(parsing: "192.0.2.2:51820"), at: Date())
        await reconciler.apply(joined)
        #expect(try await mesh.state(of: "wg-sfha")?.peers.map(\.publicKey) == [invitation])
        // The joiner's own key is admitted before the answer, without its address (the invitation's peer keeps it
        // until the answer is sent) and without keepalive.
        let joinerPeer = try #require(joined.meshPeers(for: "node1").first { $0.publicKey == joinerKey })
        await reconciler.admit(joinerPeer)
        let admitted = try #require(try await mesh.state(of: "wg-sfha")?.peers.first { $0.publicKey == joinerKey })
        #expect(admitted.allowedIPs.isEmpty && admitted.persistentKeepalive == nil)
        let invitationPeer = try #require(try await mesh.state(of: "wg-sfha")?.peers.first { $0.publicKey == invitation })
        #expect(invitationPeer.allowedIPs.map(\.description) == ["10.99.0.2/32"])
        await reconciler.release(hold)
        #expect(try await mesh.state(of: "wg-sfha")?.peers.map(\.publicKey) == [joinerKey])
    }
}
