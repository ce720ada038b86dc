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
}
