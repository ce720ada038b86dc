import Foundation

/// What sfhad daemons say to each other over the corosync process group `sfha`. Every member delivers every
/// message in the same total order, so every daemon applies the same history and reaches the same decisions.
///
/// Every message is hostile until validated (`DaemonState` checks ranges, names and who sent it): any process
/// allowed to talk to corosync can join the group.
public enum ClusterMessage: Sendable, Equatable, Codable {
    /// A node's full state (idempotent; sent on change, on membership changes, and as a low-rate heartbeat).
    case report(NodeStateReport)
    /// A proposed new revision of the cluster document. Committed by every member when its `baseRevision` is the
    /// current revision at delivery and the ring holds a majority of the nodes; otherwise every member rejects it
    /// the same way.
    case proposal(ConfigurationProposal)
    /// The sender's committed document, sent when a node joins so that it catches up.
    case document(ClusterDocument)
    /// An operator command that changes replicated runtime state.
    case command(ClusterCommand)
    /// A proposed new revision of the membership record; committed like a configuration proposal.
    case membershipProposal(MembershipProposal)
    /// The sender's committed membership record, sent when a daemon joins so that it catches up.
    case membership(MembershipDocument)

    /// Encoded messages larger than this are neither sent nor decoded (a whole configuration fits many times).
    public static let maximumSize = 1 << 20

    /// Wire format: JSON with a version tag, so a mixed-version cluster can tell what it cannot read.
    public func encoded() throws -> [UInt8] {
        let bytes = Array(try JSONEncoder().encode(Envelope(version: Envelope.currentVersion, message: self)))
        guard bytes.count <= Self.maximumSize else {
            throw EncodingError.invalidValue(self, .init(codingPath: [], debugDescription: "message of \(bytes.count) bytes exceeds \(Self.maximumSize)"))
        }
        return bytes
    }

    public static func decode(_ bytes: [UInt8]) throws -> ClusterMessage {
        guard bytes.count <= maximumSize else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "message of \(bytes.count) bytes exceeds \(maximumSize)"))
        }
        let envelope = try JSONDecoder().decode(Envelope.self, from: Data(bytes))
        guard envelope.version == Envelope.currentVersion else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "unsupported sfha message version \(envelope.version)"))
        }
        return envelope.message
    }

    struct Envelope: Codable {
        /// 2: reports carry their place in the order, the ring evidence and the previous ring.
        static let currentVersion = 2
        var version: Int
        var message: ClusterMessage
    }
}

/// A place in the process group's total order: the membership change it follows (every member delivers it at the
/// same point) and the number of messages delivered since. Two positions compare only within one membership.
public struct StreamPosition: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Identifies the membership change (ring and members) the position counts from.
    public var membership: UInt64
    public var index: UInt64

    public init(membership: UInt64, index: UInt64) {
        self.membership = membership
        self.index = index
    }

    public var description: String { "\(String(membership, radix: 16)):\(index)" }
}

/// One node's state as published to the others.
public struct NodeStateReport: Sendable, Equatable, Codable {
    public var report: NodeReport
    /// The revision and hash of the cluster document this node runs.
    public var configurationRevision: UInt64
    public var configurationHash: String
    /// Increases with every report from this daemon instance (heartbeats included).
    public var sequence: UInt64
    /// How far in the group's order the sender had read when it wrote this report: a report written before the
    /// others decided something about the sender (that it hung, for one) counts for nothing.
    public var basedOn: StreamPosition?
    /// The sender's corosync gather counter when the report was handed to corosync (its ring-evidence anchor).
    public var anchorBase: UInt64?
    /// What the sender knows of the ring it was in before the current one (for the others' acquisition fence).
    public var previousRing: PreviousRingSummary?

    public init(
        report: NodeReport, configurationRevision: UInt64, configurationHash: String, sequence: UInt64,
        basedOn: StreamPosition? = nil, anchorBase: UInt64? = nil, previousRing: PreviousRingSummary? = nil
    ) {
        self.report = report
        self.configurationRevision = configurationRevision
        self.configurationHash = configurationHash
        self.sequence = sequence
        self.basedOn = basedOn
        self.anchorBase = anchorBase
        self.previousRing = previousRing
    }
}

public struct ConfigurationProposal: Sendable, Equatable, Codable {
    /// Identifies the proposal so the proposer can tell its operator the outcome.
    public var id: String
    public var proposer: String
    public var baseRevision: UInt64
    public var configuration: ClusterConfiguration

    public init(id: String, proposer: String, baseRevision: UInt64, configuration: ClusterConfiguration) {
        self.id = id
        self.proposer = proposer
        self.baseRevision = baseRevision
        self.configuration = configuration
    }
}

/// Replicated operator commands.
public enum ClusterCommand: Sendable, Equatable, Codable {
    case move(group: String, request: MoveRequest?)
    case cleanup(group: String?, node: String?)
}
