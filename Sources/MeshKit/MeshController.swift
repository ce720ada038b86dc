import Foundation
import SFHABase
import Synchronization

/// The WireGuard interface of the mesh, as an effect: sfha derives the peer set from the membership record and hands
/// it here; the real implementation drives `ip` and `wg`, the fake keeps it in memory.
public protocol MeshController: Sendable {
    /// Creates the interface if it is missing (kernel WireGuard, else `wireguard-go`), sets its key and port, its
    /// mesh address, and brings it up. Idempotent.
    func bringUp(_ spec: MeshInterfaceSpec) async throws(SFHAError)
    /// Makes the interface's peers exactly `peers` (matched by public key): adds the missing ones, updates the
    /// changed ones, removes the others. A peer without an endpoint keeps the one WireGuard learnt.
    func apply(peers: [MeshPeer], on interface: String) async throws(SFHAError)
    /// Adds `peer` or updates it (matched by public key), leaving every other peer as it is.
    func set(peer: MeshPeer, on interface: String) async throws(SFHAError)
    /// What WireGuard reports now (nil: no such interface).
    func state(of interface: String) async throws(SFHAError) -> MeshState?
    /// Removes the interface (a `wireguard-go` process exits with it). Nothing to do when it is absent.
    func tearDown(_ interface: String) async throws(SFHAError)
}

/// Parses `wg show IFACE dump`. The interface line's first field is the private key: it is dropped at once and never
/// stored or quoted in an error.
public enum WireGuardDump {
    public static func parse(_ text: String) throws(SFHAError) -> MeshState {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard let first = lines.first else { throw SFHAError(.commandFailed, "'wg show dump' printed nothing") }
        let interface = first.split(separator: "\t", omittingEmptySubsequences: false)
        guard interface.count == 4, let port = UInt16(interface[2]) else {
            throw SFHAError(.commandFailed, "'wg show dump' printed an interface line of \(interface.count) fields, expected 4")
        }
        let publicKey = interface[1] == "(none)" ? nil : try WireGuardPublicKey(base64: String(interface[1]))
        var peers: [MeshPeerState] = []
        for (index, line) in lines.dropFirst().enumerated() {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            func fail(_ what: String) -> SFHAError { SFHAError(.commandFailed, "'wg show dump' peer line \(index + 1): \(what)") }
            guard fields.count == 8 else { throw fail("\(fields.count) fields, expected 8") }
            let key = try WireGuardPublicKey(base64: fields[0])
            let endpoint = fields[2] == "(none)" ? nil : try MeshEndpoint(parsing: fields[2])
            var allowed: [IPv4Network] = []
            if fields[3] != "(none)" {
                for item in fields[3].split(separator: ",") {
                    // sfha routes only IPv4 mesh addresses; anything else was not set by sfha and is reported as such.
                    guard let network = try? IPv4Network(parsing: String(item)) else { throw fail("allowed IP \(String(reflecting: String(item))) is not IPv4") }
                    allowed.append(network)
                }
            }
            guard let handshake = UInt64(fields[4]), let received = UInt64(fields[5]), let sent = UInt64(fields[6]) else {
                throw fail("handshake or transfer counters are not numbers")
            }
            let keepalive: Int?
            if fields[7] == "off" { keepalive = nil } else if let seconds = Int(fields[7]), (1...65535).contains(seconds) { keepalive = seconds } else {
                throw fail("persistent keepalive \(String(reflecting: fields[7])) is neither off nor 1 to 65535")
            }
            peers.append(MeshPeerState(
                publicKey: key, endpoint: endpoint, allowedIPs: allowed,
                latestHandshake: handshake == 0 ? nil : Date(timeIntervalSince1970: TimeInterval(handshake)),
                receivedBytes: received, sentBytes: sent, persistentKeepalive: keepalive))
        }
        return MeshState(publicKey: publicKey, listenPort: port, peers: peers.sorted { $0.publicKey < $1.publicKey })
    }
}

/// The real mesh: `ip` for the link and its address, `wg` for keys and peers, `wireguard-go` when the kernel has no
/// WireGuard. Programs run with argument arrays; the private key goes to `wg` on its standard input only.
public struct WireGuardCommandController: MeshController {
    let runner: any ProgramRunner

    public init(runner: any ProgramRunner = SystemProgramRunner()) {
        self.runner = runner
    }

    public func bringUp(_ spec: MeshInterfaceSpec) async throws(SFHAError) {
        if try await !exists(spec.name) {
            let kernel = try await runner.run("ip", ["link", "add", "dev", spec.name, "type", "wireguard"], timeout: .seconds(10))
            if !kernel.succeeded {
                // No WireGuard in this kernel: the userspace implementation creates a TUN device of that name. It
                // refuses to run on Linux unless told that this is deliberate.
                let userspace = try await runner.run(
                    "env", ["WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1", "wireguard-go", spec.name], timeout: .seconds(10))
                guard userspace.succeeded else {
                    let detail = (kernel.standardError + " / " + userspace.standardError).trimmingCharacters(in: .whitespacesAndNewlines)
                    throw SFHAError(
                        .commandFailed,
                        "cannot create WireGuard interface \(spec.name): the kernel has no WireGuard and wireguard-go failed (\(detail)); "
                            + "install wireguard-go or load the wireguard module")
                }
            }
        }
        try await runner.check(
            "wg", ["set", spec.name, "listen-port", String(spec.listenPort), "private-key", "/dev/stdin"],
            input: Array((spec.privateKey.base64ForWireGuard + "\n").utf8), timeout: .seconds(10))
        try await runner.check("ip", ["address", "replace", spec.address.description, "dev", spec.name], timeout: .seconds(10))
        try await runner.check("ip", ["link", "set", "dev", spec.name, "mtu", String(MeshInterfaceSpec.mtu), "up"], timeout: .seconds(10))
    }

    public func apply(peers: [MeshPeer], on interface: String) async throws(SFHAError) {
        guard let current = try await state(of: interface) else {
            throw SFHAError(.notFound, "WireGuard interface \(interface) does not exist: bring the mesh up first")
        }
        let wanted = Dictionary(peers.map { ($0.publicKey, $0) }, uniquingKeysWith: { _, last in last })
        for present in current.peers where wanted[present.publicKey] == nil {
            try await runner.check("wg", ["set", interface, "peer", present.publicKey.base64, "remove"], timeout: .seconds(10))
        }
        let present = Dictionary(current.peers.map { ($0.publicKey, $0) }, uniquingKeysWith: { _, last in last })
        for peer in wanted.values.sorted(by: { $0.publicKey < $1.publicKey }) {
            if let now = present[peer.publicKey], Self.matches(now, peer) { continue }
            try await runner.check("wg", Self.setArguments(interface, peer), timeout: .seconds(10))
        }
    }

    public func set(peer: MeshPeer, on interface: String) async throws(SFHAError) {
        try await runner.check("wg", Self.setArguments(interface, peer), timeout: .seconds(10))
    }

    /// `wg set IFACE peer KEY allowed-ips … [endpoint …] persistent-keepalive …` (the allowed IPs are replaced).
    static func setArguments(_ interface: String, _ peer: MeshPeer) -> [String] {
        var arguments = ["set", interface, "peer", peer.publicKey.base64, "allowed-ips", peer.allowedIPs.map(\.description).joined(separator: ",")]
        if let endpoint = peer.endpoint { arguments += ["endpoint", endpoint.description] }
        arguments += ["persistent-keepalive", peer.persistentKeepalive.map(String.init) ?? "off"]
        return arguments
    }

    static func matches(_ state: MeshPeerState, _ peer: MeshPeer) -> Bool {
        Set(state.allowedIPs) == Set(peer.allowedIPs) && state.persistentKeepalive == peer.persistentKeepalive
            && (peer.endpoint == nil || state.endpoint == peer.endpoint)
    }

    public func state(of interface: String) async throws(SFHAError) -> MeshState? {
        guard try await exists(interface) else { return nil }
        let result = try await runner.check("wg", ["show", interface, "dump"], timeout: .seconds(10))
        return try WireGuardDump.parse(result.standardOutput)
    }

    public func tearDown(_ interface: String) async throws(SFHAError) {
        guard try await exists(interface) else { return }
        try await runner.check("ip", ["link", "delete", "dev", interface], timeout: .seconds(10))
    }

    private func exists(_ interface: String) async throws(SFHAError) -> Bool {
        if let problem = MeshInterfaceSpec.interfaceNameProblem(interface) { throw SFHAError(.invalidArgument, problem) }
        return try await runner.run("ip", ["-o", "link", "show", "dev", interface], timeout: .seconds(10)).succeeded
    }
}

/// The mesh in memory, for tests and the simulator: what was brought up and which peers are set.
public final class FakeMeshController: MeshController {
    private struct Interface {
        var spec: MeshInterfaceSpec
        var peers: [WireGuardPublicKey: MeshPeer]
    }

    private let interfaces = Mutex<[String: Interface]>([:])

    public init() {}

    public func bringUp(_ spec: MeshInterfaceSpec) async throws(SFHAError) {
        interfaces.withLock { all in
            let peers = all[spec.name]?.peers ?? [:]
            all[spec.name] = Interface(spec: spec, peers: peers)
        }
    }

    public func apply(peers: [MeshPeer], on interface: String) async throws(SFHAError) {
        let found = interfaces.withLock { all -> Bool in
            guard var current = all[interface] else { return false }
            var next: [WireGuardPublicKey: MeshPeer] = [:]
            for var peer in peers {
                if peer.endpoint == nil { peer.endpoint = current.peers[peer.publicKey]?.endpoint }
                next[peer.publicKey] = peer
            }
            current.peers = next
            all[interface] = current
            return true
        }
        guard found else { throw SFHAError(.notFound, "WireGuard interface \(interface) does not exist: bring the mesh up first") }
    }

    public func set(peer: MeshPeer, on interface: String) async throws(SFHAError) {
        let found = interfaces.withLock { all -> Bool in
            guard var current = all[interface] else { return false }
            var peer = peer
            if peer.endpoint == nil { peer.endpoint = current.peers[peer.publicKey]?.endpoint }
            current.peers[peer.publicKey] = peer
            all[interface] = current
            return true
        }
        guard found else { throw SFHAError(.notFound, "WireGuard interface \(interface) does not exist: bring the mesh up first") }
    }

    public func state(of interface: String) async throws(SFHAError) -> MeshState? {
        interfaces.withLock { all in
            all[interface].map { current in
                MeshState(
                    publicKey: current.spec.privateKey.publicKey, listenPort: current.spec.listenPort,
                    peers: current.peers.values.sorted { $0.publicKey < $1.publicKey }.map {
                        MeshPeerState(
                            publicKey: $0.publicKey, endpoint: $0.endpoint, allowedIPs: $0.allowedIPs, latestHandshake: nil,
                            receivedBytes: 0, sentBytes: 0, persistentKeepalive: $0.persistentKeepalive)
                    })
            }
        }
    }

    public func tearDown(_ interface: String) async throws(SFHAError) {
        _ = interfaces.withLock { $0.removeValue(forKey: interface) }
    }

    /// The address the interface was brought up with (nil: not up).
    public func address(of interface: String) -> IPv4Network? { interfaces.withLock { $0[interface]?.spec.address } }
}
