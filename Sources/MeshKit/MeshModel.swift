import Foundation
import SFHABase

/// Where a peer's WireGuard listens: an IP address (v4 or v6) and a UDP port. Host names are refused: the mesh is
/// derived from the membership record, which stores addresses, and `wg` would resolve a name once and keep it.
public struct MeshEndpoint: Sendable, Hashable, TextCodable {
    public var address: IPAddress
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) throws(SFHAError) {
        guard port > 0 else { throw SFHAError(.invalidArgument, "port 0 is not a WireGuard endpoint port (1 to 65535)") }
        self.address = address
        self.port = port
    }

    /// `192.0.2.1:51820` or `[2001:db8::1]:51820` (the form `wg` prints and reads).
    public init(parsing text: String) throws(SFHAError) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw SFHAError(.invalidArgument, "\(String(reflecting: text)) is not an endpoint: expected [IPv6]:PORT")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon else {
                throw SFHAError(.invalidArgument, "\(String(reflecting: text)) is not an endpoint: expected IPv4:PORT or [IPv6]:PORT")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard let address = IPAddress(host) else {
            throw SFHAError(.invalidArgument, "\(String(reflecting: String(host))) in endpoint \(String(reflecting: text)) is not an IP address")
        }
        guard !portText.isEmpty, portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = UInt16(portText), port > 0 else {
            throw SFHAError(.invalidArgument, "\(String(reflecting: text)) has no valid port (1 to 65535)")
        }
        try self.init(address: address, port: port)
    }

    public var description: String {
        switch address {
        case .v4: "\(address):\(port)"
        case .v6: "[\(address)]:\(port)"
        }
    }

    public init(text: String) throws(SFHAError) { try self.init(parsing: text) }
}

/// An IPv4 network in CIDR form (`10.99.0.0/24`): the mesh network, or a peer's allowed address (`/32`).
public struct IPv4Network: Sendable, Hashable, TextCodable {
    public var address: IPv4Address
    public var prefixLength: Int

    public init(address: IPv4Address, prefixLength: Int) throws(SFHAError) {
        guard (0...32).contains(prefixLength) else {
            throw SFHAError(.invalidArgument, "/\(prefixLength) is not an IPv4 prefix length (0 to 32)")
        }
        self.address = address
        self.prefixLength = prefixLength
    }

    public init(parsing text: String) throws(SFHAError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPv4Address(parts[0]), !parts[1].isEmpty, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
            let length = Int(parts[1])
        else {
            throw SFHAError(.invalidArgument, "\(String(reflecting: text)) is not an IPv4 network (ADDRESS/PREFIX, e.g. 10.99.0.0/24)")
        }
        try self.init(address: address, prefixLength: length)
    }

    /// One address.
    public static func host(_ address: IPv4Address) -> IPv4Network { try! IPv4Network(address: address, prefixLength: 32) }

    private var mask: UInt32 { prefixLength == 0 ? 0 : ~UInt32(0) << UInt32(32 - prefixLength) }

    public var networkAddress: IPv4Address { IPv4Address(rawValue: address.rawValue & mask) }

    public func contains(_ other: IPv4Address) -> Bool { other.rawValue & mask == address.rawValue & mask }

    public func overlaps(_ other: IPv4Network) -> Bool { contains(other.networkAddress) || other.contains(networkAddress) }

    public var description: String { "\(address)/\(prefixLength)" }

    public init(text: String) throws(SFHAError) { try self.init(parsing: text) }
}

/// One member of the mesh as this node's WireGuard sees it: its key, the mesh addresses routed to it, where it
/// listens, and how often to keep the path open.
public struct MeshPeer: Sendable, Hashable, Codable, CustomStringConvertible {
    public var publicKey: WireGuardPublicKey
    public var allowedIPs: [IPv4Network]
    public var endpoint: MeshEndpoint?
    /// Seconds between keepalive packets (nil: none). sfha keeps paths open: nodes behind NAT must stay reachable.
    public var persistentKeepalive: Int?

    public static let defaultKeepalive = 25

    public init(publicKey: WireGuardPublicKey, allowedIPs: [IPv4Network], endpoint: MeshEndpoint? = nil, persistentKeepalive: Int? = MeshPeer.defaultKeepalive) {
        self.publicKey = publicKey
        self.allowedIPs = allowedIPs.sorted { ($0.address, $0.prefixLength) < ($1.address, $1.prefixLength) }
        self.endpoint = endpoint
        self.persistentKeepalive = persistentKeepalive
    }

    public var description: String {
        "peer \(publicKey) allowed \(allowedIPs.map(\.description).joined(separator: ",")) endpoint \(endpoint?.description ?? "none")"
    }
}

/// This node's side of the mesh: the interface, its key, the UDP port it listens on, and its mesh address.
public struct MeshInterfaceSpec: Sendable, CustomStringConvertible {
    public var name: String
    public var privateKey: WireGuardPrivateKey
    public var listenPort: UInt16
    /// This node's mesh address with the mesh network's prefix (`10.99.0.1/24`).
    public var address: IPv4Network

    public static let defaultName = "wg-sfha"
    public static let defaultPort: UInt16 = 51820
    /// WireGuard's usual MTU over an IPv4 or IPv6 underlay (1500 minus its overhead).
    public static let mtu = 1420

    public init(name: String = MeshInterfaceSpec.defaultName, privateKey: WireGuardPrivateKey, listenPort: UInt16 = MeshInterfaceSpec.defaultPort, address: IPv4Network) throws(SFHAError) {
        if let problem = MeshInterfaceSpec.interfaceNameProblem(name) { throw SFHAError(.invalidArgument, problem) }
        guard listenPort > 0 else { throw SFHAError(.invalidArgument, "port 0 is not a WireGuard listen port (1 to 65535)") }
        self.name = name
        self.privateKey = privateKey
        self.listenPort = listenPort
        self.address = address
    }

    /// The kernel's rules for interface names (1–15 bytes, no '/', ':', whitespace or control characters, not '.'
    /// or '..'), plus no leading '-' so that a name can never read as an option.
    public static func interfaceNameProblem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        guard (1...15).contains(bytes.count), name != ".", name != "..", bytes.first != UInt8(ascii: "-"),
            bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: ":") })
        else { return "\(String(reflecting: name)) is not a valid interface name (1 to 15 printable ASCII characters, no '/', ':' or leading '-')" }
        return nil
    }

    public var description: String { "\(name) \(address) port \(listenPort) key \(privateKey.publicKey)" }
}

/// What WireGuard reports about a peer (`wg show IFACE dump`).
public struct MeshPeerState: Sendable, Hashable, Codable {
    public var publicKey: WireGuardPublicKey
    public var endpoint: MeshEndpoint?
    public var allowedIPs: [IPv4Network]
    /// The last completed handshake (nil: none yet).
    public var latestHandshake: Date?
    public var receivedBytes: UInt64
    public var sentBytes: UInt64
    public var persistentKeepalive: Int?

    public var peer: MeshPeer {
        MeshPeer(publicKey: publicKey, allowedIPs: allowedIPs, endpoint: endpoint, persistentKeepalive: persistentKeepalive)
    }
}

/// The interface as WireGuard reports it. It never holds the private key (the dump's first field is dropped).
public struct MeshState: Sendable, Hashable, Codable {
    public var publicKey: WireGuardPublicKey?
    public var listenPort: UInt16
    public var peers: [MeshPeerState]
}

/// A value written as its text in JSON (`description`), and parsed — so checked like any other input — when decoded.
public protocol TextCodable: Codable, CustomStringConvertible {
    init(text: String) throws(SFHAError)
}

extension TextCodable {
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(text: text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
