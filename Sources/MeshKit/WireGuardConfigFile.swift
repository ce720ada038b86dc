import Foundation
import SFHABase

/// `/etc/wireguard/wg-sfha.conf`, in wg-quick's format, so that the mesh comes up at boot (`wg-quick@wg-sfha`)
/// before corosync, which talks over it. It holds this node's private key: written atomically with mode 0600.
public enum WireGuardConfigFile {
    public static func path(for interface: String = MeshInterfaceSpec.defaultName) -> String { "/etc/wireguard/\(interface).conf" }

    public static func render(_ spec: MeshInterfaceSpec, peers: [MeshPeer]) -> String {
        var lines = [
            "# Written by sfha from the cluster's membership record; edits are replaced.",
            "[Interface]",
            "PrivateKey = \(spec.privateKey.base64ForWireGuard)",
            "ListenPort = \(spec.listenPort)",
            "Address = \(spec.address)",
            "MTU = \(MeshInterfaceSpec.mtu)",
        ]
        for peer in peers.sorted(by: { $0.publicKey < $1.publicKey }) {
            lines += ["", "[Peer]", "PublicKey = \(peer.publicKey)", "AllowedIPs = \(peer.allowedIPs.map(\.description).joined(separator: ", "))"]
            if let endpoint = peer.endpoint { lines.append("Endpoint = \(endpoint)") }
            if let keepalive = peer.persistentKeepalive { lines.append("PersistentKeepalive = \(keepalive)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func write(_ spec: MeshInterfaceSpec, peers: [MeshPeer], to path: String? = nil) throws(SFHAError) {
        try AtomicFile.write(render(spec, peers: peers), to: path ?? Self.path(for: spec.name), mode: 0o600)
    }

    /// The private key in an existing file (sfha's own, or wg-quick's format): the `PrivateKey =` line of
    /// `[Interface]`. nil when the file or the line is missing or the key is malformed.
    public static func readPrivateKey(from path: String) -> WireGuardPrivateKey? {
        guard let text = try? AtomicFile.readText(path) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == "PrivateKey" else { continue }
            return try? WireGuardPrivateKey(base64: parts[1].trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}
