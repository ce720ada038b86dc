import Foundation
import Logging
import SFHABase
import ServiceLifecycle

/// `GET /v1/status`: the cluster as this daemon sees it. Never contains a secret.
public struct DaemonStatus: Sendable, Equatable, Codable {
    /// One node of corosync's nodelist. What only its sfhad can say (`standby`, `healthy`, `priority`, `failures`,
    /// `revision`) is null when its sfhad is not running — nothing is made up.
    public struct Node: Sendable, Equatable, Codable {
        public var name: String
        public var nodeId: UInt32
        /// In corosync's current membership (false: OFFLINE).
        public var member: Bool
        public var daemonAlive: Bool
        public var standby: Bool?
        public var healthy: Bool?
        public var priority: Int?
        public var holdings: [String]
        public var local: Bool
        /// Service failures counted on the node.
        public var failures: Int?
        /// The revision of the cluster document the node runs.
        public var revision: UInt64?
        /// Groups whose resources the node cannot apply, with what it lacks (null when its sfhad is not running).
        public var cannotApply: [String: String]? = nil
        /// Its sfhad answers: over the P2P API in a cluster built by `sfha init` (pinged every few seconds), else
        /// it is alive in the process group.
        public var sfhaRunning: Bool

        /// In corosync's current membership (the founding document's name for `member`).
        public var online: Bool { member }

        public init(
            name: String, nodeId: UInt32, member: Bool, daemonAlive: Bool, standby: Bool? = nil, healthy: Bool? = nil,
            priority: Int? = nil, holdings: [String] = [], local: Bool = false, failures: Int? = nil, revision: UInt64? = nil,
            cannotApply: [String: String]? = nil, sfhaRunning: Bool? = nil
        ) {
            self.cannotApply = cannotApply
            self.sfhaRunning = sfhaRunning ?? daemonAlive
            self.name = name
            self.nodeId = nodeId
            self.member = member
            self.daemonAlive = daemonAlive
            self.standby = standby
            self.healthy = healthy
            self.priority = priority
            self.holdings = holdings
            self.local = local
            self.failures = failures
            self.revision = revision
        }

        enum CodingKeys: String, CodingKey {
            case name, nodeId, member, online, daemonAlive, sfhaRunning, standby, healthy, priority, holdings, local, failures, revision, cannotApply
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(
                name: try c.decode(String.self, forKey: .name), nodeId: try c.decode(UInt32.self, forKey: .nodeId),
                member: try c.decode(Bool.self, forKey: .member), daemonAlive: try c.decode(Bool.self, forKey: .daemonAlive),
                standby: try c.decodeIfPresent(Bool.self, forKey: .standby), healthy: try c.decodeIfPresent(Bool.self, forKey: .healthy),
                priority: try c.decodeIfPresent(Int.self, forKey: .priority), holdings: try c.decode([String].self, forKey: .holdings),
                local: try c.decode(Bool.self, forKey: .local), failures: try c.decodeIfPresent(Int.self, forKey: .failures),
                revision: try c.decodeIfPresent(UInt64.self, forKey: .revision),
                cannotApply: try c.decodeIfPresent([String: String].self, forKey: .cannotApply),
                sfhaRunning: try c.decodeIfPresent(Bool.self, forKey: .sfhaRunning))
        }

        /// Every key is written, null when unknown: one schema whatever the node's state.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(nodeId, forKey: .nodeId)
            try c.encode(member, forKey: .member)
            try c.encode(online, forKey: .online)
            try c.encode(daemonAlive, forKey: .daemonAlive)
            try c.encode(sfhaRunning, forKey: .sfhaRunning)
            try c.encode(standby, forKey: .standby)
            try c.encode(healthy, forKey: .healthy)
            try c.encode(priority, forKey: .priority)
            try c.encode(holdings, forKey: .holdings)
            try c.encode(local, forKey: .local)
            try c.encode(failures, forKey: .failures)
            try c.encode(revision, forKey: .revision)
            try c.encode(cannotApply, forKey: .cannotApply)
        }
    }

    /// corosync's votes: `present` of `expected` (quorum at `quorum`).
    public struct Votes: Sendable, Equatable, Codable {
        public var present: UInt32
        public var expected: UInt32
        public var quorum: UInt32
    }
    public struct Group: Sendable, Equatable, Codable {
        /// A node that may not hold the group now, and why.
        public struct Ineligible: Sendable, Equatable, Codable {
            public var node: String
            public var why: Ineligibility
        }

        public var name: String
        public var holder: String?
        public var reason: String
        public var vips: [String]
        public var services: [String]
        /// `reason` as data, so a client can say it in the operator's language (absent from older daemons).
        public var why: PlacementReason? = nil
        /// The group's last change of holder seen by this node's sfhad since it started (null: none yet).
        public var lastMove: LastMove? = nil
        /// Every node that may not hold the group now, by name, with why.
        public var ineligible: [Ineligible] = []
        /// Nodes banned from the group (`sfha failover GROUP --ban NODE`).
        public var bannedNodes: [String] = []

        enum CodingKeys: String, CodingKey { case name, holder, reason, vips, services, why, lastMove, ineligible, bannedNodes }

        public init(
            name: String, holder: String?, reason: String, vips: [String], services: [String], why: PlacementReason? = nil,
            lastMove: LastMove? = nil, ineligible: [Ineligible] = [], bannedNodes: [String] = []
        ) {
            self.name = name
            self.holder = holder
            self.reason = reason
            self.vips = vips
            self.services = services
            self.why = why
            self.lastMove = lastMove
            self.ineligible = ineligible
            self.bannedNodes = bannedNodes
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            holder = try c.decodeIfPresent(String.self, forKey: .holder)
            reason = try c.decode(String.self, forKey: .reason)
            vips = try c.decode([String].self, forKey: .vips)
            services = try c.decode([String].self, forKey: .services)
            why = try c.decodeIfPresent(PlacementReason.self, forKey: .why)
            lastMove = try c.decodeIfPresent(LastMove.self, forKey: .lastMove)
            ineligible = try c.decodeIfPresent([Ineligible].self, forKey: .ineligible) ?? []
            bannedNodes = try c.decodeIfPresent([String].self, forKey: .bannedNodes) ?? []
        }

        /// Every key is written, null when unknown: one schema whatever the group's state.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(holder, forKey: .holder)
            try c.encode(reason, forKey: .reason)
            try c.encode(vips, forKey: .vips)
            try c.encode(services, forKey: .services)
            try c.encode(why, forKey: .why)
            try c.encode(lastMove, forKey: .lastMove)
            try c.encode(ineligible, forKey: .ineligible)
            try c.encode(bannedNodes, forKey: .bannedNodes)
        }
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
    /// Whether this node is proven to be in its quorate ring now (its VIP leases are extended only while it is).
    public var proven: Bool
    /// What the operator must know: a two-node cluster without fencing, a configuration saved in memory only, …
    public var warnings: [String]
    /// corosync's votes (nil before corosync has answered).
    public var votes: Votes? = nil

    enum CodingKeys: String, CodingKey {
        case source, clusterName, node, nodeId, quorate, maintenance, configurationRevision, configurationHash, nodes, groups
        case proven, warnings, votes
    }

    public init(
        source: String = "sfhad", clusterName: String, node: String, nodeId: UInt32, quorate: Bool, maintenance: Bool,
        configurationRevision: UInt64, configurationHash: String, nodes: [Node], groups: [Group], proven: Bool = false,
        warnings: [String] = []
    ) {
        self.source = source
        self.clusterName = clusterName
        self.node = node
        self.nodeId = nodeId
        self.quorate = quorate
        self.maintenance = maintenance
        self.configurationRevision = configurationRevision
        self.configurationHash = configurationHash
        self.nodes = nodes
        self.groups = groups
        self.proven = proven
        self.warnings = warnings
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        source = try c.decodeIfPresent(String.self, forKey: .source) ?? "sfhad"
        clusterName = try c.decode(String.self, forKey: .clusterName)
        node = try c.decode(String.self, forKey: .node)
        nodeId = try c.decode(UInt32.self, forKey: .nodeId)
        quorate = try c.decode(Bool.self, forKey: .quorate)
        maintenance = try c.decode(Bool.self, forKey: .maintenance)
        configurationRevision = try c.decode(UInt64.self, forKey: .configurationRevision)
        configurationHash = try c.decode(String.self, forKey: .configurationHash)
        nodes = try c.decode([Node].self, forKey: .nodes)
        groups = try c.decode([Group].self, forKey: .groups)
        proven = try c.decodeIfPresent(Bool.self, forKey: .proven) ?? false
        warnings = try c.decodeIfPresent([String].self, forKey: .warnings) ?? []
        votes = try c.decodeIfPresent(Votes.self, forKey: .votes)
    }
}

/// A group's last change of holder, as this node saw it.
public struct LastMove: Sendable, Equatable, Codable {
    public var from: String?
    public var to: String
    public var at: Date
    public var cause: MoveCause

    public init(from: String?, to: String, at: Date, cause: MoveCause) {
        self.from = from
        self.to = to
        self.at = at
        self.cause = cause
    }
}

/// The warning for a two-node cluster that has no fencing (said at start, in `status` and by `config check`).
public enum TwoNodeWarning {
    public static let text =
        "two-node cluster without fencing: corosync keeps both halves of a partition quorate, so a network split can put "
        + "a VIP on both nodes — placement cannot be safe against that; add a third node (or a quorum device), as "
        + "sfha does not fence yet; configuration changes need both nodes present"
}

/// The answer to state-changing requests.
public struct DaemonAcknowledgement: Sendable, Equatable, Codable {
    public var ok: Bool
    public var message: String
}

extension DaemonRuntime {
    public func status() async -> DaemonStatus {
        var status = statusSnapshot()
        if let problem = await documents.lastError { status.warnings.append(problem) }
        return status
    }

    /// What this node should tell its operator, whatever they ask.
    var warnings: [String] {
        var warnings: [String] = []
        if state.facts?.twoNode == true && !state.document.configuration.fences { warnings.append(TwoNodeWarning.text) }
        if state.document.configuration.stonith?.enabled == true && !StonithConfiguration.isImplemented {
            warnings.append("stonith.enabled: \(StonithConfiguration.notImplementedWarning)")
        }
        if let drift = configurationDrift { warnings.append(drift) }
        return warnings
    }

    private func statusSnapshot() -> DaemonStatus {
        let view = self.view
        let document = self.document
        let configuration = document.configuration
        let local = localReport
        let revisions = state.reportedRevisions
        var nodes = view.reports.values.map { report in
            let isLocal = report.name == local.name
            return DaemonStatus.Node(
                name: report.name, nodeId: report.nodeID, member: view.members.contains(report.nodeID), daemonAlive: true,
                standby: report.standby, healthy: report.healthy, priority: report.priority,
                holdings: report.holdings.sorted(), local: isLocal, failures: report.failures,
                revision: isLocal ? document.revision : revisions[report.name], cannotApply: report.cannotApply)
        }
        if !nodes.contains(where: { $0.local }) {
            nodes.append(DaemonStatus.Node(
                name: local.name, nodeId: local.nodeID, member: view.members.contains(local.nodeID), daemonAlive: true,
                standby: local.standby, healthy: local.healthy, priority: local.priority, holdings: local.holdings.sorted(),
                local: true, failures: local.failures, revision: document.revision, cannotApply: local.cannotApply))
        }
        // The rest of corosync's nodelist: members whose sfhad is not running, and nodes that are not members
        // (OFFLINE), by their corosync name.
        let reported = Set(nodes.map(\.nodeId))
        let names = state.facts?.nodeNames ?? [:]
        for id in Set(names.keys).union(view.members).sorted() where !reported.contains(id) {
            nodes.append(DaemonStatus.Node(
                name: names[id] ?? "nodeid \(id)", nodeId: id, member: view.members.contains(id), daemonAlive: false))
        }
        // In a cluster built by 'sfha init', whether each sfhad answers over the mesh (P2PService pings them).
        for index in nodes.indices { if let answered = p2pAnswers[nodes[index].name] { nodes[index].sfhaRunning = answered } }
        nodes.sort { $0.nodeId < $1.nodeId }
        let input = view.placementInput(now: now)
        let policy = PlacementPolicy(configuration)
        let groups = configuration.groups.map { group in
            let assignment = placement?.assignment(of: group.name)
            let ineligible = Placer.ineligibleNodes(for: group.name, input, policy: policy)
            return DaemonStatus.Group(
                name: group.name, holder: assignment?.holder, reason: assignment.map { "\($0.reason)" } ?? "not decided yet",
                vips: group.vips.map { "\($0.cidr) dev \($0.interface)" }, services: group.services.map(\.systemdUnitName),
                why: assignment?.reason, lastMove: lastMoves[group.name],
                ineligible: ineligible.keys.sorted().map { DaemonStatus.Group.Ineligible(node: $0, why: ineligible[$0]!) },
                bannedNodes: configuration.bannedNodes[group.name] ?? [])
        }
        var status = DaemonStatus(
            clusterName: configuration.name, node: local.name, nodeId: local.nodeID, quorate: view.quorate,
            maintenance: configuration.maintenance, configurationRevision: document.revision,
            configurationHash: document.contentHash, nodes: nodes, groups: groups, proven: state.proven, warnings: warnings)
        if let votes = state.facts?.votes { status.votes = votes }
        return status
    }

    /// Runs an operator command and records it in the history, with its caller and its answer.
    nonisolated func audited(
        _ request: ControlRequest, _ what: String, _ body: () async throws -> ChangeResult
    ) async throws -> ChangeResult {
        try await audited(request, what, outcome: \.message, body)
    }

    /// The same for any answer: `outcome` says in the history what it was.
    nonisolated func audited<Answer: Sendable>(
        _ request: ControlRequest, _ what: String, outcome: (Answer) -> String, _ body: () async throws -> Answer
    ) async throws -> Answer {
        let who = Self.caller(request.peer)
        do {
            let result = try await body()
            await record(.command, "\(what): \(outcome(result))", who: who)
            return result
        } catch {
            await record(.command, "\(what): refused: \(error)", who: who)
            throw error
        }
    }

    /// `uid 0, pid 4242 (sfha)`: the kernel's word for who is connected; the program name is the process's own, so
    /// only printable characters of it are kept.
    static func caller(_ peer: PeerCredentials) -> String {
        let comm = (try? String(contentsOfFile: "/proc/\(peer.pid)/comm", encoding: .utf8)) ?? ""
        let name = String(comm.unicodeScalars.filter { $0.value >= 0x20 && $0.value < 0x7F }.prefix(16).map(Character.init))
        return "uid \(peer.uid), pid \(peer.pid)" + (name.isEmpty ? "" : " (\(name))")
    }

    /// The routes sfhad serves on its control socket (see Docs/Control-API.md). `reload` re-reads the configuration
    /// file; `metrics` renders the Prometheus text format; `logs` reads the daemon's recent log lines.
    public nonisolated func controlRouter(
        reload: @escaping @Sendable (ReloadRequest) async throws(SFHAError) -> ChangeResult = { _ async throws(SFHAError) -> ChangeResult in
            throw SFHAError(.unavailable, "reload is not available in this process")
        },
        configurationPath: String? = nil,
        metrics: (@Sendable () -> [UInt8])? = nil,
        logs: DaemonLogBuffer? = nil,
        meshStatus: (@Sendable () async throws(SFHAError) -> MeshStatusReport)? = nil,
        membershipPeers: (any MembershipPeers)? = nil,
        repairPeers: (any MembershipRepairPeers)? = nil
    ) -> ControlRouter {
        var router = ControlRouter()
        if let meshStatus { router.get("/v1/mesh") { _ in try await meshStatus() } }
        if let repairPeers {
            router.post("/v1/propagate", body: PropagateRequest.self) { raw, request in
                try raw.requireOnlyParameters(["dryRun"])
                return try await self.audited(raw, "propagate\(request.dryRun ? " --dry-run" : "")", outcome: { (answer: PropagateAnswer) in
                    let changed = answer.nodes.filter { !$0.nothingToDo }.map(\.node)
                    return "membership revision \(answer.revision); \(changed.isEmpty ? "nothing to do" : "changed: " + changed.joined(separator: ", "))"
                }) { try await self.propagate(request, peers: repairPeers) }
            }
        }
        if let membershipPeers {
            router.post("/v1/leave", body: LeaveCommandRequest.self) { raw, request in
                try raw.requireOnlyParameters(["force", "dryRun"])
                let what = "leave\(request.force ? " --force" : "")\(request.dryRun ? " --dry-run" : "")"
                return try await self.audited(raw, what, outcome: { (answer: LeaveCommandAnswer) in
                    request.dryRun ? "planned" : answer.localOnly ? "local clean-up only (\(answer.reason ?? ""))"
                        : "removed by \(answer.coordinator ?? "?") (membership revision \(answer.removal?.revision.map(String.init) ?? "?"))"
                }) { try await self.askToLeave(request, peers: membershipPeers, previews: repairPeers) }
            }
            router.post("/v1/node/remove", body: NodeRemoveRequest.self) { raw, request in
                try raw.requireOnlyParameters(["name", "force", "dryRun"])
                let what = "node remove \(request.name)\(request.force ? " --force" : "")\(request.dryRun ? " --dry-run" : "")"
                return try await self.audited(raw, what, outcome: { (answer: NodeRemoveAnswer) in
                    let outcome = request.dryRun ? "planned" : answer.revision.map { "removed (membership revision \($0))" } ?? "already removed"
                    return outcome + (answer.warnings.isEmpty ? "" : "; " + answer.warnings.joined(separator: "; "))
                }) { try await self.removeMember(request, peers: membershipPeers, previews: repairPeers) }
            }
        }
        router.get("/v1/status") { _ in await self.status() }
        router.get("/v1/resources") { _ in await self.resources() }
        router.get("/v1/health") { _ in await self.healthReport() }
        router.get("/v1/constraints") { _ in await self.constraintsReport() }
        // Every command that changes something goes into the history: who, what, and the answer.
        router.post("/v1/standby", body: StandbyRequest.self) { raw, request in
            try raw.requireOnlyParameters(["node"])
            return try await self.audited(raw, "standby \(request.node ?? "(this node)")") { try await self.setStandby(node: request.node, true) }
        }
        router.post("/v1/unstandby", body: StandbyRequest.self) { raw, request in
            try raw.requireOnlyParameters(["node"])
            return try await self.audited(raw, "unstandby \(request.node ?? "(this node)")") { try await self.setStandby(node: request.node, false) }
        }
        router.post("/v1/failover", body: FailoverRequest.self) { raw, request in
            try await self.audited(raw, "failover \(request.group ?? "every group")\(request.to.map { " --to \($0)" } ?? "")") {
                try await self.failover(group: request.group, to: request.to)
            }
        }
        router.post("/v1/ban", body: BanRequest.self) { raw, request in
            try raw.requireOnlyParameters(["group", "node"])
            return try await self.audited(raw, "failover \(request.group) --ban \(request.node)") {
                try await self.ban(group: request.group, node: request.node)
            }
        }
        router.post("/v1/unban", body: ClearBansRequest.self) { raw, request in
            try raw.requireOnlyParameters(["group"])
            return try await self.audited(raw, "failover \(request.group.map { "\($0) " } ?? "")--clear") { try await self.clearBans(group: request.group) }
        }
        // The token is a secret: the history keeps who asked, the address and the expiry, never the token.
        router.post("/v1/token", body: TokenRequest.self) { raw, request in
            try raw.requireOnlyParameters(["expiresSeconds"])
            let seconds = request.expiresSeconds ?? Int(MembershipRecord.defaultInvitationLifetime.components.seconds)
            let who = Self.caller(raw.peer)
            do {
                let answer = try await self.issueToken(lifetime: .seconds(seconds))
                await self.record(.command, "token: issued for \(answer.address), expires \(answer.expiresAt) (membership revision \(answer.revision))", who: who)
                return answer
            } catch {
                await self.record(.command, "token: refused: \(error)", who: who)
                throw error
            }
        }
        router.post("/v1/maintenance", body: MaintenanceRequest.self) { raw, request in
            try await self.audited(raw, "maintenance \(request.on ? "on" : "off")") { try await self.setMaintenance(request.on) }
        }
        router.post("/v1/cleanup", body: CleanupRequest.self) { raw, request in
            try await self.audited(raw, "resource cleanup \(request.group ?? "every group")\(request.node.map { " --node \($0)" } ?? "")") {
                try await self.cleanup(group: request.group, node: request.node)
            }
        }
        router.post("/v1/vips", body: VIPAddRequest.self) { raw, request in
            try await self.audited(raw, "vip add \(request.name) \(request.address)") {
                try await self.addVIP(name: request.name, cidr: request.address, interface: request.interface, group: request.group)
            }
        }
        router.delete("/v1/vips/{name}") { request in
            let name = request.pathParameters["name"] ?? ""
            return try await self.audited(request, "vip remove \(name)") { try await self.removeVIP(name: name) }
        }
        router.post("/v1/services", body: ServiceAddRequest.self) { raw, request in
            try await self.audited(raw, "service add \(request.name)") { try await self.addService(request) }
        }
        router.delete("/v1/services/{name}") { request in
            let name = request.pathParameters["name"] ?? ""
            return try await self.audited(request, "service remove \(name)") { try await self.removeService(name: name) }
        }
        router.post("/v1/reload", body: ReloadRequest.self) { raw, request in
            try await self.audited(raw, "reload") { try await reload(request) }
        }
        router.get("/v1/history") { request in
            await self.history.recent(request.query["lines"].flatMap(Int.init) ?? 50)
        }
        if let configurationPath {
            router.get("/v1/reload/plan") { _ in try await self.reloadPlan(path: configurationPath) }
        }
        router.get("/v1/config") { request in await self.exportConfiguration(includeSecrets: request.query["secrets"] == "include") }
        if let logs {
            router.get("/v1/logs") { request in
                let after = request.query["after"].flatMap(UInt64.init)
                let limit = request.query["lines"].flatMap(Int.init) ?? 50
                let minimum = request.query["priority"].flatMap { Logger.Level(rawValue: $0) } ?? .trace
                return logs.entries(after: after, limit: limit, minimumLevel: minimum)
            }
        }
        if let metrics {
            router.add("GET", "/metrics") { _ in
                ControlResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: metrics())
            }
        }
        return router
    }
}

public struct FailoverRequest: Sendable, Equatable, Codable {
    public var group: String?
    public var to: String?
    public init(group: String? = nil, to: String? = nil) {
        self.group = group
        self.to = to
    }
}

public struct MaintenanceRequest: Sendable, Equatable, Codable {
    public var on: Bool
    public init(on: Bool) { self.on = on }
}

public struct CleanupRequest: Sendable, Equatable, Codable {
    public var group: String?
    public var node: String?
    public init(group: String? = nil, node: String? = nil) {
        self.group = group
        self.node = node
    }
}

public struct VIPAddRequest: Sendable, Equatable, Codable {
    public var name: String
    /// `ADDRESS` or `ADDRESS/PREFIX`.
    public var address: String
    public var interface: String?
    public var group: String?
    public init(name: String, address: String, interface: String? = nil, group: String? = nil) {
        self.name = name
        self.address = address
        self.interface = interface
        self.group = group
    }
}

/// Serves the control API on the Unix socket for the daemon's lifetime.
public struct ControlService: Service {
    let server: ControlServer
    let logger: Logger

    public init(router: ControlRouter, socketPath: String = ControlServer.defaultSocketPath, logger: Logger) {
        self.server = ControlServer(socketPath: socketPath, router: router, logger: logger)
        self.logger = logger
    }

    public func run() async throws {
        try server.start()
        try? await gracefulShutdown()
        await server.stop()
    }
}
