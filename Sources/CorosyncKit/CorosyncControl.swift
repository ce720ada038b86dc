internal import CCorosync
import Glibc

/// corosync's configuration service (libcfg): reload corosync.conf cluster-wide, local node id, node addresses
/// and link status. sfha never restarts corosync while the cluster runs; `reloadConfiguration()` is how a changed
/// corosync.conf takes effect.
public final class CorosyncControl: Sendable {
    private let driver: HandleDriver
    private let handle: corosync_cfg_handle_t

    public init(endpoint: CorosyncEndpoint = .local) throws(CorosyncError) {
        var handle: corosync_cfg_handle_t = 0
        let rc = try endpoint.connect { () -> cs_error_t in corosync_cfg_initialize(&handle, nil) }
        guard rc.isOK else { throw CorosyncError(rc, "corosync_cfg_initialize") }
        self.handle = handle
        self.driver = HandleDriver(label: "cfg", library: "corosync_cfg")
        // No callbacks are registered, so no read source is needed; finalize on close.
    }

    deinit {
        let handle = self.handle
        driver.queue.async { corosync_cfg_finalize(handle) }
    }

    /// Tells every corosync in the cluster to re-read corosync.conf — what `corosync-cfgtool -R` does.
    /// Throws when the reload is refused (e.g. the new file is invalid); the running configuration then stays.
    public func reloadConfiguration() async throws(CorosyncError) {
        let handle = self.handle
        try await retryingTransient { () throws(CorosyncError) in
            try driver.perform("corosync_cfg_reload_config") { corosync_cfg_reload_config(handle) }
        }
    }

    /// This node's corosync node id.
    public func localNodeID() throws(CorosyncError) -> UInt32 {
        let handle = self.handle
        return try driver.perform("corosync_cfg_local_get") { () -> (cs_error_t, UInt32) in
            var id: UInt32 = 0
            let rc = corosync_cfg_local_get(handle, &id)
            return (rc, id)
        }
    }

    /// The addresses corosync uses for `nodeID` (one per link), as numeric strings.
    public func addresses(of nodeID: UInt32) throws(CorosyncError) -> [String] {
        let handle = self.handle
        return try driver.perform("corosync_cfg_get_node_addrs") { () -> (cs_error_t, [String]) in
            var addresses = [corosync_cfg_node_address_t](repeating: corosync_cfg_node_address_t(), count: 8)
            var count: Int32 = 0
            let rc = corosync_cfg_get_node_addrs(handle, nodeID, addresses.count, &count, &addresses)
            guard rc.isOK else { return (rc, []) }
            return (rc, addresses.prefix(Int(count)).compactMap(Self.numericAddress))
        }
    }

    /// Per-node link status (knet): whether the node is reachable and which links are connected.
    public func linkStatus(of nodeID: UInt32) throws(CorosyncError) -> NodeLinkStatus {
        let handle = self.handle
        return try driver.perform("corosync_cfg_node_status_get") { () -> (cs_error_t, NodeLinkStatus) in
            var status = corosync_cfg_node_status_v1()
            let rc = corosync_cfg_node_status_get(handle, nodeID, CFG_NODE_STATUS_V1, &status)
            var links: [NodeLinkStatus.Link] = []
            withUnsafeBytes(of: status.link_status) { raw in
                let all = raw.bindMemory(to: corosync_knet_link_status_v1.self)
                for (index, link) in all.enumerated() where link.enabled != 0 {
                    links.append(.init(
                        number: index, connected: link.connected != 0, mtu: link.mtu,
                        source: stringFromCTuple(link.src_ipaddr), destination: stringFromCTuple(link.dst_ipaddr)))
                }
            }
            return (rc, NodeLinkStatus(nodeID: status.nodeid, reachable: status.reachable != 0, isLocal: status.remote == 0, links: links))
        }
    }

    private static func numericAddress(_ entry: corosync_cfg_node_address_t) -> String? {
        withUnsafeBytes(of: entry.address) { raw -> String? in
            guard let base = raw.baseAddress else { return nil }
            let family = base.loadUnaligned(as: sa_family_t.self)
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
            switch Int32(family) {
            case AF_INET:
                var address = base.loadUnaligned(as: sockaddr_in.self).sin_addr
                guard inet_ntop(AF_INET, &address, &text, socklen_t(text.count)) != nil else { return nil }
            case AF_INET6:
                var address = base.loadUnaligned(as: sockaddr_in6.self).sin6_addr
                guard inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil else { return nil }
            default:
                return nil
            }
            return text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        }
    }
}

/// Link status of a node as seen from this node.
public struct NodeLinkStatus: Sendable, Equatable, Codable {
    public struct Link: Sendable, Equatable, Codable {
        public var number: Int
        public var connected: Bool
        public var mtu: UInt32
        public var source: String
        public var destination: String
    }
    public var nodeID: UInt32
    public var reachable: Bool
    public var isLocal: Bool
    public var links: [Link]
}
