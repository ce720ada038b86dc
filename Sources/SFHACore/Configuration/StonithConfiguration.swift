import Foundation

/// `stonith:` — fencing of nodes that left the membership, as in the original (§6), with the same defaults.
///
/// Secrets: `ProxmoxSettings.tokenSecret` and the webhook's header values are kept (the drivers need them) but every
/// text rendering (`description`, `debugDescription`, `dump`/`Mirror`) shows `<redacted>` instead.
public struct StonithConfiguration: Sendable, Equatable, Codable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    public enum Provider: String, Sendable, Equatable, Codable, CaseIterable {
        case proxmox, webhook
    }

    public enum GuestType: String, Sendable, Equatable, Codable, CaseIterable {
        case lxc, qemu
    }

    /// A fenceable node (`stonith.nodes.<name>`). Only listed nodes are ever fenced.
    public struct FencedNode: Sendable, Equatable, Codable {
        public var type: GuestType
        /// Proxmox guest id (required with the Proxmox provider).
        public var vmid: Int?

        public init(type: GuestType = .lxc, vmid: Int? = nil) {
            self.type = type
            self.vmid = vmid
        }
    }

    public struct Safety: Sendable, Equatable, Codable, CustomStringConvertible {
        /// Never fence from a partition without quorum (also for manual fencing).
        public var requireQuorum: Bool
        /// Minimum time between two fences of the same node (`min_delay_between_fence`, s, default 60).
        public var minDelayBetweenFences: Duration
        /// Automatic fences allowed in any 5-minute window (`max_fences_per_5min`, default 2).
        public var maxFencesPerFiveMinutes: Int
        /// No automatic fencing this long after sfha starts (`startup_grace_period`, s, default 120).
        public var startupGracePeriod: Duration
        /// Wait this long after a node left before fencing it (`fence_delay_on_node_left`, s, default 10).
        public var fenceDelayOnNodeLeft: Duration

        public init(
            requireQuorum: Bool = true, minDelayBetweenFences: Duration = .seconds(60), maxFencesPerFiveMinutes: Int = 2,
            startupGracePeriod: Duration = .seconds(120), fenceDelayOnNodeLeft: Duration = .seconds(10)
        ) {
            self.requireQuorum = requireQuorum
            self.minDelayBetweenFences = minDelayBetweenFences
            self.maxFencesPerFiveMinutes = maxFencesPerFiveMinutes
            self.startupGracePeriod = startupGracePeriod
            self.fenceDelayOnNodeLeft = fenceDelayOnNodeLeft
        }

        public var description: String {
            "safety(requireQuorum: \(requireQuorum), minDelay: \(minDelayBetweenFences.sfhaText), "
                + "max \(maxFencesPerFiveMinutes)/5min, grace: \(startupGracePeriod.sfhaText), "
                + "delayOnLeft: \(fenceDelayOnNodeLeft.sfhaText))"
        }

        enum CodingKeys: String, CodingKey {
            case requireQuorum, minDelayBetweenFencesMilliseconds, maxFencesPerFiveMinutes,
                 startupGracePeriodMilliseconds, fenceDelayOnNodeLeftMilliseconds
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            requireQuorum = try c.decode(Bool.self, forKey: .requireQuorum)
            minDelayBetweenFences = try c.decodeMilliseconds(forKey: .minDelayBetweenFencesMilliseconds)
            maxFencesPerFiveMinutes = try c.decode(Int.self, forKey: .maxFencesPerFiveMinutes)
            startupGracePeriod = try c.decodeMilliseconds(forKey: .startupGracePeriodMilliseconds)
            fenceDelayOnNodeLeft = try c.decodeMilliseconds(forKey: .fenceDelayOnNodeLeftMilliseconds)
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(requireQuorum, forKey: .requireQuorum)
            try c.encodeMilliseconds(minDelayBetweenFences, forKey: .minDelayBetweenFencesMilliseconds)
            try c.encode(maxFencesPerFiveMinutes, forKey: .maxFencesPerFiveMinutes)
            try c.encodeMilliseconds(startupGracePeriod, forKey: .startupGracePeriodMilliseconds)
            try c.encodeMilliseconds(fenceDelayOnNodeLeft, forKey: .fenceDelayOnNodeLeftMilliseconds)
        }
    }

    /// `stonith.proxmox`.
    public struct ProxmoxSettings: Sendable, Equatable, Codable, CustomStringConvertible, CustomDebugStringConvertible,
        CustomReflectable
    {
        /// `https://host:8006` (the driver appends `/api2/json`).
        public var apiURL: URL
        /// `user@realm!tokenid`.
        public var tokenID: String
        /// The API token secret given inline. Never rendered in text.
        public var tokenSecret: String?
        /// A file holding the secret; wins over `tokenSecret` (as in the original), read by the driver.
        public var tokenSecretFile: String?
        /// Default false, as in the original (Proxmox ships a self-signed certificate).
        public var verifySSL: Bool
        /// The Proxmox node hosting the guests (default `pve`).
        public var pveNode: String

        public init(
            apiURL: URL, tokenID: String, tokenSecret: String? = nil, tokenSecretFile: String? = nil,
            verifySSL: Bool = false, pveNode: String = "pve"
        ) {
            self.apiURL = apiURL
            self.tokenID = tokenID
            self.tokenSecret = tokenSecret
            self.tokenSecretFile = tokenSecretFile
            self.verifySSL = verifySSL
            self.pveNode = pveNode
        }

        public var description: String {
            var text = "proxmox(api: \(apiURL.absoluteString), token: \(tokenID)"
            if tokenSecret != nil { text += ", secret: \(redacted)" }
            if let tokenSecretFile { text += ", secretFile: \(tokenSecretFile)" }
            return text + ", verifySSL: \(verifySSL), pveNode: \(pveNode))"
        }

        public var debugDescription: String { description }

        public var customMirror: Mirror {
            Mirror(self, children: [
                "apiURL": apiURL.absoluteString, "tokenID": tokenID, "tokenSecret": tokenSecret == nil ? "nil" : redacted,
                "tokenSecretFile": tokenSecretFile ?? "nil", "verifySSL": verifySSL, "pveNode": pveNode,
            ])
        }

        enum CodingKeys: String, CodingKey { case apiURL, tokenID, tokenSecret, tokenSecretFile, verifySSL, pveNode }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let text = try c.decode(String.self, forKey: .apiURL)
            guard let url = URL(string: text) else {
                throw DecodingError.dataCorruptedError(forKey: .apiURL, in: c, debugDescription: "invalid URL \(text)")
            }
            apiURL = url
            tokenID = try c.decode(String.self, forKey: .tokenID)
            tokenSecret = try c.decodeIfPresent(String.self, forKey: .tokenSecret)
            tokenSecretFile = try c.decodeIfPresent(String.self, forKey: .tokenSecretFile)
            verifySSL = try c.decode(Bool.self, forKey: .verifySSL)
            pveNode = try c.decode(String.self, forKey: .pveNode)
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(apiURL.absoluteString, forKey: .apiURL)
            try c.encode(tokenID, forKey: .tokenID)
            try c.encodeIfPresent(tokenSecret, forKey: .tokenSecret)
            try c.encodeIfPresent(tokenSecretFile, forKey: .tokenSecretFile)
            try c.encode(verifySSL, forKey: .verifySSL)
            try c.encode(pveNode, forKey: .pveNode)
        }
    }

    public enum HTTPMethod: String, Sendable, Equatable, Codable, CaseIterable {
        case GET, POST, PUT, DELETE
    }

    /// `stonith.webhook`. URLs and the body are templates: `{{node}}` is the node name, `{{action}}` is `fence` or
    /// `unfence`.
    public struct WebhookSettings: Sendable, Equatable, Codable, CustomStringConvertible, CustomDebugStringConvertible,
        CustomReflectable
    {
        public var fenceURL: String
        public var unfenceURL: String?
        public var statusURL: String?
        public var method: HTTPMethod
        /// Sent with every request. Values are treated as secrets (they usually carry credentials).
        public var headers: [String: String]
        /// Not sent with GET.
        public var bodyTemplate: String?
        public var timeout: Duration
        public var verifySSL: Bool

        public init(
            fenceURL: String, unfenceURL: String? = nil, statusURL: String? = nil, method: HTTPMethod = .POST,
            headers: [String: String] = [:], bodyTemplate: String? = nil, timeout: Duration = .seconds(30),
            verifySSL: Bool = true
        ) {
            self.fenceURL = fenceURL
            self.unfenceURL = unfenceURL
            self.statusURL = statusURL
            self.method = method
            self.headers = headers
            self.bodyTemplate = bodyTemplate
            self.timeout = timeout
            self.verifySSL = verifySSL
        }

        public var description: String {
            var text = "webhook(\(method.rawValue) \(fenceURL)"
            if let unfenceURL { text += ", unfence: \(unfenceURL)" }
            if let statusURL { text += ", status: \(statusURL)" }
            if !headers.isEmpty { text += ", headers: [" + headers.keys.sorted().map { "\($0): \(redacted)" }.joined(separator: ", ") + "]" }
            if bodyTemplate != nil { text += ", body: \(redacted)" }
            return text + ", timeout: \(timeout.sfhaText), verifySSL: \(verifySSL))"
        }

        public var debugDescription: String { description }

        public var customMirror: Mirror {
            Mirror(self, children: [
                "fenceURL": fenceURL, "unfenceURL": unfenceURL ?? "nil", "statusURL": statusURL ?? "nil",
                "method": method.rawValue, "headers": headers.keys.sorted().map { "\($0): \(redacted)" },
                "bodyTemplate": bodyTemplate == nil ? "nil" : redacted, "timeout": timeout.sfhaText,
                "verifySSL": verifySSL,
            ])
        }

        enum CodingKeys: String, CodingKey {
            case fenceURL, unfenceURL, statusURL, method, headers, bodyTemplate, timeoutMilliseconds, verifySSL
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            fenceURL = try c.decode(String.self, forKey: .fenceURL)
            unfenceURL = try c.decodeIfPresent(String.self, forKey: .unfenceURL)
            statusURL = try c.decodeIfPresent(String.self, forKey: .statusURL)
            method = try c.decode(HTTPMethod.self, forKey: .method)
            headers = try c.decode([String: String].self, forKey: .headers)
            bodyTemplate = try c.decodeIfPresent(String.self, forKey: .bodyTemplate)
            timeout = try c.decodeMilliseconds(forKey: .timeoutMilliseconds)
            verifySSL = try c.decode(Bool.self, forKey: .verifySSL)
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(fenceURL, forKey: .fenceURL)
            try c.encodeIfPresent(unfenceURL, forKey: .unfenceURL)
            try c.encodeIfPresent(statusURL, forKey: .statusURL)
            try c.encode(method, forKey: .method)
            try c.encode(headers, forKey: .headers)
            try c.encodeIfPresent(bodyTemplate, forKey: .bodyTemplate)
            try c.encodeMilliseconds(timeout, forKey: .timeoutMilliseconds)
            try c.encode(verifySSL, forKey: .verifySSL)
        }
    }

    /// Whether sfha can fence at all. Not yet: the block is parsed and validated (so configurations written for the
    /// original keep loading) but no driver runs and no node is ever fenced, so `enabled: true` must neither hide
    /// the two-node warning nor pass for protection.
    public static let isImplemented = false

    /// Said for `enabled: true` by `sfha config check`, by sfhad at start and reload, and in `sfha status`.
    public static let notImplementedWarning =
        "accepted, not implemented yet: nothing is fenced — sfha never powers off a node that left; safety rests on "
        + "quorum and the ring proof alone (set enabled: false to silence this warning)"

    public var enabled: Bool
    public var provider: Provider
    public var proxmox: ProxmoxSettings?
    public var webhook: WebhookSettings?
    /// Fenceable nodes by name.
    public var nodes: [String: FencedNode]
    public var safety: Safety

    public init(
        enabled: Bool = false, provider: Provider = .proxmox, proxmox: ProxmoxSettings? = nil,
        webhook: WebhookSettings? = nil, nodes: [String: FencedNode] = [:], safety: Safety = Safety()
    ) {
        self.enabled = enabled
        self.provider = provider
        self.proxmox = proxmox
        self.webhook = webhook
        self.nodes = nodes
        self.safety = safety
    }

    public var description: String {
        var text = "stonith(enabled: \(enabled), provider: \(provider.rawValue)"
        if let proxmox { text += ", \(proxmox)" }
        if let webhook { text += ", \(webhook)" }
        let nodeText = nodes.keys.sorted().map { name in
            let node = nodes[name]!
            return "\(name): \(node.type.rawValue)" + (node.vmid.map { " \($0)" } ?? "")
        }
        return text + ", nodes: [\(nodeText.joined(separator: ", "))], \(safety))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: [
            "enabled": enabled, "provider": provider.rawValue, "proxmox": proxmox.map { $0.description } ?? "nil",
            "webhook": webhook.map { $0.description } ?? "nil", "nodes": nodes.keys.sorted(), "safety": safety.description,
        ])
    }
}

/// What secrets are replaced with in text.
let redacted = "<redacted>"
