/// What committing one cluster configuration over another would change, resource by resource: shown by
/// `sfha reload --dry-run`, and the removals it lists are what `sfha reload` asks the operator to confirm.
public struct ConfigurationDiff: Sendable, Equatable, Codable {
    public struct Entry: Sendable, Equatable, Codable, CustomStringConvertible {
        public enum Change: String, Sendable, Equatable, Codable {
            case added, removed, changed
        }

        public var change: Change
        /// `vip`, `service`, `group`, `health_check`, `constraint` or `setting`.
        public var kind: String
        public var name: String
        /// What it is (added/removed) or what changes (changed); never a secret.
        public var detail: String

        public init(_ change: Change, _ kind: String, _ name: String, _ detail: String) {
            self.change = change
            self.kind = kind
            self.name = name
            self.detail = detail
        }

        /// `+ vip vip-api 10.0.0.50/24 dev eth0`, `- service web (web.service)`, `~ group default: failback off → on`.
        public var description: String {
            let mark = switch change {
            case .added: "+"
            case .removed: "-"
            case .changed: "~"
            }
            return "\(mark) \(kind) \(name)" + (detail.isEmpty ? "" : ": \(detail)")
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    public var isEmpty: Bool { entries.isEmpty }

    /// Everything the change removes, as `kind name` (what an operator confirms).
    public var removals: [String] { entries.filter { $0.change == .removed }.map { "\($0.kind) \($0.name)" } }

    /// One line: `adds vip-api; removes web; changes group default`.
    public var summary: String {
        var parts: [String] = []
        for (change, verb) in [(Entry.Change.added, "adds"), (.removed, "removes"), (.changed, "changes")] {
            let names = entries.filter { $0.change == change }.map { "\($0.kind) \($0.name)" }
            if !names.isEmpty { parts.append("\(verb) \(names.joined(separator: ", "))") }
        }
        return parts.joined(separator: "; ")
    }

    /// The difference from `old` (live) to `new` (the candidate).
    public init(from old: ClusterConfiguration, to new: ClusterConfiguration) {
        var entries: [Entry] = []
        func compare<T>(
            _ kind: String, _ before: [(String, T)], _ after: [(String, T)], describe: (T) -> String, changes: (T, T) -> String?
        ) {
            let oldByName = Dictionary(before, uniquingKeysWith: { first, _ in first })
            let newByName = Dictionary(after, uniquingKeysWith: { first, _ in first })
            for (name, value) in before where newByName[name] == nil { entries.append(Entry(.removed, kind, name, describe(value))) }
            for (name, value) in after {
                guard let previous = oldByName[name] else {
                    entries.append(Entry(.added, kind, name, describe(value)))
                    continue
                }
                if let what = changes(previous, value) { entries.append(Entry(.changed, kind, name, what)) }
            }
        }
        func arrow<V: Equatable>(_ label: String, _ a: V, _ b: V, _ show: (V) -> String = { "\($0)" }) -> String? {
            a == b ? nil : "\(label) \(show(a)) → \(show(b))"
        }
        func joined(_ parts: [String?]) -> String? {
            let found = parts.compactMap { $0 }
            return found.isEmpty ? nil : found.joined(separator: ", ")
        }

        let oldVIPs = old.groups.flatMap { group in group.vips.map { ($0.name, (vip: $0, group: group.name)) } }
        let newVIPs = new.groups.flatMap { group in group.vips.map { ($0.name, (vip: $0, group: group.name)) } }
        compare("vip", oldVIPs, newVIPs, describe: { "\($0.vip.cidr) dev \($0.vip.interface) in group \($0.group)" }) { a, b in
            joined([
                arrow("address", a.vip.cidr, b.vip.cidr), arrow("interface", a.vip.interface, b.vip.interface),
                arrow("group", a.group, b.group),
            ])
        }
        let oldServices = old.groups.flatMap { group in group.services.map { ($0.name, (service: $0, group: group.name)) } }
        let newServices = new.groups.flatMap { group in group.services.map { ($0.name, (service: $0, group: group.name)) } }
        compare("service", oldServices, newServices, describe: { "\($0.service.unit) in group \($0.group)" }) { a, b in
            joined([
                arrow("unit", a.service.unit, b.service.unit), arrow("group", a.group, b.group),
                arrow("critical", a.service.critical, b.service.critical),
                arrow("restart", a.service.restartService, b.service.restartService),
                a.service.failurePolicy == b.service.failurePolicy ? nil : "failure policy \(b.service.failurePolicy)",
                a.service.healthCheck == b.service.healthCheck
                    ? nil : "health check \(b.service.healthCheck.map { "\($0.kind)" } ?? "none")",
            ])
        }
        compare("group", old.groups.map { ($0.name, $0) }, new.groups.map { ($0.name, $0) }, describe: { _ in "" }) { a, b in
            joined([
                a.priorities == b.priorities ? nil : "priorities \(b.priorities.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })",
                arrow("failback", a.failback, b.failback), arrow("failback delay", a.failbackDelay, b.failbackDelay) { $0.sfhaText },
                arrow("with", a.colocatedWith, b.colocatedWith), arrow("after", a.startAfter, b.startAfter),
                arrow("required checks", a.requiredChecks, b.requiredChecks),
            ])
        }
        compare(
            "health_check", old.nodeChecks.map { ($0.name, $0) }, new.nodeChecks.map { ($0.name, $0) }, describe: { "\($0.kind)" }
        ) { a, b in a == b ? nil : "\(b)" }
        let oldConstraints = old.constraints.map { ("\($0)", $0) }
        let newConstraints = new.constraints.map { ("\($0)", $0) }
        compare("constraint", oldConstraints, newConstraints, describe: { _ in "" }) { _, _ in nil }

        // A node taken out of standby by a stale file is a removal the operator confirms.
        compare("standby", old.standbyNodes.map { ($0, $0) }, new.standbyNodes.map { ($0, $0) }, describe: { _ in "" }) { _, _ in nil }
        // So is a ban lifted by a stale file.
        let bans = { (configuration: ClusterConfiguration) in
            configuration.bannedNodes.sorted { $0.key < $1.key }.flatMap { group, nodes in nodes.map { ("\(group) on \($0)", $0) } }
        }
        compare("ban", bans(old), bans(new), describe: { _ in "" }) { _, _ in nil }

        let settings: [String?] = [
            arrow("name", old.name, new.name), arrow("quorum_required", old.quorumRequired, new.quorumRequired),
            arrow("failover_delay", old.takeoverDelay, new.takeoverDelay) { $0.sfhaText },
            arrow("maintenance", old.maintenance, new.maintenance) { $0 ? "on" : "off" },
            arrow("node_priorities", old.nodePriorities.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" },
                  new.nodePriorities.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }),
            // The STONITH settings hold secrets: only whether they change is said.
            old.stonith == new.stonith ? nil : "stonith settings change",
        ]
        for setting in settings.compactMap({ $0 }) { entries.append(Entry(.changed, "setting", "cluster", setting)) }
        self.entries = entries
    }
}
