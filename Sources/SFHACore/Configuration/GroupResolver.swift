/// Turns VIPs, services, `groups:`, per-resource `group:` keys and `constraints:` into `[ResourceGroup]`, checking
/// names, references and cycles. Rules (see Docs/Configuration.md, "Groups"):
///
/// - VIPs, services and node health checks share one namespace (constraints name all three); groups have their own.
/// - A resource is in at most one group: listed in one `groups[].vips`/`services`, or naming it with `group:`
///   (both is fine when they agree; two different groups is an error). A `group:` naming an undeclared group
///   creates it with default settings. Resources in no group form the group `default` (declaring a group named
///   `default` sets its options).
/// - `colocation` between resources of different groups: the resource's group is colocated with the other's
///   (`colocatedWith`, directional). With a health check: the group requires that check (`requiredChecks`).
/// - `order` inside a group orders its VIPs among themselves and its services among themselves; VIP-before-service is
///   always true, service-before-VIP of the same group is an error. `order` across groups: `startAfter`.
/// - Cycles in service/VIP order, in `startAfter`, and in colocation are errors.
struct GroupResolver {
    let reader: YAMLReader
    let vips: [ConfigurationParser.ParsedVIP]
    let services: [ConfigurationParser.ParsedService]
    let checks: [ConfigurationParser.ParsedCheck]
    let groups: [ConfigurationParser.ParsedGroup]
    let constraints: [ConfigurationParser.ParsedConstraint]

    enum Kind {
        case vip, service, check

        var noun: String {
            switch self {
            case .vip: "a VIP"
            case .service: "a service"
            case .check: "a health check"
            }
        }
    }

    struct Resource {
        var kind: Kind
        var name: Located<String>
    }

    struct Edge {
        var from: String
        var to: String
        var origin: Located<String>
    }

    init(
        reader: YAMLReader, vips: [ConfigurationParser.ParsedVIP], services: [ConfigurationParser.ParsedService],
        checks: [ConfigurationParser.ParsedCheck], groups: [ConfigurationParser.ParsedGroup],
        constraints: [ConfigurationParser.ParsedConstraint]
    ) {
        self.reader = reader
        self.vips = vips
        self.services = services
        self.checks = checks
        self.groups = groups
        self.constraints = constraints
    }

    mutating func resolve() -> [ResourceGroup] {
        let resources = registerNames()

        // Explicit groups.
        var explicit: [String: ConfigurationParser.ParsedGroup] = [:]
        var order: [String] = []
        for group in groups {
            guard let name = group.name else { continue }
            if let first = explicit[name.value] {
                reader.error(name.path, name.position, "\(quoted(name.value)) is already the name of \(first.path) "
                    + "(line \(first.position.line))")
                continue
            }
            explicit[name.value] = group
            order.append(name.value)
        }

        // Membership.
        var membership: [String: (group: String, origin: Located<String>)] = [:]
        for group in groups {
            guard let groupName = group.name?.value, explicit[groupName]?.path == group.path else { continue }
            for (references, kind) in [(group.vips, Kind.vip), (group.services, Kind.service)] {
                for reference in references {
                    guard let resource = resources[reference.value] else {
                        reader.error(reference.path, reference.position, "there is no \(kind == .vip ? "VIP" : "service") "
                            + "named \(quoted(reference.value))")
                        continue
                    }
                    guard resource.kind == kind else {
                        let hint = switch resource.kind {
                        case .vip: ": list it under vips"
                        case .service: ": list it under services"
                        case .check: " (groups hold VIPs and services; use a colocation constraint to require a check)"
                        }
                        reader.error(reference.path, reference.position, "\(quoted(reference.value)) is \(resource.kind.noun)\(hint)")
                        continue
                    }
                    if let existing = membership[reference.value] {
                        reader.error(reference.path, reference.position, "\(quoted(reference.value)) is already in group "
                            + "\(quoted(existing.group)) (\(existing.origin.path)): a resource belongs to one group")
                        continue
                    }
                    membership[reference.value] = (groupName, reference)
                }
            }
        }
        let perResource: [(name: Located<String>?, group: Located<String>?)] =
            vips.map { ($0.name, $0.group) } + services.map { ($0.name, $0.group) }
        for (name, group) in perResource {
            guard let name, let group, resources[name.value]?.name.path == name.path else { continue }
            if let existing = membership[name.value] {
                if existing.group != group.value {
                    reader.error(group.path, group.position, "\(quoted(name.value)) is already in group "
                        + "\(quoted(existing.group)) (\(existing.origin.path)): a resource belongs to one group")
                }
                continue
            }
            membership[name.value] = (group.value, group)
            if explicit[group.value] == nil && !order.contains(group.value) { order.append(group.value) }
        }
        let ungrouped = perResource.contains { entry in
            guard let name = entry.name, resources[name.value]?.name.path == name.path else { return false }
            return membership[name.value] == nil
        }
        if ungrouped && !order.contains(ResourceGroup.defaultName) { order.append(ResourceGroup.defaultName) }
        func groupOf(_ resource: String) -> String {
            membership[resource]?.group ?? ResourceGroup.defaultName
        }

        // Group-level relations.
        var colocation: [Edge] = []
        var startOrder: [Edge] = []  // from starts before to
        var requiredChecks: [String: [String]] = [:]
        for group in groups {
            guard let name = group.name?.value, explicit[name]?.path == group.path else { continue }
            for reference in group.colocateWith where checkGroupReference(reference, from: name, known: order) {
                colocation.append(Edge(from: name, to: reference.value, origin: reference))
            }
            for reference in group.startAfter where checkGroupReference(reference, from: name, known: order) {
                startOrder.append(Edge(from: reference.value, to: name, origin: reference))
            }
        }

        // Constraints.
        var vipOrder: [String: [Edge]] = [:]
        var serviceOrder: [String: [Edge]] = [:]
        for constraint in constraints {
            let left = resources[constraint.left.value]
            let right = resources[constraint.right.value]
            for (reference, resource) in [(constraint.left, left), (constraint.right, right)] where resource == nil {
                reader.error(reference.path, reference.position, "there is no VIP, service or health check named "
                    + "\(quoted(reference.value))")
            }
            guard let left, let right else { continue }
            if left.name.value == right.name.value {
                reader.error(constraint.right.path, constraint.right.position, "a constraint needs two different names")
                continue
            }
            switch constraint.constraint {
            case .colocation:
                switch (left.kind, right.kind) {
                case (.check, .check):
                    reader.error(constraint.left.path, constraint.left.position, "\(quoted(left.name.value)) and "
                        + "\(quoted(right.name.value)) are both health checks: colocation needs a VIP or a service")
                case (.check, _):
                    append(left.name.value, to: &requiredChecks[groupOf(right.name.value), default: []])
                case (_, .check):
                    append(right.name.value, to: &requiredChecks[groupOf(left.name.value), default: []])
                default:
                    let from = groupOf(left.name.value)
                    let to = groupOf(right.name.value)
                    if from != to { colocation.append(Edge(from: from, to: to, origin: constraint.right)) }
                }
            case .order:
                if let check = [(constraint.left, left), (constraint.right, right)].first(where: { $0.1.kind == .check }) {
                    reader.error(check.0.path, check.0.position, "\(quoted(check.0.value)) is a health check: order "
                        + "constraints apply to VIPs and services")
                    continue
                }
                let firstGroup = groupOf(left.name.value)
                let thenGroup = groupOf(right.name.value)
                let edge = Edge(from: left.name.value, to: right.name.value, origin: constraint.right)
                if firstGroup != thenGroup {
                    startOrder.append(Edge(from: firstGroup, to: thenGroup, origin: constraint.right))
                    continue
                }
                switch (left.kind, right.kind) {
                case (.vip, .vip): vipOrder[firstGroup, default: []].append(edge)
                case (.service, .service): serviceOrder[firstGroup, default: []].append(edge)
                case (.service, .vip):
                    reader.error(constraint.right.path, constraint.right.position, "\(quoted(right.name.value)) is a VIP "
                        + "of group \(quoted(firstGroup)), whose VIPs always start before its services: put "
                        + "\(quoted(left.name.value)) and \(quoted(right.name.value)) in different groups to start the "
                        + "service first")
                default: break // VIP before service: true by construction.
                }
            }
        }

        // Cycles between groups.
        for (cycle, edge) in Self.cycles(nodes: order, edges: startOrder) {
            reader.error(edge.origin.path, edge.origin.position, "the start order of groups has a cycle: "
                + cycle.map(quoted).joined(separator: " → ") + " (→: starts before)")
        }
        for (cycle, edge) in Self.cycles(nodes: order, edges: colocation) {
            reader.error(edge.origin.path, edge.origin.position, "group colocation has a cycle: "
                + cycle.map(quoted).joined(separator: " → ") + " (→: runs with): put these resources in one group instead")
        }

        // Build.
        var result: [ResourceGroup] = []
        for name in order {
            let settings = explicit[name]
            let groupVIPs = vips.compactMap { $0.vip }.filter { groupOf($0.name) == name }
            let groupServices = services.compactMap { $0.service }.filter { groupOf($0.name) == name }
            let hasMembers = perResource.contains { entry in entry.name.map { groupOf($0.value) == name } ?? false }
            if let settings, !hasMembers {
                reader.warning(settings.path, settings.position, "group \(quoted(name)) has no VIP and no service")
            }
            let sortedVIPs = sorted(groupVIPs, by: vipOrder[name] ?? [], name: \.name, what: "VIP")
            let sortedServices = sorted(groupServices, by: serviceOrder[name] ?? [], name: \.name, what: "service")
            var group = ResourceGroup(
                name: name, vips: sortedVIPs, services: sortedServices, priorities: settings?.priorities ?? [:],
                failback: settings?.failback ?? false, failbackDelay: settings?.failbackDelay ?? .zero)
            for edge in colocation where edge.from == name { append(edge.to, to: &group.colocatedWith) }
            for edge in startOrder where edge.to == name { append(edge.from, to: &group.startAfter) }
            group.requiredChecks = requiredChecks[name] ?? []
            result.append(group)
        }
        return result
    }

    /// Registers every VIP, service and node check name; reports duplicates.
    private func registerNames() -> [String: Resource] {
        var resources: [String: Resource] = [:]
        let all: [(Located<String>?, Kind)] =
            vips.map { ($0.name, .vip) } + services.map { ($0.name, .service) } + checks.map { ($0.name, .check) }
        for (name, kind) in all {
            guard let name else { continue }
            if let first = resources[name.value] {
                reader.error(name.path, name.position, "\(quoted(name.value)) is already used by "
                    + "\(first.name.path.dropLastComponent) (line \(first.name.position.line)): VIPs, services and "
                    + "health checks share one namespace")
                continue
            }
            resources[name.value] = Resource(kind: kind, name: name)
        }
        return resources
    }

    private func checkGroupReference(_ reference: Located<String>, from group: String, known: [String]) -> Bool {
        if reference.value == group {
            reader.error(reference.path, reference.position, "a group cannot refer to itself")
            return false
        }
        guard known.contains(reference.value) else {
            reader.error(reference.path, reference.position, "there is no group named \(quoted(reference.value))")
            return false
        }
        return true
    }

    private func append(_ value: String, to list: inout [String]) {
        if !list.contains(value) { list.append(value) }
    }

    /// Declaration order, then constraints applied (stable topological sort). A cycle is reported and the
    /// declaration order kept.
    private func sorted<T>(_ items: [T], by edges: [Edge], name: KeyPath<T, String>, what: String) -> [T] {
        guard !edges.isEmpty else { return items }
        let names = items.map { $0[keyPath: name] }
        let found = Self.cycles(nodes: names, edges: edges)
        for (cycle, edge) in found {
            reader.error(edge.origin.path, edge.origin.position, "the \(what) start order has a cycle: "
                + cycle.map(quoted).joined(separator: " → ") + " (→: starts before)")
        }
        guard found.isEmpty else { return items }
        var incoming = [String: Int]()
        for edge in edges where names.contains(edge.from) && names.contains(edge.to) {
            incoming[edge.to, default: 0] += 1
        }
        var done = Set<String>()
        var result: [T] = []
        while result.count < items.count {
            guard let next = items.first(where: { !done.contains($0[keyPath: name]) && incoming[$0[keyPath: name], default: 0] == 0 })
            else { return items }
            let nextName = next[keyPath: name]
            done.insert(nextName)
            result.append(next)
            for edge in edges where edge.from == nextName && names.contains(edge.to) {
                incoming[edge.to, default: 0] -= 1
            }
        }
        return result
    }

    /// Every cycle found by a depth-first search (one per back edge), each as the list of nodes from the first
    /// node back to itself, with the edge that closes it.
    static func cycles(nodes: [String], edges: [Edge]) -> [(cycle: [String], edge: Edge)] {
        var state: [String: Int] = [:]  // 0 white, 1 on stack, 2 done
        var stack: [String] = []
        var found: [(cycle: [String], edge: Edge)] = []
        func visit(_ node: String) {
            state[node] = 1
            stack.append(node)
            for edge in edges where edge.from == node {
                switch state[edge.to, default: 0] {
                case 0: visit(edge.to)
                case 1:
                    let start = stack.lastIndex(of: edge.to)!
                    found.append((Array(stack[start...]) + [edge.to], edge))
                default: break
                }
            }
            stack.removeLast()
            state[node] = 2
        }
        for node in nodes where state[node, default: 0] == 0 {
            visit(node)
        }
        return found
    }
}

extension String {
    /// `services[0].name` → `services[0]`.
    var dropLastComponent: String {
        guard let dot = lastIndex(of: ".") else { return self }
        return String(self[..<dot])
    }
}
