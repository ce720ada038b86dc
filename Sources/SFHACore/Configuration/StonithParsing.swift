import Foundation
import Yams

extension ConfigurationParser {
    /// `stonith:`. Values are validated whenever present; what a provider needs (`api_url`, `token_id`, a secret,
    /// `fence_url`, per-node `vmid`) is required only when `enabled: true`.
    func parseStonith(_ root: YAMLMap) -> StonithConfiguration? {
        guard let map = reader.mapping(root, "stonith") else { return nil }
        reader.checkKeys(map, known: ["enabled", "provider", "proxmox", "webhook", "nodes", "safety"])
        var stonith = StonithConfiguration()
        stonith.enabled = reader.bool(map, "enabled") ?? false
        if stonith.enabled && !StonithConfiguration.isImplemented {
            reader.warning(map.path("enabled"), map.keyPosition("enabled"), StonithConfiguration.notImplementedWarning)
        }
        if let provider = reader.string(map, "provider") {
            if let value = StonithConfiguration.Provider(rawValue: provider.value) {
                stonith.provider = value
            } else {
                reader.error(provider.path, provider.position, "\(quoted(provider.value)) is not a STONITH provider: "
                    + "expected proxmox or webhook")
            }
        }
        let needProxmox = stonith.enabled && stonith.provider == .proxmox
        let needWebhook = stonith.enabled && stonith.provider == .webhook
        stonith.proxmox = parseProxmox(reader.mapping(map, "proxmox"), path: map.path("proxmox"), required: needProxmox,
                                       parentPosition: map.position)
        stonith.webhook = parseWebhook(reader.mapping(map, "webhook"), path: map.path("webhook"), required: needWebhook,
                                       parentPosition: map.position)
        stonith.nodes = parseFencedNodes(reader.mapping(map, "nodes"), needVMID: needProxmox)
        if stonith.enabled && stonith.nodes.isEmpty {
            reader.warning(map.path("nodes"), map.contains("nodes") ? map.keyPosition("nodes") : map.position,
                           "STONITH is enabled but no node is listed: only nodes listed here are ever fenced")
        }
        if let safety = reader.mapping(map, "safety") {
            reader.checkKeys(safety, known: [
                "require_quorum", "min_delay_between_fence", "max_fences_per_5min", "startup_grace_period",
                "fence_delay_on_node_left",
            ])
            if let value = reader.bool(safety, "require_quorum") { stonith.safety.requireQuorum = value }
            if let value = reader.duration(safety, "min_delay_between_fence", unit: .seconds, in: .zero ... .seconds(3600)) {
                stonith.safety.minDelayBetweenFences = value
            }
            if let value = reader.int(safety, "max_fences_per_5min", in: 1...100) {
                stonith.safety.maxFencesPerFiveMinutes = value.value
            }
            if let value = reader.duration(safety, "startup_grace_period", unit: .seconds, in: .zero ... .seconds(3600)) {
                stonith.safety.startupGracePeriod = value
            }
            if let value = reader.duration(safety, "fence_delay_on_node_left", unit: .seconds, in: .zero ... .seconds(600)) {
                stonith.safety.fenceDelayOnNodeLeft = value
            }
        }
        return stonith
    }

    private func parseProxmox(_ map: YAMLMap?, path: String, required: Bool, parentPosition: Position)
        -> StonithConfiguration.ProxmoxSettings?
    {
        guard let map else {
            if required { reader.error(path, parentPosition, "is required with provider proxmox (api_url, token_id, …)") }
            return nil
        }
        reader.checkKeys(map, known: ["api_url", "token_id", "token_secret", "token_secret_file", "verify_ssl", "pve_node"])
        let api = reader.string(map, "api_url", required: required ? "the Proxmox API, e.g. https://pve01:8006" : nil)
        var url: URL?
        if let api {
            switch Validators.httpURL(api.value) {
            case .success(let value): url = value
            case .failure(let problem): reader.error(api.path, api.position, problem.message)
            }
        }
        let tokenID = reader.string(map, "token_id", required: required ? "user@realm!tokenid" : nil)
        if let tokenID, !Self.isProxmoxTokenID(tokenID.value) {
            reader.error(tokenID.path, tokenID.position, "\(quoted(tokenID.value)) is not a Proxmox API token id: "
                + "expected user@realm!tokenid")
        }
        let secret = reader.string(map, "token_secret")
        let secretFile = reader.string(map, "token_secret_file")
        if let secret, secret.value.isEmpty {
            reader.error(secret.path, secret.position, "is empty")
        }
        if let secretFile, !secretFile.value.hasPrefix("/") {
            reader.error(secretFile.path, secretFile.position, "\(quoted(secretFile.value)) is not an absolute path")
        }
        if secret != nil, let secretFile {
            reader.warning(secretFile.path, secretFile.position, "both token_secret and token_secret_file are set: "
                + "the file wins (remove token_secret)")
        }
        if required && secret == nil && secretFile == nil {
            reader.error(map.path("token_secret_file"), map.position, "is required with provider proxmox "
                + "(or token_secret; a 0600 file is preferred)")
        }
        var pveNode = "pve"
        if let node = reader.string(map, "pve_node") {
            if let problem = Validators.nodeName(node.value) {
                reader.error(node.path, node.position, "\(quoted(node.value)) is not a valid Proxmox node name: \(problem)")
            }
            pveNode = node.value
        }
        let verify = reader.bool(map, "verify_ssl") ?? false
        guard let url, let tokenID else { return nil }
        return StonithConfiguration.ProxmoxSettings(
            apiURL: url, tokenID: tokenID.value, tokenSecret: secret?.value, tokenSecretFile: secretFile?.value,
            verifySSL: verify, pveNode: pveNode)
    }

    static func isProxmoxTokenID(_ text: String) -> Bool {
        guard let at = text.firstIndex(of: "@"), let bang = text.lastIndex(of: "!"), at < bang else { return false }
        let user = text[..<at]
        let realm = text[text.index(after: at)..<bang]
        let token = text[text.index(after: bang)...]
        let allowed = { (c: Character) in c.isASCII && (c.isLetter || c.isNumber || "._-".contains(c)) }
        return !user.isEmpty && !realm.isEmpty && !token.isEmpty
            && user.allSatisfy { allowed($0) || $0 == "@" } && realm.allSatisfy(allowed) && token.allSatisfy(allowed)
    }

    private func parseWebhook(_ map: YAMLMap?, path: String, required: Bool, parentPosition: Position)
        -> StonithConfiguration.WebhookSettings?
    {
        guard let map else {
            if required { reader.error(path, parentPosition, "is required with provider webhook (fence_url, …)") }
            return nil
        }
        reader.checkKeys(map, known: [
            "fence_url", "unfence_url", "status_url", "method", "headers", "body_template", "timeout", "verify_ssl",
        ])
        func template(_ key: String, required what: String?) -> String? {
            guard let value = reader.string(map, key, required: what) else { return nil }
            if let problem = Self.templateProblem(value.value) {
                reader.error(value.path, value.position, problem)
                return nil
            }
            return value.value
        }
        let fence = template("fence_url", required: required ? "the URL called to fence, e.g. https://api/fence/{{node}}" : nil)
        let unfence = template("unfence_url", required: nil)
        let status = template("status_url", required: nil)
        var settings = StonithConfiguration.WebhookSettings(fenceURL: fence ?? "")
        settings.unfenceURL = unfence
        settings.statusURL = status
        if let method = reader.string(map, "method") {
            if let value = StonithConfiguration.HTTPMethod(rawValue: method.value.uppercased()) {
                settings.method = value
            } else {
                reader.error(method.path, method.position, "\(quoted(method.value)) is not an HTTP method: expected "
                    + StonithConfiguration.HTTPMethod.allCases.map(\.rawValue).joined(separator: ", "))
            }
        }
        if let headers = reader.mapping(map, "headers") {
            for entry in headers.entries {
                let headerPath = headers.path(entry.key)
                if !Self.isHeaderName(entry.key) {
                    reader.error(headerPath, Position(entry.keyNode), "\(quoted(entry.key)) is not a valid HTTP header name")
                    continue
                }
                guard let value = reader.string(entry.value, path: headerPath) else { continue }
                if !Self.isHeaderValue(value.value) {
                    // The value is not echoed: header values usually carry credentials.
                    reader.error(headerPath, value.position, "a header value cannot contain line breaks, NUL or other "
                        + "control characters (tabs excepted)")
                    continue
                }
                settings.headers[entry.key] = value.value
            }
        }
        if let body = reader.string(map, "body_template") {
            settings.bodyTemplate = body.value
            if settings.method == .GET {
                reader.warning(body.path, body.position, "not sent with method GET")
            }
        }
        if let timeout = reader.duration(map, "timeout", unit: .seconds, in: .seconds(1) ... .seconds(600)) {
            settings.timeout = timeout
        }
        settings.verifySSL = reader.bool(map, "verify_ssl") ?? true
        guard fence != nil else { return nil }
        return settings
    }

    /// An HTTP header name: an RFC 9110 token (letters, digits and ``!#$%&'*+-.^_`|~``).
    static func isHeaderName(_ name: String) -> Bool {
        let tokenSymbols = Set("!#$%&'*+-.^_`|~".unicodeScalars)
        return !name.isEmpty && name.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || tokenSymbols.contains(scalar))
        }
    }

    /// An HTTP header value without control characters other than tab. Checked per Unicode scalar: CR LF is a
    /// single `Character`, which a check for "\r" or "\n" alone lets through (a header injection).
    static func isHeaderValue(_ value: String) -> Bool {
        value.unicodeScalars.allSatisfy { scalar in
            scalar == "\t" || !(scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value))
        }
    }

    /// URL templates: `{{node}}` and `{{action}}` only; with them substituted, an http(s) URL.
    static func templateProblem(_ text: String) -> String? {
        let substituted = text.replacingOccurrences(of: "{{node}}", with: "node1")
            .replacingOccurrences(of: "{{action}}", with: "fence")
        if substituted.contains("{{") || substituted.contains("}}") {
            return "\(quoted(text)) uses an unknown placeholder: only {{node}} and {{action}} exist"
        }
        if case .failure(let problem) = Validators.httpURL(substituted) {
            return problem.message.replacingOccurrences(of: quoted(substituted), with: quoted(text))
        }
        return nil
    }

    private func parseFencedNodes(_ map: YAMLMap?, needVMID: Bool) -> [String: StonithConfiguration.FencedNode] {
        guard let map else { return [:] }
        var nodes: [String: StonithConfiguration.FencedNode] = [:]
        for entry in map.entries {
            let path = map.path(entry.key)
            if let problem = Validators.nodeName(entry.key) {
                reader.error(path, Position(entry.keyNode), "\(quoted(entry.key)) is not a valid node name: \(problem)")
                continue
            }
            var node = StonithConfiguration.FencedNode()
            if let fields = reader.mapping(entry.value, path: path) {
                reader.checkKeys(fields, known: ["type", "vmid"])
                if let type = reader.string(fields, "type") {
                    if let value = StonithConfiguration.GuestType(rawValue: type.value) {
                        node.type = value
                    } else {
                        reader.error(type.path, type.position, "\(quoted(type.value)) is not a guest type: expected lxc or qemu")
                    }
                }
                node.vmid = reader.int(fields, "vmid", in: 100...999_999_999)?.value
                if needVMID && !fields.contains("vmid") {
                    reader.error(fields.path("vmid"), fields.position, "is required with provider proxmox (the guest id)")
                }
            } else if needVMID {
                reader.error(joinPath(path, "vmid"), Position(entry.keyNode), "is required with provider proxmox (the guest id)")
            }
            nodes[entry.key] = node
        }
        return nodes
    }
}
