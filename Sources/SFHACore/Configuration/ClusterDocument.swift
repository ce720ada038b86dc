import Foundation
import SFHABase

/// The replicated form of the cluster-wide configuration: `config.yml` is the operator's source, this document is
/// what nodes exchange and compare. `contentHash` identifies the content (two nodes with the same hash run the same
/// cluster configuration); `revision` orders successive versions.
///
/// The canonical encoding contains secrets (`stonith.proxmox.tokenSecret`, webhook headers): store it 0600 and send
/// it only over authenticated, encrypted channels. Its `description` redacts them.
public struct ClusterDocument: Sendable, Equatable, Codable, CustomStringConvertible {
    public var revision: UInt64
    public var configuration: ClusterConfiguration
    /// Lowercase hex SHA-256 of `ClusterDocument.canonicalEncoding(of: configuration)`.
    public let contentHash: String

    public init(revision: UInt64, configuration: ClusterConfiguration) {
        self.revision = revision
        self.configuration = configuration
        self.contentHash = Self.contentHash(of: configuration)
    }

    /// The canonical bytes of a configuration: JSON, keys sorted, no insignificant whitespace, slashes unescaped,
    /// durations as integer milliseconds, dictionaries as objects (so key order never depends on hashing).
    /// Stable across runs and processes.
    public static func canonicalEncoding(of configuration: ClusterConfiguration) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(configuration))
        } catch {
            // Every value in the model is encodable (strings, integers, booleans, arrays, string-keyed objects).
            preconditionFailure("ClusterConfiguration failed to encode: \(error)")
        }
    }

    public static func contentHash(of configuration: ClusterConfiguration) -> String {
        SHA256Hasher.hexDigest(canonicalEncoding(of: configuration))
    }

    /// The next revision of this document with `configuration`, or `self` when the content is unchanged.
    public func updated(with configuration: ClusterConfiguration) -> ClusterDocument {
        let hash = Self.contentHash(of: configuration)
        guard hash != contentHash else { return self }
        return ClusterDocument(revision: revision + 1, configuration: configuration)
    }

    public var description: String {
        "ClusterDocument(revision: \(revision), hash: \(contentHash.prefix(12)), \(configuration))"
    }

    enum CodingKeys: String, CodingKey { case revision, configuration, contentHash }

    /// Decoding recomputes the hash and refuses a document whose content does not match it.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        revision = try c.decode(UInt64.self, forKey: .revision)
        configuration = try c.decode(ClusterConfiguration.self, forKey: .configuration)
        let claimed = try c.decode(String.self, forKey: .contentHash)
        contentHash = Self.contentHash(of: configuration)
        guard claimed == contentHash else {
            throw DecodingError.dataCorruptedError(
                forKey: .contentHash, in: c,
                debugDescription: "content hash mismatch: document says \(claimed), content hashes to \(contentHash)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(revision, forKey: .revision)
        try c.encode(configuration, forKey: .configuration)
        try c.encode(contentHash, forKey: .contentHash)
    }
}
