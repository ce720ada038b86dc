import CorosyncKit
import SFHABase

import Foundation

extension Lab {
    /// A product built next to the running executable (`swift build` puts sfha, sfhad, sfha-lab and the test
    /// bundle side by side), e.g. to run `sfha` inside a lab node.
    public static func builtProduct(_ name: String) -> String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent(name).path
    }

    /// The products `up` links into the lab's bin directory (first on every host's PATH), so `sfha status`,
    /// the `sfhad` unit and `sfha-lab probe` run by name inside a node.
    public static let linkedProducts = ["sfha", "sfhad", "sfha-lab"]

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
