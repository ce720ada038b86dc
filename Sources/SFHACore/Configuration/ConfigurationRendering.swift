import Foundation

extension ClusterConfiguration {
    /// This configuration as config.yml text: every key the loader reads into a `ClusterConfiguration` (`cluster:`,
    /// `vips:`, `services:`, `groups:`, `health_checks:`, `constraints:`, `stonith:`), without the node-local
    /// `node:` and `logging:` sections (see `SFHAConfiguration.renderedYAML()`).
    ///
    /// For every valid configuration, the loader reads the text back (with a `node:` section added) as an equal
    /// configuration; `validated(origin:)` relies on it. The output is deterministic: sections and keys in a fixed
    /// order (the order of `sfha config example`), lists in the configuration's order, dictionaries by sorted key.
    /// Every setting is written out, defaults included, so that the text keeps its meaning if a default changes;
    /// only empty lists and mappings and absent optional settings are left out.
    ///
    /// - Important: the text contains the configuration's secrets (`stonith.proxmox.token_secret`, the webhook's
    ///   headers and body template): store it 0600 and show it only to whoever may read `/etc/sfha/config.yml`.
    public func renderedYAML() -> String {
        var text = "# sfha cluster configuration (each node adds its own node: and logging: sections).\n"
        for section in yamlSections() {
            text += "\n" + section.yamlText()
        }
        return text
    }

    /// The top-level sections, each a one-key mapping, in the order they are written.
    func yamlSections() -> [YAMLNode] {
        var sections: [YAMLNode] = [.mapping([("cluster", clusterYAML())])]
        let allVIPs = groups.flatMap(\.vips)
        let allServices = groups.flatMap(\.services)
        if !allVIPs.isEmpty { sections.append(.mapping([("vips", .list(allVIPs.map(\.yaml)))])) }
        if !allServices.isEmpty { sections.append(.mapping([("services", .list(allServices.map(\.yaml)))])) }
        let explicitGroups = groups.enumerated().filter { !isImplicitDefaultGroup(at: $0.offset) }.map(\.element)
        if !explicitGroups.isEmpty { sections.append(.mapping([("groups", .list(explicitGroups.map(\.yaml)))])) }
        if !nodeChecks.isEmpty {
            sections.append(.mapping([("health_checks", .list(nodeChecks.map { $0.yaml(isNodeCheck: true) }))]))
        }
        if !constraints.isEmpty { sections.append(.mapping([("constraints", .list(constraints.map(\.yaml)))])) }
        if let stonith { sections.append(.mapping([("stonith", stonith.yaml)])) }
        return sections
    }

    private func clusterYAML() -> YAMLNode {
        var entries: [(String, YAMLNode)] = [
            ("name", .string(name)),
            ("quorum_required", .bool(quorumRequired)),
            ("failover_delay_ms", .milliseconds(takeoverDelay)),
            ("maintenance", .bool(maintenance)),
        ]
        if !nodePriorities.isEmpty { entries.append(("node_priorities", .integers(nodePriorities))) }
        if !standbyNodes.isEmpty { entries.append(("standby_nodes", .strings(standbyNodes))) }
        if !bannedNodes.isEmpty {
            entries.append(("banned_nodes", .mapping(bannedNodes.sorted { $0.key < $1.key }.map { ($0.key, .strings($0.value)) })))
        }
        return .mapping(entries)
    }

    /// Resources in no group form the group `default`, placed after every other group. When the configuration's
    /// last group is such a group (members, no settings of its own), its resources are written without a group,
    /// as an operator would; every other group is written out under `groups:`.
    private func isImplicitDefaultGroup(at index: Int) -> Bool {
        let group = groups[index]
        return index == groups.count - 1 && group.name == ResourceGroup.defaultName
            && !(group.vips.isEmpty && group.services.isEmpty) && group.priorities.isEmpty && !group.failback
            && group.failbackDelay == .zero && group.colocatedWith.isEmpty && group.startAfter.isEmpty
    }
}

extension SFHAConfiguration {
    /// The whole configuration as config.yml text: the cluster part (`ClusterConfiguration.renderedYAML()`) with
    /// this node's `node:` and `logging:` sections. Warnings are not part of it. The loader reads the text back as
    /// an equal configuration (warnings aside) whenever the configuration is valid.
    ///
    /// - Important: the text contains the configuration's secrets; see `ClusterConfiguration.renderedYAML()`.
    public func renderedYAML() -> String {
        var sections = cluster.yamlSections()
        let nodeSection = YAMLNode.mapping([
            ("node", .mapping([("name", .string(node.name)), ("priority", .integer(node.priority))])),
        ])
        let loggingSection = YAMLNode.mapping([("logging", .mapping([("level", .string(node.logLevel.rawValue))]))])
        var nodeSections = [nodeSection, loggingSection]
        if let listen = node.metricsListen {
            nodeSections.append(.mapping([("metrics", .mapping([("listen", .string(listen.description))]))]))
        }
        sections.insert(contentsOf: nodeSections, at: 1)
        var text = "# sfha configuration.\n"
        for section in sections {
            text += "\n" + section.yamlText()
        }
        return text
    }
}

// MARK: - The model as YAML nodes

extension VirtualIP {
    fileprivate var yaml: YAMLNode {
        .mapping([("name", .string(name)), ("ip", .string("\(address)/\(prefixLength)")), ("interface", .string(interface))])
    }
}

extension ManagedService {
    fileprivate var yaml: YAMLNode {
        var policy: [(String, YAMLNode)] = [
            ("max_restarts", .integer(failurePolicy.maxRestarts)), ("window", .duration(failurePolicy.window)),
        ]
        if let timeout = failurePolicy.failureTimeout { policy.append(("failure_timeout", .duration(timeout))) }
        var entries: [(String, YAMLNode)] = [
            ("name", .string(name)),
            ("unit", .string(unit)),
            ("critical", .bool(critical)),
            ("restart_service", .bool(restartService)),
            ("failure_policy", .mapping(policy)),
        ]
        if let healthCheck { entries.append(("healthcheck", healthCheck.yaml(isNodeCheck: false))) }
        return .mapping(entries)
    }
}

extension HealthCheck {
    /// A node check (`health_checks[]`) has a name, `critical` and `restart_service`; a service's `healthcheck`
    /// takes them from its service.
    fileprivate func yaml(isNodeCheck: Bool) -> YAMLNode {
        var entries: [(String, YAMLNode)] = []
        if isNodeCheck { entries.append(("name", .string(name))) }
        entries.append(("type", .string(kind.typeName)))
        switch kind {
        case .http(let url):
            entries.append(("target", .string(url.absoluteString)))
        case .https(let url, let verifyCertificate):
            entries.append(("target", .string(url.absoluteString)))
            entries.append(("verify_certificate", .bool(verifyCertificate)))
        case .tcp(let host, let port):
            entries.append(("target", .string(host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")))
        case .systemd(let unit):
            entries.append(("target", .string(unit)))
        case .exec(let arguments):
            entries.append(("command", .strings(arguments)))
        }
        entries += [
            ("interval_ms", .milliseconds(interval)),
            ("timeout_ms", .milliseconds(timeout)),
            ("failures_before_unhealthy", .integer(failuresBeforeUnhealthy)),
            ("successes_before_healthy", .integer(successesBeforeHealthy)),
        ]
        if isNodeCheck {
            entries.append(("critical", .bool(critical)))
            if let restartUnit { entries.append(("restart_service", .string(restartUnit))) }
        }
        return .mapping(entries)
    }
}

extension ResourceGroup {
    fileprivate var yaml: YAMLNode {
        var entries: [(String, YAMLNode)] = [("name", .string(name))]
        if !vips.isEmpty { entries.append(("vips", .strings(vips.map(\.name)))) }
        if !services.isEmpty { entries.append(("services", .strings(services.map(\.name)))) }
        if !priorities.isEmpty { entries.append(("priorities", .integers(priorities))) }
        entries.append(("failback", .bool(failback)))
        // Without failback the delay means nothing (the loader warns about it): written only when set.
        if failback || failbackDelay != .zero { entries.append(("failback_delay", .duration(failbackDelay))) }
        // Everything, including what the constraints imply: the loader adds what constraints imply only when
        // missing, so the lists read back unchanged.
        if !colocatedWith.isEmpty { entries.append(("colocate_with", .strings(colocatedWith))) }
        if !startAfter.isEmpty { entries.append(("start_after", .strings(startAfter))) }
        return .mapping(entries)
    }
}

extension Constraint {
    fileprivate var yaml: YAMLNode {
        switch self {
        case .colocation(let resource, let with):
            .mapping([("type", .string("colocation")), ("resource", .string(resource)), ("with", .string(with))])
        case .order(let first, let then):
            .mapping([("type", .string("order")), ("first", .string(first)), ("then", .string(then))])
        }
    }
}

extension StonithConfiguration {
    fileprivate var yaml: YAMLNode {
        var entries: [(String, YAMLNode)] = [("enabled", .bool(enabled)), ("provider", .string(provider.rawValue))]
        if let proxmox {
            var settings: [(String, YAMLNode)] = [
                ("api_url", .string(proxmox.apiURL.absoluteString)), ("token_id", .string(proxmox.tokenID)),
            ]
            if let secret = proxmox.tokenSecret { settings.append(("token_secret", .string(secret))) }
            if let file = proxmox.tokenSecretFile { settings.append(("token_secret_file", .string(file))) }
            settings += [("verify_ssl", .bool(proxmox.verifySSL)), ("pve_node", .string(proxmox.pveNode))]
            entries.append(("proxmox", .mapping(settings)))
        }
        if let webhook {
            var settings: [(String, YAMLNode)] = [("fence_url", .string(webhook.fenceURL))]
            if let url = webhook.unfenceURL { settings.append(("unfence_url", .string(url))) }
            if let url = webhook.statusURL { settings.append(("status_url", .string(url))) }
            settings.append(("method", .string(webhook.method.rawValue)))
            if !webhook.headers.isEmpty {
                settings.append(("headers", .mapping(webhook.headers.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
            }
            if let body = webhook.bodyTemplate { settings.append(("body_template", .string(body))) }
            settings += [("timeout", .duration(webhook.timeout)), ("verify_ssl", .bool(webhook.verifySSL))]
            entries.append(("webhook", .mapping(settings)))
        }
        if !nodes.isEmpty {
            let fenced: [(String, YAMLNode)] = nodes.sorted { $0.key < $1.key }.map { name, node in
                var fields: [(String, YAMLNode)] = [("type", .string(node.type.rawValue))]
                if let vmid = node.vmid { fields.append(("vmid", .integer(vmid))) }
                return (name, .mapping(fields))
            }
            entries.append(("nodes", .mapping(fenced)))
        }
        entries.append(("safety", .mapping([
            ("require_quorum", .bool(safety.requireQuorum)),
            ("min_delay_between_fence", .duration(safety.minDelayBetweenFences)),
            ("max_fences_per_5min", .integer(safety.maxFencesPerFiveMinutes)),
            ("startup_grace_period", .duration(safety.startupGracePeriod)),
            ("fence_delay_on_node_left", .duration(safety.fenceDelayOnNodeLeft)),
        ])))
        return .mapping(entries)
    }
}

// MARK: - Writing YAML

/// A YAML value about to be written. Scalars hold their YAML text, already quoted when needed.
indirect enum YAMLNode {
    case scalar(String)
    /// Short lists of scalars, written on one line: `[a, b]`.
    case flowList([String])
    case list([YAMLNode])
    case mapping([(String, YAMLNode)])

    static func string(_ text: String) -> YAMLNode { .scalar(yamlScalar(text)) }
    static func strings(_ texts: [String]) -> YAMLNode { .flowList(texts.map(yamlScalar)) }
    static func bool(_ value: Bool) -> YAMLNode { .scalar(value ? "true" : "false") }
    static func integer(_ value: Int) -> YAMLNode { .scalar(String(value)) }
    /// A `*_ms` key: a bare number of milliseconds.
    static func milliseconds(_ duration: Duration) -> YAMLNode { .scalar(String(duration.sfhaMilliseconds)) }
    /// Any other duration key: text with units (`500ms`, `1m30s`), which the loader reads whatever the key's unit.
    static func duration(_ duration: Duration) -> YAMLNode { .string(duration.sfhaText) }
    /// `{name: value}` by sorted name.
    static func integers(_ values: [String: Int]) -> YAMLNode {
        .mapping(values.sorted { $0.key < $1.key }.map { ($0.key, .integer($0.value)) })
    }

    /// Block-style text, two spaces per level, each line ending with a newline.
    func yamlText() -> String {
        var lines: [String] = []
        Self.write(self, indent: "", into: &lines)
        return lines.map { $0 + "\n" }.joined()
    }

    private static func write(_ node: YAMLNode, indent: String, into lines: inout [String]) {
        switch node {
        case .scalar(let text):
            lines.append(indent + text)
        case .flowList(let items):
            lines.append(indent + "[" + items.joined(separator: ", ") + "]")
        case .list(let items):
            for item in items {
                // The item's first line follows the dash; the others line up with it.
                var itemLines: [String] = []
                write(item, indent: indent + "  ", into: &itemLines)
                guard let first = itemLines.first else { continue }
                itemLines[0] = indent + "- " + first.dropFirst(indent.count + 2)
                lines += itemLines
            }
        case .mapping(let entries):
            for (key, value) in entries {
                let keyText = indent + yamlScalar(key) + ":"
                switch value {
                case .scalar(let text): lines.append(keyText + " " + text)
                case .flowList(let items): lines.append(keyText + " [" + items.joined(separator: ", ") + "]")
                case .list, .mapping:
                    lines.append(keyText)
                    write(value, indent: indent + "  ", into: &lines)
                }
            }
        }
    }
}

/// `text` as a YAML scalar that reads back as exactly `text`: plain when that is unambiguous (names, paths,
/// addresses); single-quoted when it holds quotes or backslashes but nothing to escape (a JSON body reads better
/// without backslashes); double-quoted otherwise, with every character that is not printable in YAML, or that
/// could change how a line reads, escaped.
func yamlScalar(_ text: String) -> String {
    if isPlainSafe(text) { return text }
    let needsSingleQuotes = text.contains("\"") || text.contains("\\")
    if needsSingleQuotes && text.unicodeScalars.allSatisfy({ $0 != "\t" && isVerbatim($0) }) {
        return "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }
    return doubleQuoted(text)
}

/// Characters written as they are inside quotes: YAML's printable set, minus what could reorder or break a line
/// on display (line and paragraph separators, bidirectional controls, the byte order mark).
private func isVerbatim(_ scalar: Unicode.Scalar) -> Bool {
    let value = scalar.value
    let printable = value == 0x09 || (0x20...0x7E).contains(value) || (0xA0...0xD7FF).contains(value)
        || (0xE000...0xFFFD).contains(value) || value >= 0x10000
    let disruptive = value == 0x2028 || value == 0x2029 || (0x202A...0x202E).contains(value)
        || (0x2066...0x2069).contains(value) || value == 0xFEFF
    return printable && !disruptive
}

/// Plain scalars are limited to characters that mean nothing to YAML in any context (no `:`, `#`, `,`, brackets
/// or spaces), starting with a letter, a digit, `/` or `_`, and not looking like a null, a boolean or a number to
/// a YAML 1.1 reader.
private func isPlainSafe(_ text: String) -> Bool {
    guard let first = text.unicodeScalars.first else { return false }
    func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
    }
    guard isAlphanumeric(first) || first == "/" || first == "_" else { return false }
    guard text.unicodeScalars.allSatisfy({ isAlphanumeric($0) || "._/@+-".unicodeScalars.contains($0) }) else {
        return false
    }
    let keywords: Set<String> = ["null", "true", "false", "yes", "no", "on", "off", "y", "n"]
    if keywords.contains(text.lowercased()) { return false }
    if Double(text) != nil || Int(text.replacingOccurrences(of: "_", with: "")) != nil { return false }
    return true
}

private func doubleQuoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        case "\0": out += "\\0"
        default:
            if isVerbatim(scalar) {
                out.unicodeScalars.append(scalar)
            } else if scalar.value <= 0xFF {
                out += "\\x" + hex(scalar.value, digits: 2)
            } else {
                out += "\\u" + hex(scalar.value, digits: 4)
            }
        }
    }
    return out + "\""
}

private func hex(_ value: UInt32, digits: Int) -> String {
    let text = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, digits - text.count)) + text
}
