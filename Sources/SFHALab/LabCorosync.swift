import CorosyncKit
import SFHABase

extension Lab {
    /// Talks to `nodeName`'s corosync from this process (see `CorosyncEndpoint.networkNamespace`).
    public func corosyncEndpoint(_ nodeName: String) throws(SFHAError) -> CorosyncEndpoint {
        .networkNamespace(path: "/run/netns/\(try node(nodeName).networkNamespace)")
    }

    /// The corosync.conf sfha generates for a lab: every node on the lab subnet, knet with aes256/sha256 crypto.
    @Sendable public static func corosyncConfiguration(spec: LabSpec, nodes: [LabNode]) throws(SFHAError) -> String {
        var cluster = CorosyncClusterSpec(
            clusterName: spec.name,
            nodes: nodes.map { CorosyncNodeEntry(nodeID: UInt32($0.nodeID), name: $0.name, addresses: [$0.address]) })
        cluster.tokenMilliseconds = spec.tokenMilliseconds
        cluster.logToSyslog = false
        do {
            return try CorosyncConf.generate(cluster).render()
        } catch {
            throw error.sfhaError
        }
    }
}
