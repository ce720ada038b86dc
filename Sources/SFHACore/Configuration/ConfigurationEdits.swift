import SFHABase

/// Operator edits of the replicated cluster configuration (`sfha vip add`, `service remove`, `maintenance`…): pure
/// functions that validate their input like the loader does and either return the edited configuration or throw a
/// clear error and change nothing. None of them touches corosync.
extension ClusterConfiguration {
    /// Every VIP, service and node health check name (they share one namespace).
    public var resourceNames: Set<String> {
        Set(groups.flatMap(\.resourceNames)).union(nodeChecks.map(\.name))
    }

    /// The VIP named `name`, with its group.
    public func vip(named name: String) -> (vip: VirtualIP, group: String)? {
        for group in groups { if let vip = group.vips.first(where: { $0.name == name }) { return (vip, group.name) } }
        return nil
    }

    /// The service named `name`, with its group.
    public func service(named name: String) -> (service: ManagedService, group: String)? {
        for group in groups {
            if let service = group.services.first(where: { $0.name == name }) { return (service, group.name) }
        }
        return nil
    }

    /// Adds a VIP (`cidr` is `ADDRESS` or `ADDRESS/PREFIX`) to `group` (created when missing, after the others).
    public func addingVIP(name: String, cidr: String, interface: String = VirtualIP.defaultInterface, group: String = ResourceGroup.defaultName)
        throws(SFHAError) -> ClusterConfiguration
    {
        try Self.checkNewName(name, what: "VIP", in: self)
        try Self.checkGroupName(group)
        if let problem = Validators.interfaceName(interface) {
            throw SFHAError(.invalidArgument, "'\(interface)' is not a valid interface name: \(problem)")
        }
        let vip = try VirtualIP.parse(name: name, cidr: cidr, interface: interface)
        if let clash = groups.flatMap(\.vips).first(where: { $0.address == vip.address }) {
            throw SFHAError(.exists, "\(vip.address) is already the address of VIP '\(clash.name)'")
        }
        var edited = self
        edited.withGroup(group) { $0.vips.append(vip) }
        return edited
    }

    /// Removes the VIP named `name` (refused while a constraint names it).
    public func removingVIP(named name: String) throws(SFHAError) -> ClusterConfiguration {
        guard let (_, group) = vip(named: name) else {
            throw SFHAError(.notFound, "there is no VIP named '\(name)'\(Self.known(groups.flatMap(\.vips).map(\.name)))")
        }
        try checkUnconstrained(name)
        var edited = self
        edited.withGroup(group) { $0.vips.removeAll { $0.name == name } }
        edited.dropEmptyGroup(group)
        return edited
    }

    /// Adds a managed service (a systemd unit) to `group` (created when missing).
    public func addingService(
        name: String, unit: String? = nil, group: String = ResourceGroup.defaultName, critical: Bool = false, restart: Bool = false,
        healthCheck: HealthCheck? = nil
    ) throws(SFHAError) -> ClusterConfiguration {
        try Self.checkNewName(name, what: "service", in: self)
        try Self.checkGroupName(group)
        let unitName = unit ?? name
        if let problem = Validators.unitName(unitName) {
            throw SFHAError(.invalidArgument, "'\(unitName)' is not a valid unit name: \(problem)")
        }
        var edited = self
        edited.withGroup(group) {
            $0.services.append(ManagedService(name: name, unit: unitName, critical: critical, restartService: restart, healthCheck: healthCheck))
        }
        return edited
    }

    /// Removes the service named `name` (refused while a constraint names it).
    public func removingService(named name: String) throws(SFHAError) -> ClusterConfiguration {
        guard let (_, group) = service(named: name) else {
            throw SFHAError(.notFound, "there is no service named '\(name)'\(Self.known(groups.flatMap(\.services).map(\.name)))")
        }
        try checkUnconstrained(name)
        var edited = self
        edited.withGroup(group) { $0.services.removeAll { $0.name == name } }
        edited.dropEmptyGroup(group)
        return edited
    }

    /// Puts `node` in standby (it holds no group) or takes it out.
    public func settingStandby(_ node: String, _ on: Bool) throws(SFHAError) -> ClusterConfiguration {
        if let problem = Validators.nodeName(node) {
            throw SFHAError(.invalidArgument, "'\(node)' is not a valid node name: \(problem)")
        }
        var edited = self
        var nodes = Set(standbyNodes)
        if on { nodes.insert(node) } else { nodes.remove(node) }
        edited.standbyNodes = nodes.sorted()
        return edited
    }

    /// Bans `node` from `group` (it may not hold it) or lifts that ban.
    public func settingBan(group: String, node: String, _ on: Bool) throws(SFHAError) -> ClusterConfiguration {
        if let problem = Validators.nodeName(node) {
            throw SFHAError(.invalidArgument, "'\(node)' is not a valid node name: \(problem)")
        }
        guard self.group(named: group) != nil else {
            throw SFHAError(.notFound, "there is no group named '\(group)'\(Self.known(groups.map(\.name)))")
        }
        var edited = self
        var nodes = Set(bannedNodes[group] ?? [])
        if on { nodes.insert(node) } else { nodes.remove(node) }
        edited.bannedNodes[group] = nodes.isEmpty ? nil : nodes.sorted()
        return edited
    }

    /// Lifts every ban of `group` (of every group when nil).
    public func clearingBans(group: String?) throws(SFHAError) -> ClusterConfiguration {
        var edited = self
        guard let group else {
            edited.bannedNodes = [:]
            return edited
        }
        guard self.group(named: group) != nil else {
            throw SFHAError(.notFound, "there is no group named '\(group)'\(Self.known(groups.map(\.name)))")
        }
        edited.bannedNodes[group] = nil
        return edited
    }

    public func settingMaintenance(_ on: Bool) -> ClusterConfiguration {
        var edited = self
        edited.maintenance = on
        return edited
    }

    // MARK: - Helpers

    private mutating func withGroup(_ name: String, _ change: (inout ResourceGroup) -> Void) {
        if let index = groups.firstIndex(where: { $0.name == name }) {
            change(&groups[index])
        } else {
            var group = ResourceGroup(name: name)
            change(&group)
            groups.append(group)
        }
    }

    /// A group left without resources goes, unless another group refers to it.
    private mutating func dropEmptyGroup(_ name: String) {
        guard let group = self.group(named: name), group.vips.isEmpty, group.services.isEmpty else { return }
        guard !groups.contains(where: { $0.colocatedWith.contains(name) || $0.startAfter.contains(name) }) else { return }
        groups.removeAll { $0.name == name }
        bannedNodes[name] = nil
    }

    private func checkUnconstrained(_ name: String) throws(SFHAError) {
        let naming = constraints.filter { constraint in
            switch constraint {
            case .colocation(let resource, let with): resource == name || with == name
            case .order(let first, let then): first == name || then == name
            }
        }
        guard naming.isEmpty else {
            throw SFHAError(
                .conflict,
                "'\(name)' is named by \(naming.map { "'\($0)'" }.joined(separator: ", ")); remove the constraint from the "
                    + "configuration first")
        }
    }

    private static func checkNewName(_ name: String, what: String, in configuration: ClusterConfiguration) throws(SFHAError) {
        if let problem = Validators.resourceName(name) {
            throw SFHAError(.invalidArgument, "'\(name)' is not a valid \(what) name: \(problem)")
        }
        guard !configuration.resourceNames.contains(name) else {
            throw SFHAError(.exists, "a VIP, service or health check named '\(name)' already exists; choose another name")
        }
    }

    private static func checkGroupName(_ name: String) throws(SFHAError) {
        if let problem = Validators.resourceName(name) {
            throw SFHAError(.invalidArgument, "'\(name)' is not a valid group name: \(problem)")
        }
    }

    private static func known(_ names: [String]) -> String {
        names.isEmpty ? "" : " (known: \(names.sorted().joined(separator: ", ")))"
    }
}

extension VirtualIP {
    /// A VIP from `ADDRESS` or `ADDRESS/PREFIX` (the family's default prefix when absent), with the loader's checks.
    public static func parse(name: String, cidr: String, interface: String = VirtualIP.defaultInterface) throws(SFHAError) -> VirtualIP {
        var addressText = Substring(cidr)
        var prefix: Int?
        if let slash = cidr.firstIndex(of: "/") {
            addressText = cidr[..<slash]
            guard let value = Int(cidr[cidr.index(after: slash)...]) else {
                throw SFHAError(.invalidArgument, "'\(cidr)' has an invalid prefix length after '/'")
            }
            prefix = value
        }
        guard let address = IPAddress(addressText) else {
            throw SFHAError(.invalidArgument, "'\(addressText)' is not an IPv4 or IPv6 address")
        }
        let length = prefix ?? (address.isIPv6 ? defaultIPv6PrefixLength : defaultIPv4PrefixLength)
        guard (1...address.maximumPrefixLength).contains(length) else {
            throw SFHAError(.invalidArgument, "/\(length) is out of range (expected a prefix length from 1 to \(address.maximumPrefixLength))")
        }
        if let problem = unusableAddressProblem(address, prefixLength: length) {
            throw SFHAError(.invalidArgument, "'\(addressText)' cannot be a floating IP: \(problem)")
        }
        return VirtualIP(name: name, address: address, prefixLength: length, interface: interface)
    }

    /// Addresses that must never be added to an interface as a VIP.
    static func unusableAddressProblem(_ address: IPAddress, prefixLength: Int) -> String? {
        switch address {
        case .v4(let v4):
            if v4.isUnspecified { return "it is the unspecified address" }
            if v4.isLoopback { return "it is a loopback address (127.0.0.0/8)" }
            if v4.isMulticast { return "it is a multicast address (224.0.0.0/4)" }
            if v4.isLimitedBroadcast { return "it is the broadcast address" }
            if (1...30).contains(prefixLength) {
                let host = v4.rawValue & ~IPv4Address.mask(prefixLength: prefixLength)
                if host == 0 { return "it is the network address of its /\(prefixLength) subnet" }
                if host == ~IPv4Address.mask(prefixLength: prefixLength) {
                    return "it is the broadcast address of its /\(prefixLength) subnet"
                }
            }
        case .v6(let v6):
            if v6.isUnspecified { return "it is the unspecified address" }
            if v6.isLoopback { return "it is the loopback address" }
            if v6.isMulticast { return "it is a multicast address (ff00::/8)" }
            if v6.isLinkLocal { return "it is a link-local address (fe80::/10)" }
            if v6.isIPv4Mapped { return "it is an IPv4-mapped address: write the IPv4 address instead" }
        }
        return nil
    }

}
