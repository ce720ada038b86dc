import Crypto
import Foundation
import SFHABase

/// A WireGuard public key: 32 bytes, written as base64 (44 characters) like `wg` does.
public struct WireGuardPublicKey: Sendable, Hashable, TextCodable, Comparable {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws(SFHAError) {
        guard bytes.count == WireGuardPrivateKey.byteCount else {
            throw SFHAError(.invalidArgument, "a WireGuard public key has \(WireGuardPrivateKey.byteCount) bytes, not \(bytes.count)")
        }
        self.bytes = bytes
    }

    /// Parses the base64 form (`wg pubkey`'s output). Anything else — other lengths, other alphabets, whitespace —
    /// is refused.
    public init(base64 text: String) throws(SFHAError) {
        guard let bytes = WireGuardPrivateKey.decode(text) else {
            throw SFHAError(.invalidArgument, "\(String(reflecting: String(text.prefix(60)))) is not a WireGuard public key "
                + "(\(WireGuardPrivateKey.base64Length) characters of base64, as printed by 'wg pubkey')")
        }
        try self.init(bytes: bytes)
    }

    public var base64: String { Data(bytes).base64EncodedString() }
    public var description: String { base64 }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }

    public init(text: String) throws(SFHAError) { try self.init(base64: text) }
}

/// A WireGuard private key (X25519, the same curve as swift-crypto's `Curve25519.KeyAgreement`). Its description
/// never shows the key: it may be logged or printed by mistake and stays secret. Only `base64ForWireGuard` gives
/// the key itself, for `wg`'s standard input and the 0600 configuration file.
public struct WireGuardPrivateKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    static let byteCount = 32
    static let base64Length = 44

    private let key: Curve25519.KeyAgreement.PrivateKey

    /// A fresh key from the system's secure random source.
    public static func generate() -> WireGuardPrivateKey { WireGuardPrivateKey(key: Curve25519.KeyAgreement.PrivateKey()) }

    private init(key: Curve25519.KeyAgreement.PrivateKey) { self.key = key }

    public init(base64 text: String) throws(SFHAError) {
        guard let bytes = Self.decode(text), bytes.count == Self.byteCount,
            let key = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: bytes)
        else {
            // The text itself is never repeated: it may be a key.
            throw SFHAError(.invalidArgument, "not a WireGuard private key (\(Self.base64Length) characters of base64, as printed by 'wg genkey')")
        }
        self.key = key
    }

    public var publicKey: WireGuardPublicKey {
        // A valid private key always has a 32-byte public key.
        try! WireGuardPublicKey(bytes: Array(key.publicKey.rawRepresentation))
    }

    /// The key as `wg` reads it (base64). Only for `wg`'s standard input and the 0600 file: never for argv or logs.
    public var base64ForWireGuard: String { key.rawRepresentation.base64EncodedString() }

    public var description: String { "<private key of \(publicKey)>" }
    public var debugDescription: String { description }

    /// The X25519 shared secret with `peer` (the same on both ends); nil for a degenerate peer key.
    public func sharedSecret(with peer: WireGuardPublicKey) -> [UInt8]? {
        guard let other = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: peer.bytes),
            let secret = try? key.sharedSecretFromKeyAgreement(with: other)
        else { return nil }
        return secret.withUnsafeBytes { Array($0) }
    }

    /// Strict base64 of 32 bytes: 43 characters of the alphabet and one '='.
    static func decode(_ text: String) -> [UInt8]? {
        guard text.utf8.count == base64Length, text.hasSuffix("="),
            text.utf8.dropLast().allSatisfy({ byte in
                (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "/")
            }),
            let data = Data(base64Encoded: text), data.count == byteCount
        else { return nil }
        return Array(data)
    }
}
