import SFHABase
import Foundation
import Yams

extension SFHAConfiguration {
    /// Where sfha reads its configuration.
    public static let defaultPath = "/etc/sfha/config.yml"

    /// Reads, parses and validates a configuration file. Throws every problem at once (the first
    /// `maximumReportedDiagnostics` of them, and how many more there are).
    ///
    /// Only a regular file (symlinks followed) of at most `maximumFileSize` bytes is read; anything else (a FIFO, a
    /// device, a directory, a socket) is refused at once, without blocking.
    public static func load(path: String = SFHAConfiguration.defaultPath) throws(ConfigurationError) -> SFHAConfiguration {
        try parse(yaml: try ConfigurationFile.readText(path), path: path)
    }

    /// Parses and validates configuration text; `path` is only used in messages. Text over `maximumFileSize` bytes
    /// is refused, as a file would be.
    public static func parse(yaml: String, path: String = SFHAConfiguration.defaultPath) throws(ConfigurationError)
        -> SFHAConfiguration
    {
        guard yaml.utf8.count <= maximumFileSize else {
            throw ConfigurationError(ConfigurationDiagnostic(
                file: path, line: 0, column: 0, keyPath: "",
                message: "the configuration is \(yaml.utf8.count) bytes, over the \(maximumFileSize)-byte limit for a "
                    + "configuration file"))
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigurationError(yamlDiagnostic(error, file: path, text: yaml))
        }
        let parser = ConfigurationParser(file: path)
        let result = parser.parse(root: root)
        guard parser.reader.errors.isEmpty, let result else {
            throw ConfigurationError(items: parser.reader.errors.reported(file: path, kind: "error"))
        }
        return SFHAConfiguration(
            cluster: result.cluster, node: result.node,
            warnings: parser.reader.warnings.reported(file: path, kind: "warning").map(ConfigurationWarning.init))
    }

    private static func yamlDiagnostic(_ error: any Error, file: String, text: String) -> ConfigurationDiagnostic {
        func item(_ mark: Mark?, _ message: String) -> ConfigurationDiagnostic {
            item(mark.map { Position(line: $0.line, column: $0.column) } ?? .none, message)
        }
        func item(_ position: Position, _ message: String) -> ConfigurationDiagnostic {
            ConfigurationDiagnostic(file: file, line: position.line, column: position.column, keyPath: "", message: message)
        }
        guard let yamlError = error as? YamlError else { return item(nil, "invalid YAML: \(error)") }
        switch yamlError {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            var message = "invalid YAML: \(problem)"
            if character(at: mark, in: text) == "\t" {
                message += " (a tab: YAML is indented with spaces only)"
            } else if let context {
                message += " (\(context.text) started at line \(context.mark.line), column \(context.mark.column))"
            }
            return item(mark, message)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let shown = duplicates.sorted().prefix(maximumReportedDiagnostics)
            var keys = shown.map(quoted).joined(separator: ", ")
            if duplicates.count > shown.count { keys += " and \(duplicates.count - shown.count) more" }
            let noun = duplicates.count == 1 ? "key" : "keys"
            let verb = duplicates.count == 1 ? "appears" : "appear"
            return item(context.mark, "invalid YAML: \(noun) \(keys) \(verb) more than once in the same mapping")
        case .reader(let problem, let offset, _, _):
            return item(offset.map { positionOf(offset: $0, in: text) } ?? .none, "invalid YAML: \(problem)")
        default:
            return item(nil, "invalid YAML: \(yamlError)")
        }
    }

    /// The character at a 1-based line/column (columns count Unicode scalars, as libyaml does).
    private static func character(at mark: Mark, in text: String) -> Unicode.Scalar? {
        var line = 1
        var column = 1
        for scalar in text.unicodeScalars {
            if line == mark.line && column == mark.column { return scalar }
            if scalar == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return nil
    }

    private static func positionOf(offset: Int, in text: String) -> Position {
        var line = 1
        var column = 1
        for (index, byte) in text.utf8.enumerated() {
            if index == offset { return Position(line: line, column: column) }
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return Position(line: line, column: column)
    }
}

// MARK: - The parser

/// Reads one configuration document. Each section parser records problems in `reader` and carries on with
/// whatever it could read, so that one pass reports every problem (cross-references to a resource whose own
/// definition had an error still resolve, so one mistake gives one message).
final class ConfigurationParser {
    let reader: YAMLReader

    init(file: String) {
        reader = YAMLReader(file: file)
    }

    struct Output {
        var cluster: ClusterConfiguration
        var node: NodeConfiguration
    }

    struct ParsedVIP {
        var name: Located<String>?
        var vip: VirtualIP?
        var group: Located<String>?
    }

    struct ParsedService {
        var name: Located<String>?
        var service: ManagedService?
        var group: Located<String>?
    }

    struct ParsedCheck {
        var name: Located<String>?
        var check: HealthCheck?
    }

    struct ParsedGroup {
        var name: Located<String>?
        var position: Position
        var path: String
        var priorities: [String: Int]
        var failback: Bool
        var failbackDelay: Duration
        var colocateWith: [Located<String>]
        var startAfter: [Located<String>]
        var vips: [Located<String>]
        var services: [Located<String>]
    }

    struct ParsedConstraint {
        var constraint: Constraint
        /// `resource`/`first` and `with`/`then`.
        var left: Located<String>
        var right: Located<String>
        var path: String
    }

    static let topLevelKeys = [
        "cluster", "node", "vips", "services", "health_checks", "constraints", "stonith", "logging", "groups", "metrics",
    ]

    func parse(root: Node?) -> Output? {
        let rootMap: YAMLMap?
        if let root, !root.isNull {
            rootMap = reader.mapping(root, path: "")
        } else {
            rootMap = YAMLMap(path: "", node: Node([(Node, Node)]()), entries: [])
        }
        guard let rootMap else { return nil }
        reader.checkKeys(rootMap, known: Self.topLevelKeys)

        let clusterMap = reader.mapping(rootMap, "cluster")
        var cluster = parseCluster(clusterMap)
        let node = parseNode(rootMap)
        let vips = reader.list(rootMap, "vips").map { parseVIP($0.node, path: $0.path) }
        let services = reader.list(rootMap, "services").map { parseService($0.node, path: $0.path) }
        let checks = reader.list(rootMap, "health_checks").map { parseNodeCheck($0.node, path: $0.path) }
        let groups = reader.list(rootMap, "groups").map { parseGroup($0.node, path: $0.path) }
        let constraints = reader.list(rootMap, "constraints").compactMap { parseConstraint($0.node, path: $0.path) }
        if rootMap.contains("stonith") {
            cluster.stonith = parseStonith(rootMap)
        }

        var resolver = GroupResolver(
            reader: reader, vips: vips, services: services, checks: checks, groups: groups, constraints: constraints)
        let resolved = resolver.resolve()

        cluster.groups = resolved
        if let clusterMap {
            cluster.bannedNodes = parseBans(reader.mapping(clusterMap, "banned_nodes"), groups: Set(resolved.map(\.name)))
        }
        cluster.nodeChecks = checks.compactMap(\.check)
        cluster.constraints = constraints.map(\.constraint)

        guard reader.errors.isEmpty, let node else { return nil }
        return Output(cluster: cluster, node: node)
    }

    // MARK: cluster, node, logging

    private func parseCluster(_ map: YAMLMap?) -> ClusterConfiguration {
        var cluster = ClusterConfiguration()
        guard let map else { return cluster }
        reader.checkKeys(
            map, known: [
                "name", "quorum_required", "failover_delay_ms", "maintenance", "node_priorities", "standby_nodes",
                "banned_nodes",
            ],
            deprecated: [
                "poll_interval_ms": "deprecated and ignored: sfha reacts to corosync membership and quorum events "
                    + "instead of polling; remove this key",
            ])
        if let name = reader.string(map, "name") {
            if let problem = Validators.clusterName(name.value) {
                reader.error(name.path, name.position, "\(quoted(name.value)) is not a valid cluster name: \(problem)")
            }
            cluster.name = name.value
        }
        if let value = reader.bool(map, "quorum_required") {
            cluster.quorumRequired = value
            if !value {
                reader.warning(map.path("quorum_required"), map.keyPosition("quorum_required"), ClusterConfiguration.quorumNotRequiredWarning)
            }
        }
        if let delay = reader.duration(map, "failover_delay_ms", unit: .milliseconds, in: .zero ... .seconds(600)) {
            cluster.takeoverDelay = delay
        }
        if let value = reader.bool(map, "maintenance") { cluster.maintenance = value }
        cluster.nodePriorities = parsePriorities(reader.mapping(map, "node_priorities"))
        var standby: Set<String> = []
        for node in reader.stringList(map, "standby_nodes") {
            if let problem = Validators.nodeName(node.value) {
                reader.error(node.path, node.position, "\(quoted(node.value)) is not a valid node name: \(problem)")
            } else {
                standby.insert(node.value)
            }
        }
        cluster.standbyNodes = standby.sorted()
        return cluster
    }

    /// `cluster.banned_nodes`: group → nodes that may not hold it (`sfha failover GROUP --ban NODE`). A ban on a
    /// group the file does not define is dropped with a warning (the group was removed; the ban means nothing).
    private func parseBans(_ map: YAMLMap?, groups: Set<String>) -> [String: [String]] {
        guard let map else { return [:] }
        var bans: [String: [String]] = [:]
        for entry in map.entries {
            let path = map.path(entry.key)
            var nodes: Set<String> = []
            for item in reader.list(entry.value, path: path) {
                guard let node = reader.string(item.node, path: item.path) else { continue }
                if let problem = Validators.nodeName(node.value) {
                    reader.error(node.path, node.position, "\(quoted(node.value)) is not a valid node name: \(problem)")
                } else {
                    nodes.insert(node.value)
                }
            }
            guard groups.contains(entry.key) else {
                reader.warning(path, Position(entry.keyNode), "no group is named \(quoted(entry.key)): its ban is ignored")
                continue
            }
            if !nodes.isEmpty { bans[entry.key] = nodes.sorted() }
        }
        return bans
    }

    private func parseNode(_ root: YAMLMap) -> NodeConfiguration? {
        let map = reader.mapping(root, "node")
        var level = LogLevel.info
        if let logging = reader.mapping(root, "logging") {
            reader.checkKeys(logging, known: ["level"])
            if let text = reader.string(logging, "level") {
                if let parsed = LogLevel(rawValue: text.value) {
                    level = parsed
                } else {
                    reader.error(text.path, text.position, "\(quoted(text.value)) is not a log level: expected "
                        + LogLevel.allCases.map(\.rawValue).joined(separator: ", "))
                }
            }
        }
        var metricsListen: ListenAddress?
        if let metrics = reader.mapping(root, "metrics") {
            reader.checkKeys(metrics, known: ["listen"])
            if let text = reader.string(metrics, "listen") {
                switch ListenAddress.parse(text.value) {
                case .success(let address): metricsListen = address
                case .failure(let error): reader.error(text.path, text.position, error.message)
                }
            }
        }
        guard let map else {
            reader.error("node.name", root.contains("node") ? root.keyPosition("node") : .none,
                         "is required (this node's name, as in corosync.conf)")
            return nil
        }
        reader.checkKeys(map, known: ["name", "priority"])
        let name = reader.string(map, "name", required: "this node's name, as in corosync.conf")
        var priority = NodeConfiguration.defaultPriority
        if let value = reader.int(map, "priority", in: Self.priorityRange) { priority = value.value }
        guard let name else { return nil }
        if let problem = Validators.nodeName(name.value) {
            reader.error(name.path, name.position, "\(quoted(name.value)) is not a valid node name: \(problem)")
            return nil
        }
        return NodeConfiguration(name: name.value, priority: priority, logLevel: level, metricsListen: metricsListen)
    }

    static let priorityRange = 0...1000

    /// `{node1: 200, node2: 100}`.
    private func parsePriorities(_ map: YAMLMap?) -> [String: Int] {
        guard let map else { return [:] }
        var result: [String: Int] = [:]
        for entry in map.entries {
            let path = map.path(entry.key)
            if let problem = Validators.nodeName(entry.key) {
                reader.error(path, Position(entry.keyNode), "\(quoted(entry.key)) is not a valid node name: \(problem)")
                continue
            }
            guard !entry.value.isNull else {
                reader.error(path, Position(entry.keyNode), "a priority is required (an integer from 0 to 1000)")
                continue
            }
            if let value = reader.int(entry.value, path: path, in: Self.priorityRange) {
                result[entry.key] = value.value
            }
        }
        return result
    }

    // MARK: resources

    private func parseName(_ map: YAMLMap, what: String) -> Located<String>? {
        guard let name = reader.string(map, "name", required: "a name for this \(what)") else { return nil }
        if let problem = Validators.resourceName(name.value) {
            reader.error(name.path, name.position, "\(quoted(name.value)) is not a valid name: \(problem)")
        }
        return name
    }

    private func parseGroupReference(_ map: YAMLMap) -> Located<String>? {
        guard let group = reader.string(map, "group") else { return nil }
        if let problem = Validators.resourceName(group.value) {
            reader.error(group.path, group.position, "\(quoted(group.value)) is not a valid group name: \(problem)")
            return nil
        }
        return group
    }

    func parseVIP(_ node: Node, path: String) -> ParsedVIP {
        guard let map = reader.mapping(node, path: path) else {
            if node.isNull { reader.error(path, Position(node), "empty entry: expected a VIP (name, ip, …)") }
            return ParsedVIP()
        }
        reader.checkKeys(map, known: ["name", "ip", "cidr", "interface", "group"])
        let name = parseName(map, what: "VIP")
        let group = parseGroupReference(map)
        var interface = VirtualIP.defaultInterface
        var valid = name != nil
        if let value = reader.string(map, "interface") {
            if let problem = Validators.interfaceName(value.value) {
                reader.error(value.path, value.position, "\(quoted(value.value)) is not a valid interface name: \(problem)")
                valid = false
            }
            interface = value.value
        }
        guard let ip = reader.string(map, "ip", required: "the address, e.g. 192.168.1.100 or 192.168.1.100/24") else {
            _ = reader.int(map, "cidr", in: 1...128)
            return ParsedVIP(name: name, group: group)
        }
        var addressText = Substring(ip.value)
        var inlinePrefix: Int?
        if let slash = ip.value.firstIndex(of: "/") {
            addressText = ip.value[..<slash]
            let prefixText = String(ip.value[ip.value.index(after: slash)...])
            if let prefix = parseInteger(prefixText), prefix >= 0 {
                inlinePrefix = prefix
            } else {
                reader.error(ip.path, ip.position, "\(quoted(ip.value)) has an invalid prefix length after '/'")
                valid = false
            }
        }
        guard let address = IPAddress(addressText) else {
            reader.error(ip.path, ip.position, "\(quoted(String(addressText))) is not an IPv4 or IPv6 address")
            _ = reader.int(map, "cidr", in: 1...128)
            return ParsedVIP(name: name, group: group)
        }
        let prefixRange = 1...address.maximumPrefixLength
        let cidr = reader.int(map, "cidr", in: prefixRange)
        if map["cidr"] != nil && cidr == nil { valid = false }
        let familyDefault = address.isIPv6 ? VirtualIP.defaultIPv6PrefixLength : VirtualIP.defaultIPv4PrefixLength
        var prefix = cidr?.value ?? inlinePrefix ?? familyDefault
        if let inlinePrefix {
            if !prefixRange.contains(inlinePrefix) {
                reader.error(ip.path, ip.position, "/\(inlinePrefix) is out of range (expected a prefix length from 1 to "
                    + "\(address.maximumPrefixLength))")
                valid = false
            } else if let cidr, cidr.value != inlinePrefix {
                reader.error(cidr.path, cidr.position, "\(cidr.value) contradicts the /\(inlinePrefix) written in ip "
                    + "(give the prefix length once)")
                valid = false
            }
            prefix = cidr?.value ?? inlinePrefix
        }
        if let problem = VirtualIP.unusableAddressProblem(address, prefixLength: prefix) {
            reader.error(ip.path, ip.position, "\(quoted(String(addressText))) cannot be a floating IP: \(problem)")
            valid = false
        }
        guard valid, let name else { return ParsedVIP(name: name, group: group) }
        return ParsedVIP(
            name: name, vip: VirtualIP(name: name.value, address: address, prefixLength: prefix, interface: interface),
            group: group)
    }

    func parseService(_ node: Node, path: String) -> ParsedService {
        guard let map = reader.mapping(node, path: path) else {
            if node.isNull { reader.error(path, Position(node), "empty entry: expected a service (name, unit, …)") }
            return ParsedService()
        }
        reader.checkKeys(map, known: [
            "name", "type", "unit", "critical", "restart_service", "healthcheck", "failure_policy", "group",
        ])
        let name = parseName(map, what: "service")
        let group = parseGroupReference(map)
        var valid = name != nil
        if let type = reader.string(map, "type"), type.value != "systemd" {
            reader.error(type.path, type.position, "\(quoted(type.value)) is not a service type: only systemd is supported")
            valid = false
        }
        var unit = name?.value
        if let given = reader.string(map, "unit") {
            if let problem = Validators.unitName(given.value) {
                reader.error(given.path, given.position, "\(quoted(given.value)) is not a valid systemd unit name: \(problem)")
                valid = false
            }
            unit = given.value
        } else if let name, Validators.resourceName(name.value) == nil, let problem = Validators.unitName(name.value) {
            reader.error(name.path, name.position, "\(quoted(name.value)) is used as the unit name (no unit key) but is "
                + "not a valid systemd unit name: \(problem)")
            valid = false
        }
        let critical = reader.bool(map, "critical") ?? false
        let restartFlag = reader.bool(map, "restart_service")
        if map["restart_service"] != nil && restartFlag == nil { valid = false }

        // failure_policy
        var policy = FailurePolicy(restartService: restartFlag ?? false)
        var restartService = restartFlag ?? false
        if let policyMap = reader.mapping(map, "failure_policy") {
            reader.checkKeys(policyMap, known: ["max_restarts", "window", "failure_timeout"])
            let maxRestarts = reader.int(policyMap, "max_restarts", in: 0...100)
            if let window = reader.duration(policyMap, "window", unit: .seconds, in: .seconds(1) ... .seconds(86400)) {
                policy.window = window
            }
            if let timeout = reader.duration(
                policyMap, "failure_timeout", unit: .seconds, in: .seconds(1) ... .seconds(7 * 86400))
            {
                policy.failureTimeout = timeout
            }
            if let maxRestarts {
                policy.maxRestarts = maxRestarts.value
                if let restartFlag {
                    if restartFlag && maxRestarts.value == 0 {
                        reader.error(maxRestarts.path, maxRestarts.position, "0 contradicts restart_service: true "
                            + "(set restart_service: false to never restart in place)")
                        valid = false
                    } else if !restartFlag && maxRestarts.value > 0 {
                        reader.error(maxRestarts.path, maxRestarts.position, "\(maxRestarts.value) contradicts "
                            + "restart_service: false (sfha never restarts this unit in place)")
                        valid = false
                    }
                } else {
                    restartService = maxRestarts.value > 0
                }
            } else if restartFlag == nil {
                policy.maxRestarts = 0
            }
        }

        var check: HealthCheck?
        if map["healthcheck"] != nil {
            check = parseCheck(
                reader.mapping(map, "healthcheck"), path: map.path("healthcheck"), name: name?.value ?? "",
                isNodeCheck: false, serviceUnit: unit, serviceCritical: critical)
            if check == nil { valid = false }
        }
        guard valid, let name, let unit else { return ParsedService(name: name, group: group) }
        return ParsedService(
            name: name,
            service: ManagedService(
                name: name.value, unit: unit, critical: critical, restartService: restartService, healthCheck: check,
                failurePolicy: policy),
            group: group)
    }

    // MARK: health checks

    static let checkTypes = ["http", "https", "tcp", "systemd", "exec"]

    func parseNodeCheck(_ node: Node, path: String) -> ParsedCheck {
        guard let map = reader.mapping(node, path: path) else {
            if node.isNull { reader.error(path, Position(node), "empty entry: expected a health check (name, type, …)") }
            return ParsedCheck()
        }
        let name = parseName(map, what: "health check")
        let check = parseCheck(
            map, path: path, name: name?.value ?? "", isNodeCheck: true, serviceUnit: nil, serviceCritical: false)
        return ParsedCheck(name: name, check: name == nil ? nil : check)
    }

    /// Both kinds of checks. Node checks additionally have `name`, `critical` and `restart_service` (a unit name:
    /// the original used the same key as the service's boolean, with another type).
    private func parseCheck(
        _ map: YAMLMap?, path: String, name: String, isNodeCheck: Bool, serviceUnit: String?, serviceCritical: Bool
    ) -> HealthCheck? {
        guard let map else { return nil }  // `reader.mapping` already said what is wrong.
        var known = [
            "type", "target", "command", "interval_ms", "interval", "timeout_ms", "timeout", "failures_before_unhealthy",
            "successes_before_healthy", "verify_certificate",
        ]
        if isNodeCheck { known += ["name", "critical", "restart_service"] }
        reader.checkKeys(map, known: known)
        let errorsBefore = reader.errorCount

        let defaultInterval = isNodeCheck ? HealthCheck.defaultNodeInterval : HealthCheck.defaultServiceInterval
        let defaultTimeout = isNodeCheck ? HealthCheck.defaultNodeTimeout : HealthCheck.defaultServiceTimeout
        let interval = durationPair(map, ms: "interval_ms", seconds: "interval", range: .milliseconds(100) ... .seconds(3600))
            ?? defaultInterval
        let timeout = durationPair(map, ms: "timeout_ms", seconds: "timeout", range: .milliseconds(100) ... .seconds(600))
            ?? defaultTimeout
        if timeout > interval && (map["timeout_ms"] != nil || map["timeout"] != nil || map["interval_ms"] != nil
            || map["interval"] != nil)
        {
            reader.warning(path, map.position, "the timeout (\(timeout.sfhaText)) is longer than the interval "
                + "(\(interval.sfhaText)): a slow check delays the next one")
        }
        let failures = reader.int(map, "failures_before_unhealthy", in: 1...100)?.value
            ?? HealthCheck.defaultFailuresBeforeUnhealthy
        let successes = reader.int(map, "successes_before_healthy", in: 1...100)?.value
            ?? HealthCheck.defaultSuccessesBeforeHealthy
        var critical = serviceCritical
        var restartUnit: String?
        if isNodeCheck {
            critical = reader.bool(map, "critical") ?? false
            if let unit = reader.string(map, "restart_service") {
                if let problem = Validators.unitName(unit.value) {
                    reader.error(unit.path, unit.position, "\(quoted(unit.value)) is not a valid systemd unit name "
                        + "(for a health check, restart_service names the unit to restart): \(problem)")
                } else {
                    restartUnit = unit.value
                }
            }
        }

        let kind = parseKind(map, serviceUnit: serviceUnit)
        guard reader.errorCount == errorsBefore, let kind else { return nil }
        return HealthCheck(
            name: name, kind: kind, interval: interval, timeout: timeout, failuresBeforeUnhealthy: failures,
            successesBeforeHealthy: successes, critical: critical, restartUnit: restartUnit)
    }

    /// `interval_ms` (milliseconds) or `interval` (seconds); both is an error.
    private func durationPair(_ map: YAMLMap, ms: String, seconds: String, range: ClosedRange<Duration>) -> Duration? {
        let inMilliseconds = reader.duration(map, ms, unit: .milliseconds, in: range)
        let inSeconds = reader.duration(map, seconds, unit: .seconds, in: range)
        if map[ms] != nil && map[seconds] != nil {
            reader.error(map.path(seconds), map.keyPosition(seconds), "give either \(ms) (milliseconds) or \(seconds) "
                + "(seconds), not both")
            return nil
        }
        return inMilliseconds ?? inSeconds
    }

    private func parseKind(_ map: YAMLMap, serviceUnit: String?) -> HealthCheck.Kind? {
        var type = "tcp"
        if let given = reader.string(map, "type") {
            guard Self.checkTypes.contains(given.value) else {
                reader.error(given.path, given.position, "\(quoted(given.value)) is not a check type: expected "
                    + Self.checkTypes.joined(separator: ", "))
                return nil
            }
            type = given.value
        }
        let verify = reader.bool(map, "verify_certificate")
        if map["verify_certificate"] != nil && type != "https" && type != "http" {
            reader.warning(map.path("verify_certificate"), map.keyPosition("verify_certificate"),
                           "only used by https checks; ignored for type \(type)")
        }
        if type != "exec", map.contains("command") {
            reader.error(map.path("command"), map.keyPosition("command"), "only exec checks take a command; "
                + "type \(type) uses target")
            return nil
        }
        let targetPath = map.path("target")
        switch type {
        case "http", "https":
            guard let target = reader.string(map, "target", required: "the URL to GET, e.g. http://127.0.0.1/health") else {
                return nil
            }
            switch Validators.httpURL(target.value) {
            case .failure(let problem):
                reader.error(target.path, target.position, problem.message)
                return nil
            case .success(let url):
                let isTLS = url.scheme?.lowercased() == "https"
                if type == "https" && !isTLS {
                    reader.error(target.path, target.position, "\(quoted(target.value)) is not an https:// URL "
                        + "(type https)")
                    return nil
                }
                if isTLS { return .https(url, verifyCertificate: verify ?? true) }
                if map["verify_certificate"] != nil {
                    reader.warning(map.path("verify_certificate"), map.keyPosition("verify_certificate"),
                                   "only used by https URLs; ignored for \(quoted(target.value))")
                }
                return .http(url)
            }
        case "tcp":
            guard let target = reader.string(map, "target", required: "host:port, e.g. 127.0.0.1:5432 or [::1]:5432") else {
                return nil
            }
            switch Validators.hostPort(target.value) {
            case .failure(let problem):
                reader.error(target.path, target.position, problem.message)
                return nil
            case .success(let hostPort):
                return .tcp(host: hostPort.host, port: hostPort.port)
            }
        case "systemd":
            guard let target = reader.string(map, "target") else {
                if let serviceUnit { return .systemd(unit: serviceUnit) }
                reader.error(targetPath, map.position, "is required (the unit to check, e.g. nginx.service)")
                return nil
            }
            if let problem = Validators.unitName(target.value) {
                reader.error(target.path, target.position, "\(quoted(target.value)) is not a valid systemd unit name: \(problem)")
                return nil
            }
            return .systemd(unit: target.value)
        default: // exec
            if map.contains("target") {
                reader.error(targetPath, map.keyPosition("target"), "exec checks take command: [program, arguments…] "
                    + "instead of target")
                return nil
            }
            guard let commandNode = map["command"] else {
                reader.error(map.path("command"), map.position, "is required for exec checks "
                    + "(a list: [program, arguments…])")
                return nil
            }
            if case .scalar(let scalar) = commandNode {
                reader.error(map.path("command"), Position(commandNode), "\(quoted(scalar.string)) is a single string: "
                    + "write the command as a list of arguments, e.g. [/usr/bin/check, --quiet] (sfha never runs a shell)")
                return nil
            }
            let arguments = reader.stringList(map, "command")
            guard let program = arguments.first else {
                if case .sequence = commandNode {
                    reader.error(map.path("command"), Position(commandNode), "is empty: expected [program, arguments…]")
                }
                return nil
            }
            if program.value.isEmpty || program.value.hasPrefix("-")
                || (program.value.contains("/") && !program.value.hasPrefix("/"))
            {
                reader.error(program.path, program.position, "\(quoted(program.value)) is not a program: expected an "
                    + "absolute path or a name looked up in PATH")
                return nil
            }
            for argument in arguments where argument.value.contains("\0") {
                reader.error(argument.path, argument.position, "arguments cannot contain NUL characters")
                return nil
            }
            return .exec(arguments: arguments.map(\.value))
        }
    }

    // MARK: groups and constraints

    func parseGroup(_ node: Node, path: String) -> ParsedGroup {
        var group = ParsedGroup(
            name: nil, position: Position(node), path: path, priorities: [:], failback: false, failbackDelay: .zero,
            colocateWith: [], startAfter: [], vips: [], services: [])
        guard let map = reader.mapping(node, path: path) else {
            if node.isNull { reader.error(path, Position(node), "empty entry: expected a group (name, vips, services, …)") }
            return group
        }
        reader.checkKeys(map, known: [
            "name", "priorities", "failback", "failback_delay", "colocate_with", "start_after", "vips", "services",
        ])
        group.name = parseName(map, what: "group")
        group.priorities = parsePriorities(reader.mapping(map, "priorities"))
        group.failback = reader.bool(map, "failback") ?? false
        if let delay = reader.duration(map, "failback_delay", unit: .seconds, in: .zero ... .seconds(86400)) {
            group.failbackDelay = delay
            if !group.failback {
                reader.warning(map.path("failback_delay"), map.keyPosition("failback_delay"),
                               "has no effect without failback: true")
            }
        }
        group.colocateWith = reader.stringList(map, "colocate_with")
        group.startAfter = reader.stringList(map, "start_after")
        group.vips = reader.stringList(map, "vips")
        group.services = reader.stringList(map, "services")
        return group
    }

    func parseConstraint(_ node: Node, path: String) -> ParsedConstraint? {
        guard let map = reader.mapping(node, path: path) else {
            if node.isNull { reader.error(path, Position(node), "empty entry: expected a constraint (type, …)") }
            return nil
        }
        reader.checkKeys(map, known: ["type", "resource", "with", "first", "then"])
        guard let type = reader.string(map, "type", required: "colocation or order") else { return nil }
        func unused(_ keys: [String]) {
            for key in keys where map.contains(key) {
                reader.warning(map.path(key), map.keyPosition(key), "not used by a \(type.value) constraint, ignored")
            }
        }
        switch type.value {
        case "colocation":
            unused(["first", "then"])
            let resource = reader.string(map, "resource", required: "the VIP or service that follows")
            let with = reader.string(map, "with", required: "the VIP, service or health check it follows")
            guard let resource, let with else { return nil }
            return ParsedConstraint(
                constraint: .colocation(resource: resource.value, with: with.value), left: resource, right: with, path: path)
        case "order":
            unused(["resource", "with"])
            let first = reader.string(map, "first", required: "the VIP or service started first")
            let then = reader.string(map, "then", required: "the VIP or service started after it")
            guard let first, let then else { return nil }
            return ParsedConstraint(constraint: .order(first: first.value, then: then.value), left: first, right: then, path: path)
        default:
            reader.error(type.path, type.position, "\(quoted(type.value)) is not a constraint type: expected colocation or order")
            return nil
        }
    }
}
