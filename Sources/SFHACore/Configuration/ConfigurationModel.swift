import SFHABase

/// The whole of `/etc/sfha/config.yml` once loaded and validated: the cluster-wide part (identical on every node,
/// replicated as a `ClusterDocument`), the node-local part, and the warnings found while loading.
public struct SFHAConfiguration: Sendable, Equatable, Codable, CustomStringConvertible {
    public var cluster: ClusterConfiguration
    public var node: NodeConfiguration
    /// Unknown keys, deprecated keys and suspicious-but-valid values. Never errors: an invalid file throws.
    public var warnings: [ConfigurationWarning]

    public init(cluster: ClusterConfiguration, node: NodeConfiguration, warnings: [ConfigurationWarning] = []) {
        self.cluster = cluster
        self.node = node
        self.warnings = warnings
    }

    public var description: String {
        "SFHAConfiguration(node: \(node), cluster: \(cluster), warnings: \(warnings.count))"
    }
}

/// Log verbosity (`logging.level`).
public enum LogLevel: String, Sendable, Equatable, Codable, CaseIterable {
    case debug, info, warn, error
}

/// The node-local part of the configuration (`node:` and `logging:`): what differs from node to node.
public struct NodeConfiguration: Sendable, Equatable, Codable, CustomStringConvertible {
    /// This node's name; must equal its corosync `name:` (`[A-Za-z0-9._-]`, 1–64 characters).
    public var name: String
    /// This node's own preference (higher wins), published at runtime. `cluster.node_priorities` and group
    /// `priorities` take precedence over it; see `ClusterConfiguration.priority(of:in:published:)`.
    public var priority: Int
    public var logLevel: LogLevel
    /// Where sfhad also serves `GET /metrics` over TCP (`metrics.listen`), for Prometheus to scrape without a
    /// proxy; nil (the default): only on the control socket. Read at start.
    public var metricsListen: ListenAddress?

    public static let defaultPriority = 100

    public init(
        name: String, priority: Int = NodeConfiguration.defaultPriority, logLevel: LogLevel = .info, metricsListen: ListenAddress? = nil
    ) {
        self.name = name
        self.priority = priority
        self.logLevel = logLevel
        self.metricsListen = metricsListen
    }

    public var description: String {
        "node \(name) (priority \(priority), log level \(logLevel.rawValue)\(metricsListen.map { ", metrics on \($0)" } ?? ""))"
    }
}

/// A TCP address to listen on: `ADDRESS:PORT`, `[IPv6]:PORT`. An address, not a host name: what is bound is exactly
/// what the operator wrote.
public struct ListenAddress: Sendable, Hashable, Codable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// Parses `ADDRESS:PORT` or `[IPv6]:PORT`, or says why it cannot.
    public static func parse(_ text: String) -> Result<ListenAddress, SFHAError> {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                return .failure(SFHAError(.invalidArgument, "'\(text)' is not [IPv6]:PORT"))
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon else {
                return .failure(SFHAError(.invalidArgument, "'\(text)' is not ADDRESS:PORT (write an IPv6 address as [ADDRESS]:PORT)"))
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard let address = IPAddress(host) else {
            return .failure(SFHAError(.invalidArgument, "'\(host)' is not an IPv4 or IPv6 address (a host name is not accepted)"))
        }
        guard let port = parseInteger(String(portText)), (1...65535).contains(port) else {
            return .failure(SFHAError(.invalidArgument, "'\(portText)' is not a port (1 to 65535)"))
        }
        return .success(ListenAddress(address: address, port: UInt16(port)))
    }

    public var description: String { address.isIPv6 ? "[\(address)]:\(port)" : "\(address):\(port)" }
}

/// The cluster-wide part of the configuration. Every node must see the same value; it is what nodes replicate
/// (wrapped in a `ClusterDocument`).
public struct ClusterConfiguration: Sendable, Equatable, Codable, CustomStringConvertible {
    public var name: String
    /// Resources run only on a node that is part of a quorate partition (`cluster.quorum_required`). When false, a
    /// node's ring counts as proven without quorum too, so a partition without quorum keeps and takes groups.
    public var quorumRequired: Bool

    public static let quorumNotRequiredWarning =
        "false: a partition without quorum keeps and takes groups, so a network split puts a VIP on both sides "
        + "(sfha's never-two-holders guarantee needs quorum_required: true; nothing is fenced yet)"
    /// How long after a holder leaves the membership before another node may take its groups
    /// (`cluster.failover_delay_ms`, default `defaultTakeoverDelay`).
    public var takeoverDelay: Duration
    /// While true, sfha watches but never starts, stops or moves anything (`cluster.maintenance`).
    public var maintenance: Bool
    /// Resource groups, each placed on one node. Resources in no group form the group named `default`.
    public var groups: [ResourceGroup]
    /// Node health checks (`health_checks:`): run on every node; a failing critical check makes the node
    /// ineligible for every group, a failing check named by a group's `requiredChecks` for that group.
    public var nodeChecks: [HealthCheck]
    /// The `constraints:` list exactly as written (already folded into `groups`).
    public var constraints: [Constraint]
    public var stonith: StonithConfiguration?
    /// Cluster-wide node priorities (`cluster.node_priorities`), so that every node ranks candidates the same way.
    public var nodePriorities: [String: Int]
    /// Nodes in standby (`cluster.standby_nodes`, set by `sfha standby [NODE]`): they hold no group. Kept in the
    /// replicated document, so standby survives a daemon restart and a reboot. Sorted, no duplicates.
    public var standbyNodes: [String] = []
    /// Group → nodes that may not hold it (`cluster.banned_nodes`, set by `sfha failover GROUP --ban NODE`, removed
    /// by `--clear`). Replicated and persistent like standby. Each list sorted, no duplicates, no empty list.
    public var bannedNodes: [String: [String]] = [:]

    /// Whether a node that left can be fenced: STONITH enabled and implemented (it is not yet, so never).
    public var fences: Bool { stonith?.enabled == true && StonithConfiguration.isImplemented }

    public static let defaultName = "sfha-cluster"
    /// No extra wait: a takeover already waits for the ring's fence, which is what keeps the old holder's VIP from
    /// overlapping the new one (Docs/Daemon.md, Rule 2); the delay only postpones a move an operator wants slower.
    public static let defaultTakeoverDelay: Duration = .zero

    public init(
        name: String = ClusterConfiguration.defaultName, quorumRequired: Bool = true,
        takeoverDelay: Duration = ClusterConfiguration.defaultTakeoverDelay, maintenance: Bool = false,
        groups: [ResourceGroup] = [], nodeChecks: [HealthCheck] = [], constraints: [Constraint] = [],
        stonith: StonithConfiguration? = nil, nodePriorities: [String: Int] = [:]
    ) {
        self.name = name
        self.quorumRequired = quorumRequired
        self.takeoverDelay = takeoverDelay
        self.maintenance = maintenance
        self.groups = groups
        self.nodeChecks = nodeChecks
        self.constraints = constraints
        self.stonith = stonith
        self.nodePriorities = nodePriorities
    }

    /// The group called `name`.
    public func group(named name: String) -> ResourceGroup? {
        groups.first { $0.name == name }
    }

    /// The group holding the VIP or service called `resource`.
    public func group(containing resource: String) -> ResourceGroup? {
        groups.first { group in
            group.vips.contains { $0.name == resource } || group.services.contains { $0.name == resource }
        }
    }

    /// The priority of `node` for `group` (higher is preferred). The first that exists wins:
    /// 1. the group's `priorities[node]`,
    /// 2. `cluster.node_priorities[node]` (the same on every node),
    /// 3. `published`: the `node.priority` that node announced at runtime,
    /// 4. `NodeConfiguration.defaultPriority` (100).
    public func priority(of node: String, in group: ResourceGroup, published: Int?) -> Int {
        group.priorities[node] ?? nodePriorities[node] ?? published ?? NodeConfiguration.defaultPriority
    }

    public var description: String {
        var parts = [
            "name: \(name)", "quorumRequired: \(quorumRequired)", "takeoverDelay: \(takeoverDelay.sfhaText)",
            "maintenance: \(maintenance)", "groups: \(groups)", "nodeChecks: \(nodeChecks)",
            "constraints: \(constraints)",
        ]
        if let stonith { parts.append("stonith: \(stonith)") }
        if !nodePriorities.isEmpty { parts.append("nodePriorities: \(nodePriorities.sorted { $0.key < $1.key })") }
        return "ClusterConfiguration(" + parts.joined(separator: ", ") + ")"
    }

    enum CodingKeys: String, CodingKey {
        case name, quorumRequired, takeoverDelayMilliseconds, maintenance, groups, nodeChecks, constraints, stonith,
             nodePriorities, standbyNodes, bannedNodes
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        quorumRequired = try c.decode(Bool.self, forKey: .quorumRequired)
        takeoverDelay = try c.decodeMilliseconds(forKey: .takeoverDelayMilliseconds)
        maintenance = try c.decode(Bool.self, forKey: .maintenance)
        groups = try c.decode([ResourceGroup].self, forKey: .groups)
        nodeChecks = try c.decode([HealthCheck].self, forKey: .nodeChecks)
        constraints = try c.decode([Constraint].self, forKey: .constraints)
        stonith = try c.decodeIfPresent(StonithConfiguration.self, forKey: .stonith)
        nodePriorities = try c.decode([String: Int].self, forKey: .nodePriorities)
        // Absent in documents written before standby was replicated.
        standbyNodes = try c.decodeIfPresent([String].self, forKey: .standbyNodes) ?? []
        bannedNodes = try c.decodeIfPresent([String: [String]].self, forKey: .bannedNodes) ?? [:]
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(quorumRequired, forKey: .quorumRequired)
        try c.encodeMilliseconds(takeoverDelay, forKey: .takeoverDelayMilliseconds)
        try c.encode(maintenance, forKey: .maintenance)
        try c.encode(groups, forKey: .groups)
        try c.encode(nodeChecks, forKey: .nodeChecks)
        try c.encode(constraints, forKey: .constraints)
        try c.encodeIfPresent(stonith, forKey: .stonith)
        try c.encode(nodePriorities, forKey: .nodePriorities)
        if !standbyNodes.isEmpty { try c.encode(standbyNodes, forKey: .standbyNodes) }
        if !bannedNodes.isEmpty { try c.encode(bannedNodes, forKey: .bannedNodes) }
    }
}

/// A set of VIPs and services that always run together on one node.
public struct ResourceGroup: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The group of resources that belong to no explicit group.
    public static let defaultName = "default"

    public var name: String
    /// Added in this order, before any service starts; removed after every service stopped.
    public var vips: [VirtualIP]
    /// In start order (stop order is the reverse).
    public var services: [ManagedService]
    /// Node name → priority for this group; overrides cluster and node priorities.
    public var priorities: [String: Int]
    /// When a node with a higher priority becomes eligible, move the group back to it (after `failbackDelay`).
    /// Default false: a running group stays where it is.
    public var failback: Bool
    public var failbackDelay: Duration
    /// Groups this group must run with (on the same node). This group follows them, not the other way round.
    public var colocatedWith: [String]
    /// Groups whose resources must be started (anywhere in the cluster) before this group starts.
    public var startAfter: [String]
    /// Node health checks (by name) that must be healthy on a node for this group to run there
    /// (from `colocation` constraints naming a health check).
    public var requiredChecks: [String]

    public init(
        name: String, vips: [VirtualIP] = [], services: [ManagedService] = [], priorities: [String: Int] = [:],
        failback: Bool = false, failbackDelay: Duration = .zero, colocatedWith: [String] = [], startAfter: [String] = [],
        requiredChecks: [String] = []
    ) {
        self.name = name
        self.vips = vips
        self.services = services
        self.priorities = priorities
        self.failback = failback
        self.failbackDelay = failbackDelay
        self.colocatedWith = colocatedWith
        self.startAfter = startAfter
        self.requiredChecks = requiredChecks
    }

    /// The names of the group's VIPs and services.
    public var resourceNames: [String] { vips.map(\.name) + services.map(\.name) }

    public var description: String {
        var text = "group \(name) [vips: \(vips.map(\.name)), services: \(services.map(\.name))"
        if !priorities.isEmpty { text += ", priorities: \(priorities.sorted { $0.key < $1.key })" }
        if failback { text += ", failback after \(failbackDelay.sfhaText)" }
        if !colocatedWith.isEmpty { text += ", with: \(colocatedWith)" }
        if !startAfter.isEmpty { text += ", after: \(startAfter)" }
        if !requiredChecks.isEmpty { text += ", checks: \(requiredChecks)" }
        return text + "]"
    }

    enum CodingKeys: String, CodingKey {
        case name, vips, services, priorities, failback, failbackDelayMilliseconds, colocatedWith, startAfter,
             requiredChecks
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        vips = try c.decode([VirtualIP].self, forKey: .vips)
        services = try c.decode([ManagedService].self, forKey: .services)
        priorities = try c.decode([String: Int].self, forKey: .priorities)
        failback = try c.decode(Bool.self, forKey: .failback)
        failbackDelay = try c.decodeMilliseconds(forKey: .failbackDelayMilliseconds)
        colocatedWith = try c.decode([String].self, forKey: .colocatedWith)
        startAfter = try c.decode([String].self, forKey: .startAfter)
        requiredChecks = try c.decode([String].self, forKey: .requiredChecks)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(vips, forKey: .vips)
        try c.encode(services, forKey: .services)
        try c.encode(priorities, forKey: .priorities)
        try c.encode(failback, forKey: .failback)
        try c.encodeMilliseconds(failbackDelay, forKey: .failbackDelayMilliseconds)
        try c.encode(colocatedWith, forKey: .colocatedWith)
        try c.encode(startAfter, forKey: .startAfter)
        try c.encode(requiredChecks, forKey: .requiredChecks)
    }
}

/// A floating IP address.
public struct VirtualIP: Sendable, Hashable, Codable, CustomStringConvertible {
    public var name: String
    public var address: IPAddress
    public var prefixLength: Int
    public var interface: String

    public static let defaultInterface = "eth0"
    public static let defaultIPv4PrefixLength = 24
    public static let defaultIPv6PrefixLength = 64

    public init(name: String, address: IPAddress, prefixLength: Int, interface: String = VirtualIP.defaultInterface) {
        self.name = name
        self.address = address
        self.prefixLength = prefixLength
        self.interface = interface
    }

    /// `address/prefix`, as `ip addr add` takes it.
    public var cidr: String { "\(address)/\(prefixLength)" }

    public var description: String { "vip \(name) \(cidr) dev \(interface)" }
}

/// A systemd unit that sfha starts on the node holding its group and stops elsewhere.
public struct ManagedService: Sendable, Equatable, Codable, CustomStringConvertible {
    public var name: String
    /// The unit exactly as the operator wrote it (`nginx`, `nginx.service`, `getty@tty1`); validated.
    public var unit: String
    /// A failure that exhausts `failurePolicy` moves the group to another node. Non-critical services are only
    /// reported.
    public var critical: Bool
    /// Whether sfha restarts the unit in place before declaring it failed (`failurePolicy.maxRestarts` times).
    public var restartService: Bool
    public var healthCheck: HealthCheck?
    public var failurePolicy: FailurePolicy

    public init(
        name: String, unit: String? = nil, critical: Bool = false, restartService: Bool = false,
        healthCheck: HealthCheck? = nil, failurePolicy: FailurePolicy? = nil
    ) {
        self.name = name
        self.unit = unit ?? name
        self.critical = critical
        self.restartService = restartService
        self.healthCheck = healthCheck
        self.failurePolicy = failurePolicy ?? FailurePolicy(restartService: restartService)
    }

    /// The unit's full name as systemd reports it over D-Bus: `unit` plus `.service` when it has no unit-type
    /// suffix (what `systemctl` itself does).
    public var systemdUnitName: String { SystemdUnitName.fullName(unit) }

    /// How often the holder reads the unit's own state. A periodic read, not an event: sfha links no D-Bus
    /// library, and one `systemctl is-active` per interval is cheap next to the failover it guards.
    public static let unitWatchInterval: Duration = .seconds(2)
    public static let unitWatchTimeout: Duration = .seconds(2)
    /// Reads in a row that must say "not active" before the unit counts as failed: one read may catch systemd
    /// between a stop and its own `Restart=`.
    public static let unitWatchFailures = 2

    /// The name of the check that watches the unit's own state: never a resource name (those have no '/').
    public static func unitCheckName(_ service: String) -> String { "\(service)/unit" }

    /// The unit's own state as a check, run on the holder whether or not the service has a `healthcheck:`: a unit
    /// stopped or killed behind sfha's back counts as a failure of the service.
    public var unitCheck: HealthCheck {
        HealthCheck(
            name: Self.unitCheckName(name), kind: .systemd(unit: unit), interval: Self.unitWatchInterval,
            timeout: Self.unitWatchTimeout, failuresBeforeUnhealthy: Self.unitWatchFailures, successesBeforeHealthy: 1,
            critical: critical)
    }

    /// Every check that judges this service on its holder: the unit's state, then its own health check if any.
    public var checks: [HealthCheck] { [unitCheck] + (healthCheck.map { [$0] } ?? []) }

    public var description: String {
        var text = "service \(name) (\(unit)"
        if critical { text += ", critical" }
        if restartService { text += ", restart ×\(failurePolicy.maxRestarts)/\(failurePolicy.window.sfhaText)" }
        return text + ")"
    }
}

/// What sfha does when a managed service fails (unit failed/inactive, or its health check became unhealthy).
public struct FailurePolicy: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Restarts in place allowed within `window` before the service counts as failed on this node.
    public var maxRestarts: Int
    public var window: Duration
    /// After a failure the node is ineligible for the group; after this delay it becomes eligible again.
    /// `nil`: until an operator clears the failure.
    public var failureTimeout: Duration?

    public static let defaultMaxRestarts = 3
    public static let defaultWindow: Duration = .seconds(60)

    public init(maxRestarts: Int, window: Duration = FailurePolicy.defaultWindow, failureTimeout: Duration? = nil) {
        self.maxRestarts = maxRestarts
        self.window = window
        self.failureTimeout = failureTimeout
    }

    /// The default policy: 3 restarts per 60 s when `restart_service` is true, none otherwise.
    public init(restartService: Bool) {
        self.init(maxRestarts: restartService ? Self.defaultMaxRestarts : 0)
    }

    public var description: String {
        "\(maxRestarts) restarts per \(window.sfhaText), failure timeout \(failureTimeout?.sfhaText ?? "none")"
    }

    enum CodingKeys: String, CodingKey {
        case maxRestarts, windowMilliseconds, failureTimeoutMilliseconds
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        maxRestarts = try c.decode(Int.self, forKey: .maxRestarts)
        window = try c.decodeMilliseconds(forKey: .windowMilliseconds)
        failureTimeout = try c.decodeMillisecondsIfPresent(forKey: .failureTimeoutMilliseconds)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(maxRestarts, forKey: .maxRestarts)
        try c.encodeMilliseconds(window, forKey: .windowMilliseconds)
        if let failureTimeout { try c.encodeMilliseconds(failureTimeout, forKey: .failureTimeoutMilliseconds) }
    }
}

/// One entry of `constraints:`, as written. The loader folds them into the groups.
public enum Constraint: Sendable, Equatable, Codable, CustomStringConvertible {
    /// `resource` runs on the same node as `with` (a VIP, a service or a node health check).
    case colocation(resource: String, with: String)
    /// `first` is started before `then` (and stopped after it).
    case order(first: String, then: String)

    public var description: String {
        switch self {
        case .colocation(let resource, let with): "colocation \(resource) with \(with)"
        case .order(let first, let then): "order \(first) then \(then)"
        }
    }

    enum CodingKeys: String, CodingKey { case type, resource, with, first, then }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        switch try c.decode(String.self, forKey: .type) {
        case "colocation":
            self = .colocation(resource: try c.decode(String.self, forKey: .resource),
                               with: try c.decode(String.self, forKey: .with))
        case "order":
            self = .order(first: try c.decode(String.self, forKey: .first), then: try c.decode(String.self, forKey: .then))
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .type, in: c, debugDescription: "unknown constraint type \(other)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .colocation(let resource, let with):
            try c.encode("colocation", forKey: .type)
            try c.encode(resource, forKey: .resource)
            try c.encode(with, forKey: .with)
        case .order(let first, let then):
            try c.encode("order", forKey: .type)
            try c.encode(first, forKey: .first)
            try c.encode(then, forKey: .then)
        }
    }
}

// MARK: - Durations as integer milliseconds

extension Duration {
    /// Whole milliseconds (truncated), saturating at the bounds of `Int64`: a duration built in code (or received)
    /// can hold more seconds than fit in milliseconds, and encoding it must not trap.
    var sfhaMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        let (sum, sumOverflow) = whole.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
        guard !sumOverflow else { return seconds < 0 ? .min : .max }
        return sum
    }

    /// Short human text: `500ms`, `5s`, `2m`, `1h`, `1m30s`.
    public var sfhaText: String {
        var ms = sfhaMilliseconds
        if ms == 0 { return "0s" }
        if ms < 0 || ms % 1000 != 0 { return "\(ms)ms" }
        var out = ""
        ms /= 1000
        if ms >= 3600 {
            out += "\(ms / 3600)h"
            ms %= 3600
        }
        if ms >= 60 {
            out += "\(ms / 60)m"
            ms %= 60
        }
        if ms > 0 { out += "\(ms)s" }
        return out
    }
}

extension KeyedEncodingContainer {
    mutating func encodeMilliseconds(_ duration: Duration, forKey key: Key) throws {
        try encode(duration.sfhaMilliseconds, forKey: key)
    }
}

extension KeyedDecodingContainer {
    func decodeMilliseconds(forKey key: Key) throws -> Duration {
        .milliseconds(try decode(Int64.self, forKey: key))
    }

    func decodeMillisecondsIfPresent(forKey key: Key) throws -> Duration? {
        try decodeIfPresent(Int64.self, forKey: key).map { .milliseconds($0) }
    }
}

extension ClusterConfiguration {
    /// The node is healthy while no node check that is critical, or that a group requires, is failing.
    public func nodeIsHealthy(failing: (String) -> Bool) -> Bool {
        let required = Set(groups.flatMap(\.requiredChecks))
        return !nodeChecks.contains { ($0.critical || required.contains($0.name)) && failing($0.name) }
    }
}
