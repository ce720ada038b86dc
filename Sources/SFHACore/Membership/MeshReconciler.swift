import Foundation
import Logging
import MeshKit
import SFHABase

/// Makes this node's WireGuard peers (and its wg-quick file) what the committed membership record says, beside the
/// core loop; the newest record wins, and an invitation's peer goes when the invitation expires even before a commit
/// removes it.
public actor MeshReconciler {
    let mesh: any MeshController
    let nodeName: String
    let interface: String
    let configPath: String
    let logger: Logger
    private var pending: MembershipRecord?
    /// The newest record given (an expiry re-applies it, never an older one).
    private var latest: MembershipRecord?
    private var draining = false
    private var expiryTimer: Task<Void, Never>?
    /// The peers last applied (for tests and `sfha mesh status`).
    public private(set) var appliedPeers: [MeshPeer] = []

    public init(
        mesh: any MeshController, nodeName: String, interface: String = MeshInterfaceSpec.defaultName,
        configPath: String = WireGuardConfigFile.path(), logger: Logger
    ) {
        self.mesh = mesh
        self.nodeName = nodeName
        self.interface = interface
        self.configPath = configPath
        self.logger = logger
    }

    private var holds = 0

    /// Reconciles with `record` (soon; a newer record given meanwhile replaces it).
    public func apply(_ record: MembershipRecord) async {
        latest = record
        pending = record
        guard !draining, holds == 0 else { return }
        draining = true
        while let next = pending {
            pending = nil
            await reconcile(next)
        }
        draining = false
    }

    /// Holds every change until `release()` (or `maximumHold`): a join's issuer keeps the invitation's peer until its
    /// answer, which travels through that peer, is sent.
    public func hold() -> UUID {
        holds += 1
        let id = UUID()
        heldBy.insert(id)
        Task { [weak self] in
            try? await Task.sleep(for: Self.maximumHold)
            await self?.release(id)
        }
        return id
    }

    /// While a join's answer holds every change: lets the joiner's own key complete a WireGuard handshake here
    /// already, as a peer without addresses (the invitation's peer keeps the joiner's address until the answer is
    /// sent). The joiner switches to its own key the moment it has the answer; a handshake this node refused then
    /// would be retried by WireGuard only after its rekey timeout (seconds), and corosync's link to this node would
    /// wait that long — with the ring down meanwhile. The release gives the peer its address.
    public func admit(_ peer: MeshPeer) async {
        var addressless = peer
        addressless.allowedIPs = []
        // No keepalive yet: a handshake this node started now would reach the joiner before it has the key.
        addressless.persistentKeepalive = nil
        do {
            try await mesh.set(peer: addressless, on: interface)
        } catch {
            logger.warning("the joining node's WireGuard key could not be admitted before the answer: \(error.message); its first handshake here may be refused and retried later")
        }
    }

    public func release(_ id: UUID) async {
        guard heldBy.remove(id) != nil else { return }
        holds -= 1
        if holds == 0, let pending { await apply(pending) }
    }

    private var heldBy: Set<UUID> = []
    static let maximumHold: Duration = .seconds(30)

    private func reapplyLatest() async {
        if let latest { await apply(latest) }
    }

    private func spec(of member: ClusterMember, in record: MembershipRecord, key: WireGuardPrivateKey) throws(SFHAError) -> MeshInterfaceSpec {
        try MeshInterfaceSpec(
            name: interface, privateKey: key, listenPort: member.endpoint.port,
            address: try IPv4Network(address: member.meshAddress, prefixLength: record.network.prefixLength))
    }

    /// This node's wg-quick file as it is and as `record` would make it, the private key hidden (for a diff shown to
    /// the operator); nil when this node is not in `record` or the file has no key.
    public func bootFilePreview(for record: MembershipRecord) -> (before: String, after: String)? {
        let current = record.expiringInvitations(at: Date())
        guard let member = current.member(named: nodeName), let key = WireGuardConfigFile.readPrivateKey(from: configPath),
            let spec = try? spec(of: member, in: record, key: key), let before = try? AtomicFile.readText(configPath)
        else { return nil }
        func hidingKey(_ text: String) -> String {
            text.split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.hasPrefix("PrivateKey") ? "PrivateKey = (hidden)" : String($0) }.joined(separator: "\n")
        }
        return (hidingKey(before), hidingKey(WireGuardConfigFile.render(spec, peers: current.meshPeers(for: nodeName))))
    }

    private func reconcile(_ record: MembershipRecord) async {
        let now = Date()
        let current = record.expiringInvitations(at: now)
        guard let member = current.member(named: nodeName) else {
            logger.warning("this node (\(nodeName)) is not in the membership record: its WireGuard peers are left as they are")
            return
        }
        let peers = current.meshPeers(for: nodeName)
        do {
            guard try await mesh.state(of: interface) != nil else {
                logger.warning("\(interface) is not up: the mesh peers of membership revision cannot be applied (bring it up: 'wg-quick up \(interface)')")
                return
            }
            try await mesh.apply(peers: peers, on: interface)
            appliedPeers = peers
            if let key = WireGuardConfigFile.readPrivateKey(from: configPath) {
                try WireGuardConfigFile.write(try spec(of: member, in: record, key: key), peers: peers, to: configPath)
            } else {
                logger.error("\(configPath) has no readable private key: the mesh's boot file is not updated (the running mesh is)")
            }
        } catch {
            logger.error("the mesh peers could not be applied: \(error.message); they are applied again at the next change")
        }
        // The earliest invitation expiry: its peer goes then.
        expiryTimer?.cancel()
        if let next = current.invitations.map(\.expiresAt).min() {
            let delay = max(0, next.timeIntervalSince(now)) + 0.5
            expiryTimer = Task { [weak self] in
                try? await Task.sleep(for: .milliseconds(Int64(delay * 1000)))
                guard !Task.isCancelled else { return }
                await self?.reapplyLatest()
            }
        }
    }
}
