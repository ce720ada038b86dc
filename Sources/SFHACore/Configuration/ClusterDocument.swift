import Crypto
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
        SHA256.hash(data: canonicalEncoding(of: configuration)).hexEncoded
    }

    /// The highest revision a document may have. Counting up by one per committed change never gets anywhere near
    /// it; it leaves room above so that `revision + 1` can never overflow, and keeps revisions within what signed
    /// 64-bit integers (and so every JSON reader worth the name) hold.
    public static let maximumRevision = UInt64(Int64.max)

    /// The revisions a valid document may have.
    public static let acceptableRevisions: ClosedRange<UInt64> = 1...maximumRevision

    /// The next revision of this document with `configuration`, or `self` when the content is unchanged.
    ///
    /// Throws, and nothing changes, when this document's revision is already `maximumRevision` or above: only a
    /// forged or corrupted document gets there, and the change must be refused rather than wrap around or crash.
    public func revised(with configuration: ClusterConfiguration) throws(ConfigurationError) -> ClusterDocument {
        let hash = Self.contentHash(of: configuration)
        guard hash != contentHash else { return self }
        guard revision < Self.maximumRevision else {
            throw ConfigurationError(ConfigurationDiagnostic(
                file: Self.defaultOrigin, line: 0, column: 0, keyPath: "revision",
                message: "\(revision) leaves no next revision (the highest is \(Self.maximumRevision)): the change is "
                    + "refused; only a forged or corrupted document has such a revision"))
        }
        return ClusterDocument(revision: revision + 1, configuration: configuration)
    }

    /// `revised(with:)` for callers that have no way to report a refusal: when the revision cannot advance, the
    /// change is dropped and `self` comes back, as if nothing had changed (it never traps). Prefer
    /// `revised(with:)`, which says why.
    public func updated(with configuration: ClusterConfiguration) -> ClusterDocument {
        (try? revised(with: configuration)) ?? self
    }

    /// This document, when it may be adopted: a document received from another node or read from disk must pass
    /// this check first. Its revision is in `acceptableRevisions`, `contentHash` is the hash of its configuration,
    /// and the configuration passes `ClusterConfiguration.validated(origin:)` (what config.yml would accept).
    /// Deterministic: every node reaches the same verdict on the same document. `origin` names the document in
    /// errors ("cluster document from node2").
    public func validated(origin: String = ClusterDocument.defaultOrigin) throws(ConfigurationError) -> ClusterDocument {
        try Self.checkRevision(revision, origin: origin)
        let actualHash = Self.contentHash(of: configuration)
        guard actualHash == contentHash else {
            throw ConfigurationError(ConfigurationDiagnostic(
                file: origin, line: 0, column: 0, keyPath: "contentHash",
                message: "\(quoted(contentHash)) is not the hash of the document's configuration (\(actualHash)): "
                    + "the document is corrupted or forged; it is refused"))
        }
        _ = try configuration.validated(origin: origin)
        return self
    }

    /// True when `validated()` accepts the document (it renders and parses the configuration: not free).
    public var isAcceptable: Bool {
        (try? validated()) != nil
    }

    /// How documents are named in errors by default.
    public static let defaultOrigin = "cluster document"

    private static func checkRevision(_ revision: UInt64, origin: String) throws(ConfigurationError) {
        guard acceptableRevisions.contains(revision) else {
            throw ConfigurationError(ConfigurationDiagnostic(
                file: origin, line: 0, column: 0, keyPath: "revision",
                message: "\(revision) is out of range (expected \(acceptableRevisions.lowerBound) to "
                    + "\(acceptableRevisions.upperBound)): the document is corrupted or forged; it is refused"))
        }
    }

    public var description: String {
        "ClusterDocument(revision: \(revision), hash: \(contentHash.prefix(12)), \(configuration))"
    }

    enum CodingKeys: String, CodingKey { case revision, configuration, contentHash }

    /// Decoding recomputes the hash and refuses a document whose content does not match it, or whose revision is
    /// not in `acceptableRevisions`. It does not validate the configuration: use `validated(origin:)` for that.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        revision = try c.decode(UInt64.self, forKey: .revision)
        guard Self.acceptableRevisions.contains(revision) else {
            throw DecodingError.dataCorruptedError(
                forKey: .revision, in: c,
                debugDescription: "revision \(revision) is out of range (expected \(Self.acceptableRevisions.lowerBound) "
                    + "to \(Self.acceptableRevisions.upperBound))")
        }
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
