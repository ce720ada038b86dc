import Crypto
import DequeModule
import Foundation
import SFHABase
import Synchronization

/// The cluster's P2P key: 32 random bytes every member holds (distinct from corosync's authkey), with which every P2P
/// request and answer is signed (HMAC-SHA256). Its description never shows it.
public struct P2PKey: Sendable, CustomStringConvertible {
    public static let byteCount = 32
    let key: SymmetricKey

    public static func generate() -> P2PKey { P2PKey(key: SymmetricKey(size: .bits256)) }

    init(key: SymmetricKey) { self.key = key }

    public init(bytes: [UInt8]) throws(SFHAError) {
        guard bytes.count == Self.byteCount else { throw SFHAError(.invalidArgument, "a P2P key has \(Self.byteCount) bytes, not \(bytes.count)") }
        key = SymmetricKey(data: bytes)
    }

    /// The key file's content (base64 and a newline; the file is written 0600).
    public var fileText: String { key.withUnsafeBytes { Data($0).base64EncodedString() } + "\n" }

    public init(fileText: String) throws(SFHAError) {
        let trimmed = fileText.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let data = Data(base64Encoded: trimmed), data.count == Self.byteCount else {
            throw SFHAError(.invalidArgument, "the P2P key file does not hold \(Self.byteCount) bytes of base64")
        }
        key = SymmetricKey(data: data)
    }

    public var description: String { "<P2P key>" }

    /// A key both ends derive from an X25519 shared secret (HKDF-SHA256 with a purpose label): the redeem call is
    /// signed with the key the invitation's private half and the issuer's WireGuard key agree on, so only the token's
    /// holder can make it and only the issuer can check it.
    public static func derived(fromSharedSecret secret: [UInt8], purpose: String) -> P2PKey {
        P2PKey(key: HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: secret), salt: Array("sfha p2p".utf8), info: Array(purpose.utf8), outputByteCount: byteCount))
    }
}

/// The headers that carry a request's authentication.
public enum P2PHeader {
    public static let timestamp = "X-SFHA-Timestamp"
    public static let nonce = "X-SFHA-Nonce"
    public static let signature = "X-SFHA-Signature"
}

/// What is signed, and how. A request's signature covers its method, path, timestamp, nonce and body; an answer's
/// covers its status, the request's nonce (so it cannot be replayed as the answer to another request) and its body.
public enum P2PSignature {
    static func canonical(_ parts: [String], body: [UInt8]) -> [UInt8] {
        let bodyHash = SHA256.hash(data: body).hexEncoded
        return Array((parts + [bodyHash]).joined(separator: "\n").utf8)
    }

    static func hex(_ code: some Sequence<UInt8>) -> String { code.hexEncoded }

    static func unhex(_ text: String) -> [UInt8]? {
        guard text.utf8.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            guard let h = nibble(high), let l = nibble(low) else { return nil }
            bytes.append(h << 4 | l)
        }
        return bytes
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    public static func request(method: String, path: String, timestamp: Int64, nonce: String, body: [UInt8], key: P2PKey) -> String {
        hex(HMAC<SHA256>.authenticationCode(for: canonical([method, path, String(timestamp), nonce], body: body), using: key.key))
    }

    public static func answer(status: Int, requestNonce: String, body: [UInt8], key: P2PKey) -> String {
        hex(HMAC<SHA256>.authenticationCode(for: canonical([String(status), requestNonce], body: body), using: key.key))
    }

    /// Constant-time check of a hex signature (swift-crypto's `isValidAuthenticationCode`).
    static func isValid(_ signature: String, for message: [UInt8], key: P2PKey) -> Bool {
        guard signature.utf8.count == 64, let code = unhex(signature) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: message, using: key.key)
    }

    public static func isValidAnswer(_ signature: String, status: Int, requestNonce: String, body: [UInt8], key: P2PKey) -> Bool {
        isValid(signature, for: canonical([String(status), requestNonce], body: body), key: key)
    }

    /// 16 random bytes in hex.
    public static func newNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return hex((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }
}

/// Checks a request's signature, its freshness and that its nonce was not seen before. One per server; thread-safe.
public final class P2PAuthenticator: Sendable {
    /// How far a request's timestamp may be from this node's clock.
    public static let window: Int64 = 30
    /// Nonces remembered (of valid requests only: an attacker without the key cannot fill the cache).
    public static let maximumRememberedNonces = 65_536

    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case missingHeaders
        case malformedHeaders
        case stale(skew: Int64)
        case badSignature
        case replayed

        public var description: String {
            switch self {
            case .missingHeaders: "unsigned request (\(P2PHeader.timestamp), \(P2PHeader.nonce) and \(P2PHeader.signature) are required)"
            case .malformedHeaders: "malformed authentication headers"
            case .stale(let skew): "timestamp \(skew) s away from this node's clock (more than \(P2PAuthenticator.window) s: check NTP)"
            case .badSignature: "bad signature (not signed with this cluster's P2P key, or altered on the way)"
            case .replayed: "replayed request (its nonce was already used)"
            }
        }
    }

    private let seen = Mutex<(nonces: [String: Int64], order: Deque<(String, Int64)>)>(([:], []))

    public init() {}

    /// Checks a request signed with `key` (the key its source and path call for).
    public func verify(
        method: String, path: String, timestamp: String?, nonce: String?, signature: String?, body: [UInt8], key: P2PKey, now: Int64
    ) -> Refusal? {
        guard let timestamp, let nonce, let signature else { return .missingHeaders }
        guard timestamp.utf8.count <= 12, timestamp.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let time = Int64(timestamp), nonce.utf8.count == 32, P2PSignature.unhex(nonce) != nil
        else { return .malformedHeaders }
        let skew = time - now
        guard abs(skew) <= Self.window else { return .stale(skew: skew) }
        let message = P2PSignature.canonical([method, path, timestamp, nonce], body: body)
        guard P2PSignature.isValid(signature, for: message, key: key) else { return .badSignature }
        return seen.withLock { state -> Refusal? in
            // Forget nonces older than the window: a request that old is refused as stale anyway.
            while let (oldest, at) = state.order.first, at < now - 2 * Self.window || state.order.count >= Self.maximumRememberedNonces {
                state.order.removeFirst()
                if state.nonces[oldest] == at { state.nonces[oldest] = nil }
            }
            guard state.nonces[nonce] == nil else { return .replayed }
            state.nonces[nonce] = now
            state.order.append((nonce, now))
            return nil
        }
    }
}
