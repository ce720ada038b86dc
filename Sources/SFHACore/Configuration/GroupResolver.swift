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
        var knownGroups = Set(order)
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
            if knownGroups.insert(group.value).inserted { order.append(group.value) }
        }
        let ungrouped = perResource.contains { entry in
            guard let name = entry.name, resources[name.value]?.name.path == name.path else { return false }
            return membership[name.value] == nil
        }
        if ungrouped && knownGroups.insert(ResourceGroup.defaultName).inserted { order.append(ResourceGroup.defaultName) }
        func groupOf(_ resource: String) -> String {
            membership[resource]?.group ?? ResourceGroup.defaultName
        }

        // Group-level relations.
        var colocation: [Edge] = []
        var startOrder: [Edge] = []  // from starts before to
        var requiredChecks: [String: UniqueList] = [:]
        for group in groups {
            guard let name = group.name?.value, explicit[name]?.path == group.path else { continue }
            for reference in group.colocateWith where checkGroupReference(reference, from: name, known: knownGroups) {
                colocation.append(Edge(from: name, to: reference.value, origin: reference))
            }
            for reference in group.startAfter where checkGroupReference(reference, from: name, known: knownGroups) {
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
                    requiredChecks[groupOf(right.name.value), default: UniqueList()].append(left.name.value)
                case (_, .check):
                    requiredChecks[groupOf(left.name.value), default: UniqueList()].append(right.name.value)
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

        // Build. Members, VIPs, services and edges are bucketed by group first: a configuration can have
        // thousands of groups, and looking through every resource for every group would be quadratic.
        var groupVIPs: [String: [VirtualIP]] = [:]
        for vip in vips.compactMap(\.vip) { groupVIPs[groupOf(vip.name), default: []].append(vip) }
        var groupServices: [String: [ManagedService]] = [:]
        for service in services.compactMap(\.service) { groupServices[groupOf(service.name), default: []].append(service) }
        let groupsWithMembers = Set(perResource.compactMap { $0.name.map { groupOf($0.value) } })
        var colocatedWith: [String: UniqueList] = [:]
        for edge in colocation { colocatedWith[edge.from, default: UniqueList()].append(edge.to) }
        var startAfter: [String: UniqueList] = [:]
        for edge in startOrder { startAfter[edge.to, default: UniqueList()].append(edge.from) }
        var result: [ResourceGroup] = []
        for name in order {
            let settings = explicit[name]
            if let settings, !groupsWithMembers.contains(name) {
                reader.warning(settings.path, settings.position, "group \(quoted(name)) has no VIP and no service")
            }
            let sortedVIPs = sorted(groupVIPs[name] ?? [], by: vipOrder[name] ?? [], name: \.name, what: "VIP")
            let sortedServices = sorted(groupServices[name] ?? [], by: serviceOrder[name] ?? [], name: \.name, what: "service")
            var group = ResourceGroup(
                name: name, vips: sortedVIPs, services: sortedServices, priorities: settings?.priorities ?? [:],
                failback: settings?.failback ?? false, failbackDelay: settings?.failbackDelay ?? .zero)
            group.colocatedWith = colocatedWith[name]?.items ?? []
            group.startAfter = startAfter[name]?.items ?? []
            group.requiredChecks = requiredChecks[name]?.items ?? []
            result.append(group)
        }
        return result
    }

    /// A list without repeats, in first-appended order.
    struct UniqueList {
        private(set) var items: [String] = []
        private var seen: Set<String> = []

        mutating func append(_ item: String) {
            if seen.insert(item).inserted { items.append(item) }
        }
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

    private func checkGroupReference(_ reference: Located<String>, from group: String, known: Set<String>) -> Bool {
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

    /// Declaration order, then constraints applied (stable topological sort: of the items whose predecessors are
    /// all placed, the first declared goes next). A cycle is reported and the declaration order kept.
    private func sorted<T>(_ items: [T], by edges: [Edge], name: KeyPath<T, String>, what: String) -> [T] {
        guard !edges.isEmpty else { return items }
        let names = items.map { $0[keyPath: name] }
        let found = Self.cycles(nodes: names, edges: edges)
        for (cycle, edge) in found {
            reader.error(edge.origin.path, edge.origin.position, "the \(what) start order has a cycle: "
                + cycle.map(quoted).joined(separator: " → ") + " (→: starts before)")
        }
        guard found.isEmpty else { return items }
        var indexOf: [String: Int] = [:]
        for (index, itemName) in names.enumerated() where indexOf[itemName] == nil { indexOf[itemName] = index }
        var incoming = [Int](repeating: 0, count: items.count)
        var successors: [Int: [Int]] = [:]
        for edge in edges {
            guard let from = indexOf[edge.from], let to = indexOf[edge.to] else { continue }
            incoming[to] += 1
            successors[from, default: []].append(to)
        }
        var ready = MinHeap()
        for index in items.indices where incoming[index] == 0 { ready.insert(index) }
        var result: [T] = []
        result.reserveCapacity(items.count)
        while let next = ready.popMinimum() {
            result.append(items[next])
            for successor in successors[next] ?? [] {
                incoming[successor] -= 1
                if incoming[successor] == 0 { ready.insert(successor) }
            }
        }
        return result.count == items.count ? result : items
    }

    /// Every cycle found by a depth-first search (one per back edge), each as the list of nodes from the first
    /// node back to itself, with the edge that closes it. Iterative: a chain of thousands of groups must not
    /// exhaust the stack.
    static func cycles(nodes: [String], edges: [Edge]) -> [(cycle: [String], edge: Edge)] {
        var outgoing: [String: [Edge]] = [:]
        for edge in edges { outgoing[edge.from, default: []].append(edge) }
        enum Mark { case onStack, done }
        var marks: [String: Mark] = [:]
        var stack: [String] = []
        var stackIndex: [String: Int] = [:]
        // For each node on the stack, how many of its outgoing edges have been followed.
        var followed: [Int] = []
        var found: [(cycle: [String], edge: Edge)] = []
        for root in nodes where marks[root] == nil {
            marks[root] = .onStack
            stackIndex[root] = 0
            stack = [root]
            followed = [0]
            while let node = stack.last {
                let nodeEdges = outgoing[node] ?? []
                let next = followed[followed.count - 1]
                guard next < nodeEdges.count else {
                    marks[node] = .done
                    stackIndex[node] = nil
                    stack.removeLast()
                    followed.removeLast()
                    continue
                }
                followed[followed.count - 1] = next + 1
                let edge = nodeEdges[next]
                switch marks[edge.to] {
                case nil:
                    marks[edge.to] = .onStack
                    stackIndex[edge.to] = stack.count
                    stack.append(edge.to)
                    followed.append(0)
                case .onStack:
                    found.append((Array(stack[stackIndex[edge.to]!...]) + [edge.to], edge))
                case .done:
                    break
                }
            }
        }
        return found
    }
}

/// A binary min-heap of indices: the ready items of a topological sort, smallest (first declared) first.
struct MinHeap {
    private var storage: [Int] = []

    mutating func insert(_ value: Int) {
        storage.append(value)
        var child = storage.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard storage[child] < storage[parent] else { break }
            storage.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popMinimum() -> Int? {
        guard let minimum = storage.first else { return nil }
        let last = storage.removeLast()
        guard !storage.isEmpty else { return minimum }
        storage[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < storage.count && storage[left] < storage[smallest] { smallest = left }
            if right < storage.count && storage[right] < storage[smallest] { smallest = right }
            guard smallest != parent else { return minimum }
            storage.swapAt(parent, smallest)
            parent = smallest
        }
    }
}

extension String {
    /// `services[0].name` → `services[0]`.
    var dropLastComponent: String {
        guard let dot = lastIndex(of: ".") else { return self }
        return String(self[..<dot])
    }
}
