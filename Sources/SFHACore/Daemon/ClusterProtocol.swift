import Foundation

/// What sfhad daemons say to each other over the corosync process group `sfha`. Every member delivers every
/// message in the same total order, so every daemon applies the same history and reaches the same decisions.
public enum ClusterMessage: Sendable, Equatable, Codable {
    /// A node's full state (idempotent; sent on change, on membership changes, and as a low-rate heartbeat).
    case report(NodeStateReport)
    /// A proposed new revision of the cluster document. Committed by every member when its `baseRevision` is the
    /// current revision at delivery and the partition is quorate; otherwise every member rejects it the same way.
    case proposal(ConfigurationProposal)
    /// The sender's committed document, sent when a node joins so that it catches up.
    case document(ClusterDocument)
    /// An operator command that changes replicated runtime state.
    case command(ClusterCommand)

    /// Wire format: JSON with a version tag, so a mixed-version cluster can tell what it cannot read.
    public func encoded() throws -> [UInt8] {
        Array(try JSONEncoder().encode(Envelope(version: Envelope.currentVersion, message: self)))
    }

    public static func decode(_ bytes: [UInt8]) throws -> ClusterMessage {
        let envelope = try JSONDecoder().decode(Envelope.self, from: Data(bytes))
        guard envelope.version == Envelope.currentVersion else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "unsupported sfha message version \(envelope.version)"))
        }
        return envelope.message
    }

    struct Envelope: Codable {
        static let currentVersion = 1
        var version: Int
        var message: ClusterMessage
    }
}

/// One node's state as published to the others.
public struct NodeStateReport: Sendable, Equatable, Codable {
    public var report: NodeReport
    /// The revision and hash of the cluster document this node runs.
    public var configurationRevision: UInt64
    public var configurationHash: String
    /// Increases with every report from this daemon instance (heartbeats included).
    public var sequence: UInt64

    public init(report: NodeReport, configurationRevision: UInt64, configurationHash: String, sequence: UInt64) {
        self.report = report
        self.configurationRevision = configurationRevision
        self.configurationHash = configurationHash
        self.sequence = sequence
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
