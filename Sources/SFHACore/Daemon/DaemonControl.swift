import Foundation
import Logging
import ServiceLifecycle

/// `GET /v1/status`: the cluster as this daemon sees it. Never contains a secret.
public struct DaemonStatus: Sendable, Equatable, Codable {
    public struct Node: Sendable, Equatable, Codable {
        public var name: String
        public var nodeId: UInt32
        public var member: Bool
        public var daemonAlive: Bool
        public var standby: Bool
        public var healthy: Bool
        public var priority: Int
        public var holdings: [String]
        public var local: Bool
    }
    public struct Group: Sendable, Equatable, Codable {
        public var name: String
        public var holder: String?
        public var reason: String
        public var vips: [String]
        public var services: [String]
    }
    public var source = "sfhad"
    public var clusterName: String
    public var node: String
    public var nodeId: UInt32
    public var quorate: Bool
    public var maintenance: Bool
    public var configurationRevision: UInt64
    public var configurationHash: String
    public var nodes: [Node]
    public var groups: [Group]
}

/// The answer to state-changing requests.
public struct DaemonAcknowledgement: Sendable, Equatable, Codable {
    public var ok: Bool
    public var message: String
}

extension DaemonRuntime {
    public func status() -> DaemonStatus {
        let view = self.view
        let document = self.document
        let configuration = document.configuration
        let local = localReport
        var nodes = view.reports.values.map { report in
            DaemonStatus.Node(
                name: report.name, nodeId: report.nodeID, member: view.members.contains(report.nodeID), daemonAlive: true,
                standby: report.standby, healthy: report.healthy, priority: report.priority,
                holdings: report.holdings.sorted(), local: report.name == local.name)
        }
        if !nodes.contains(where: { $0.local }) {
            nodes.append(DaemonStatus.Node(
                name: local.name, nodeId: local.nodeID, member: view.members.contains(local.nodeID), daemonAlive: true,
                standby: local.standby, healthy: local.healthy, priority: local.priority, holdings: local.holdings.sorted(),
                local: true))
        }
        let reported = Set(nodes.map(\.nodeId))
        for member in view.members.sorted() where !reported.contains(member) {
            nodes.append(DaemonStatus.Node(
                name: "nodeid \(member)", nodeId: member, member: true, daemonAlive: false, standby: false, healthy: false,
                priority: 0, holdings: [], local: false))
        }
        nodes.sort { $0.nodeId < $1.nodeId }
        let groups = configuration.groups.map { group in
            let assignment = placement?.assignment(of: group.name)
            return DaemonStatus.Group(
                name: group.name, holder: assignment?.holder, reason: assignment.map { "\($0.reason)" } ?? "not decided yet",
                vips: group.vips.map { "\($0.cidr) dev \($0.interface)" }, services: group.services.map(\.systemdUnitName))
        }
        return DaemonStatus(
            clusterName: configuration.name, node: local.name, nodeId: local.nodeID, quorate: view.quorate,
            maintenance: configuration.maintenance, configurationRevision: document.revision,
            configurationHash: document.contentHash, nodes: nodes, groups: groups)
    }

    /// The routes sfhad serves on its control socket (see Docs/Control-API.md).
    public nonisolated func controlRouter() -> ControlRouter {
        var router = ControlRouter()
        router.get("/v1/status") { _ in await self.status() }
        router.post("/v1/standby") { _ in
            await self.setStandby(true)
            return DaemonAcknowledgement(ok: true, message: "standby on: this node gives up its groups and takes none")
        }
        router.post("/v1/unstandby") { _ in
            await self.setStandby(false)
            return DaemonAcknowledgement(ok: true, message: "standby off: this node may hold groups again")
        }
        return router
    }
}

/// Serves the control API on the Unix socket for the daemon's lifetime.
public struct ControlService: Service {
    let server: ControlServer
    let logger: Logger

    public init(runtime: DaemonRuntime, socketPath: String = ControlServer.defaultSocketPath, logger: Logger) {
        self.server = ControlServer(socketPath: socketPath, router: runtime.controlRouter(), logger: logger)
        self.logger = logger
    }

    public func run() async throws {
        try server.start()
        logger.info("control API listening", metadata: ["socket": "\(server.socketPath)"])
        try? await gracefulShutdown()
        await server.stop()
    }
}
