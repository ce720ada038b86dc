import Crypto
import Foundation
import SFHABase

/// The replicated form of the membership record: a revision and a content hash, committed over the process group
/// with quorum exactly like the cluster document (same revision, conflict and catch-up rules).
public struct MembershipDocument: Sendable, Equatable, Codable {
    public var revision: UInt64
    public var record: MembershipRecord
    /// Lowercase hex SHA-256 of the record's canonical JSON.
    public let contentHash: String

    public init(revision: UInt64, record: MembershipRecord) {
        self.revision = revision
        self.record = record
        self.contentHash = Self.contentHash(of: record)
    }

    public static func contentHash(of record: MembershipRecord) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .secondsSince1970
        // Every field is a string, a number or a date: encoding cannot fail.
        let bytes = try! encoder.encode(record)
        return SHA256.hash(data: bytes).hexEncoded
    }
}

/// A proposed new revision of the membership record (an invitation, a join, a removal).
public struct MembershipProposal: Sendable, Equatable, Codable {
    public var id: String
    public var proposer: String
    public var baseRevision: UInt64
    public var record: MembershipRecord
    /// The removal of the other node of a two-node cluster, which is not in the ring (`sfha node remove --force`
    /// of a node that is down for good, or one that was told to leave and left): the one exception to "a two-node
    /// cluster commits only with both nodes", and only for exactly that record.
    public var removesAbsentPeerOfTwo: Bool?

    public init(id: String, proposer: String, baseRevision: UInt64, record: MembershipRecord, removesAbsentPeerOfTwo: Bool? = nil) {
        self.id = id
        self.proposer = proposer
        self.baseRevision = baseRevision
        self.record = record
        self.removesAbsentPeerOfTwo = removesAbsentPeerOfTwo
    }
}

extension MembershipRecord {
    /// Why `self` cannot follow `previous` (nil: it can). A successor is valid on its own, belongs to the same
    /// cluster and mesh, never lowers an allocation counter, never changes a member's node id, address or key, and
    /// never forgets a removal (so an id, address or key once given is never given again).
    public func successionProblem(after previous: MembershipRecord) -> String? {
        do {
            _ = try validated()
        } catch {
            return error.message
        }
        guard clusterName == previous.clusterName, network == previous.network else { return "it is another cluster's record" }
        guard highestNodeID >= previous.highestNodeID, highestHost >= previous.highestHost else {
            return "it lowers an allocation counter (node ids and addresses are never reused)"
        }
        let before = Dictionary(previous.members.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for member in members {
            if let old = before[member.name], old.nodeID != member.nodeID || old.meshAddress != member.meshAddress || old.publicKey != member.publicKey {
                return "it changes member \(member.name)'s node id, address or key"
            }
        }
        let known = Set(tombstones.map(\.nodeID))
        let cappedAway = previous.tombstones.count >= MembershipRecord.maximumTombstones
        if !cappedAway, let forgotten = previous.tombstones.first(where: { !known.contains($0.nodeID) }) {
            return "it forgets the removal of \(forgotten.name) (node id \(forgotten.nodeID))"
        }
        let nowMembers = Set(members.map(\.nodeID))
        if let vanished = previous.members.first(where: { !nowMembers.contains($0.nodeID) && !known.contains($0.nodeID) }) {
            return "it drops member \(vanished.name) without a tombstone"
        }
        return nil
    }
}
