import CorosyncKit
import Foundation
import MeshKit
import SFHABase

/// What `sfha init` is asked to do.
public struct ClusterInitRequest: Sendable {
    public var clusterName: String
    /// This node's name (its hostname, as corosync will know it).
    public var nodeName: String
    public var meshNetwork: IPv4Network
    /// Where the other nodes reach this node's WireGuard (its public address and the mesh port).
    public var endpoint: MeshEndpoint
    /// corosync's token timeout (nil: corosync's default).
    public var tokenMilliseconds: Int?

    /// What `--token` accepts: below, a busy node misses tokens; above, a dead node is noticed too late for HA.
    public static let tokenRange = 500...30_000

    public static let defaultMeshNetwork = try! IPv4Network(parsing: "10.99.0.0/24")

    public init(
        clusterName: String, nodeName: String, meshNetwork: IPv4Network = ClusterInitRequest.defaultMeshNetwork, endpoint: MeshEndpoint,
        tokenMilliseconds: Int? = nil
    ) {
        self.tokenMilliseconds = tokenMilliseconds
        self.clusterName = clusterName
        self.nodeName = nodeName
        self.meshNetwork = meshNetwork
        self.endpoint = endpoint
    }
}

/// What the node looks like before `sfha init`, read by the caller (files, `ip`, `wg`).
public struct NodeFacts: Sendable {
    /// corosync.conf exists and has a nodelist (its cluster name, if any).
    public var corosyncCluster: String??
    public var hasMembershipRecord: Bool
    public var meshInterfaceExists: Bool
    /// Networks this node already routes or has addresses in (the mesh network must not overlap them).
    public var localNetworks: [IPv4Network]
    /// Kernel WireGuard, or `wireguard-go`, is available; and `wg`.
    public var wireGuardAvailable: Bool
    public var configurationExists: Bool

    public init(
        corosyncCluster: String?? = nil, hasMembershipRecord: Bool = false, meshInterfaceExists: Bool = false, localNetworks: [IPv4Network] = [],
        wireGuardAvailable: Bool = true, configurationExists: Bool = false
    ) {
        self.corosyncCluster = corosyncCluster
        self.hasMembershipRecord = hasMembershipRecord
        self.meshInterfaceExists = meshInterfaceExists
        self.localNetworks = localNetworks
        self.wireGuardAvailable = wireGuardAvailable
        self.configurationExists = configurationExists
    }
}

/// Everything `sfha init` writes and starts, computed before anything is touched (`--dry-run` prints it).
public struct ClusterInitPlan: Sendable {
    public var record: MembershipRecord
    public var mesh: MeshInterfaceSpec
    public var corosyncConf: String
    /// config.yml's content, or nil when one exists already (it is never overwritten).
    public var configuration: String?
    public var p2pKeyFile: String

    /// The steps, in order, as the operator reads them.
    public var steps: [String] {
        var steps = [
            "write \(WireGuardConfigFile.path(for: mesh.name)) (0600) and bring up \(mesh.name) at \(mesh.address), port \(mesh.listenPort)",
            "write the membership record: cluster \(record.clusterName), \(record.members[0].name) = node id 1 at \(record.members[0].meshAddress)",
            "write the P2P key (0600) and corosync's authkey (0400)",
            "write /etc/corosync/corosync.conf (knet over the mesh address, crypto, votequorum)",
        ]
        if configuration != nil { steps.append("write /etc/sfha/config.yml (cluster \(record.clusterName), node \(record.members[0].name))") }
        steps += ["start corosync (its only start: later changes reload it)", "start sfhad"]
        return steps
    }
}

public enum ClusterInit {

    /// Why this node cannot be the first node of a new cluster (nil: it can). Every refusal says what to do.
    public static func refusal(_ request: ClusterInitRequest, _ facts: NodeFacts) -> SFHAError? {
        if let problem = Validators.clusterName(request.clusterName) {
            return SFHAError(.invalidArgument, "cluster name \(String(reflecting: request.clusterName)): \(problem)")
        }
        if let problem = Validators.nodeName(request.nodeName) {
            return SFHAError(.invalidArgument, "this node's name \(String(reflecting: request.nodeName)) cannot be a corosync node name: \(problem); set a valid hostname first")
        }
        if let cluster = facts.corosyncCluster {
            return SFHAError(.exists, "this node is already in a cluster (corosync.conf has a nodelist\(cluster.map { ", cluster \($0)" } ?? "")): "
                + "leave it first ('sfha leave'), or join another node with 'sfha join'")
        }
        if facts.hasMembershipRecord {
            return SFHAError(.exists, "this node already has an sfha membership record: it is in a cluster; leave it first ('sfha leave')")
        }
        if facts.meshInterfaceExists {
            return SFHAError(.exists, "\(MeshInterfaceSpec.defaultName) already exists on this node: it is in a cluster, or a previous init stopped half way ('ip link delete \(MeshInterfaceSpec.defaultName)' if it is left over)")
        }
        if !facts.wireGuardAvailable {
            return SFHAError(.unavailable, "WireGuard is not available: install wireguard-tools, and the kernel module or wireguard-go")
        }
        guard (16...28).contains(request.meshNetwork.prefixLength) else {
            return SFHAError(.invalidArgument, "mesh network \(request.meshNetwork): use a /16 to /28 (room for the nodes; addresses are never reused)")
        }
        if let token = request.tokenMilliseconds, !ClusterInitRequest.tokenRange.contains(token) {
            return SFHAError(.invalidArgument, "--token \(token): corosync's token timeout must be \(ClusterInitRequest.tokenRange.lowerBound)–\(ClusterInitRequest.tokenRange.upperBound) ms")
        }
        if let overlap = facts.localNetworks.first(where: { $0.overlaps(request.meshNetwork) }) {
            return SFHAError(.invalidArgument, "mesh network \(request.meshNetwork) overlaps \(overlap), which this node already uses: choose another with --mesh-network")
        }
        if case .v4(let address) = request.endpoint.address, request.meshNetwork.contains(address) {
            return SFHAError(.invalidArgument, "the endpoint \(request.endpoint) is inside the mesh network: give this node's public address with --endpoint")
        }
        return nil
    }

    /// corosync's knet link ping interval for the mesh: a joining node's links to the members come up within about
    /// two intervals of each other, time during which the ring is down (Docs/Mesh.md, "A held VIP stays through a
    /// join"); the pings cost a few small packets per second per link.
    public static let knetPingIntervalMilliseconds = 200
    /// corosync's token retransmits before loss: a join's commit token lost on a link not yet up costs one
    /// retransmit timeout (token / (this + 0.2)) of ring downtime, which the held VIP's proof must outlast
    /// (Docs/Mesh.md, "A held VIP stays through a join").
    public static let tokenRetransmitsBeforeLoss = 10

    /// The plan: the membership record (this node: node id 1, the network's first address), the mesh interface, the
    /// corosync.conf text and, when none exists, a config.yml.
    public static func plan(
        _ request: ClusterInitRequest, _ facts: NodeFacts, meshKey: WireGuardPrivateKey, at now: Date
    ) throws(SFHAError) -> ClusterInitPlan {
        if let refusal = refusal(request, facts) { throw refusal }
        let record = try MembershipRecord.founding(
            clusterName: request.clusterName, network: request.meshNetwork, founder: request.nodeName, publicKey: meshKey.publicKey,
            endpoint: request.endpoint, at: now)
        let founder = record.members[0]
        let mesh = try MeshInterfaceSpec(
            privateKey: meshKey, listenPort: request.endpoint.port,
            address: try IPv4Network(address: founder.meshAddress, prefixLength: request.meshNetwork.prefixLength))
        let conf: CorosyncConf
        do {
            var spec = CorosyncClusterSpec(
                clusterName: request.clusterName, nodes: [CorosyncNodeEntry(nodeID: founder.nodeID, name: founder.name, addresses: ["\(founder.meshAddress)"])])
            spec.knetMTU = MeshInterfaceSpec.mtu
            spec.knetPingIntervalMilliseconds = Self.knetPingIntervalMilliseconds
            spec.tokenRetransmitsBeforeLoss = Self.tokenRetransmitsBeforeLoss
            spec.tokenMilliseconds = request.tokenMilliseconds
            conf = try CorosyncConf.generate(spec)
        } catch {
            throw error.sfhaError
        }
        let configuration: String? = facts.configurationExists ? nil : configuration(clusterName: request.clusterName, nodeName: request.nodeName)
        return ClusterInitPlan(record: record, mesh: mesh, corosyncConf: conf.render(), configuration: configuration, p2pKeyFile: "/etc/sfha/p2p.key")
    }

    /// The config.yml `sfha init` and `sfha join` write when a node has none.
    public static func configuration(clusterName: String, nodeName: String, by command: String = "sfha init") -> String {
        """
        # Written by '\(command)'. The cluster part is replicated: change it with sfha commands or 'sfha reload'.
        cluster:
          name: \(clusterName)
        node:
          name: \(nodeName)

        """
    }

    /// Networks in `ip -o -4 route show` and `ip -o -4 address show` output (anything unparsable is skipped: the
    /// check is a guard for the operator, the kernel has the last word).
    public static func localNetworks(routes: String, addresses: String) -> [IPv4Network] {
        var networks: [IPv4Network] = []
        for line in routes.split(separator: "\n") {
            guard let first = line.split(separator: " ").first, first != "default" else { continue }
            if let network = try? IPv4Network(parsing: first.contains("/") ? String(first) : "\(first)/32") { networks.append(network) }
        }
        for line in addresses.split(separator: "\n") {
            let words = line.split(separator: " ")
            guard let index = words.firstIndex(of: "inet"), index + 1 < words.count else { continue }
            if let network = try? IPv4Network(parsing: String(words[index + 1])) { networks.append(network) }
        }
        return networks
    }
}
