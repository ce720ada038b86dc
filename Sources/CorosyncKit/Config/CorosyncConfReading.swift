/// One `node { }` block of the nodelist, as far as sfha needs it.
///
/// Reading a node that lacks `nodeid` (or has a non-numeric one) gives `nodeID` 0, which corosync never accepts as
/// a node id; a node without `name` gives an empty `name`.
public struct CorosyncNodeEntry: Sendable, Equatable, Hashable {
    public var nodeID: UInt32
    public var name: String
    /// `ring0_addr`, `ring1_addr`, … with index = ring (link) number. A missing ring between two present ones reads as
    /// an empty string so indices keep matching link numbers. Only links 0–7 exist (knet's maximum).
    public var addresses: [String]

    public init(nodeID: UInt32, name: String, addresses: [String]) {
        self.nodeID = nodeID
        self.name = name
        self.addresses = addresses
    }
}

/// The `quorum { }` options sfha cares about; nil when absent or not a number corosync would accept.
public struct CorosyncQuorumOptions: Sendable, Equatable {
    public var provider: String?
    public var twoNode: Bool?
    public var waitForAll: Bool?
    public var lastManStanding: Bool?
    public var autoTieBreaker: Bool?
    public var expectedVotes: Int?

    public init(
        provider: String? = nil, twoNode: Bool? = nil, waitForAll: Bool? = nil, lastManStanding: Bool? = nil,
        autoTieBreaker: Bool? = nil, expectedVotes: Int? = nil
    ) {
        self.provider = provider
        self.twoNode = twoNode
        self.waitForAll = waitForAll
        self.lastManStanding = lastManStanding
        self.autoTieBreaker = autoTieBreaker
        self.expectedVotes = expectedVotes
    }
}

extension CorosyncConf {
    /// Highest ring/link number corosync knows (knet supports 8 links).
    static let maxLinks = 8

    // MARK: Generic lookup

    /// The value of the first key whose dotted path (section names and key joined with ".") is `path`, in file order.
    /// Example: `value(at: "quorum.device.net.host")`.
    public func value(at path: String) -> String? {
        var found: String?
        Self.visitPairs(in: items, parentPath: "", matching: path) { pair in
            found = pair.value
            return false
        }
        return found
    }

    /// Every value at `path`, in file order (corosync keeps the last one when a key repeats).
    public func values(at path: String) -> [String] {
        var found: [String] = []
        Self.visitPairs(in: items, parentPath: "", matching: path) { pair in
            found.append(pair.value)
            return true
        }
        return found
    }

    /// Calls `body` for each pair at `path`; stops when `body` returns false. Returns false when stopped.
    @discardableResult
    private static func visitPairs(
        in items: [CorosyncConfItem], parentPath: String, matching path: String,
        _ body: (CorosyncConfPair) -> Bool
    ) -> Bool {
        for item in items {
            switch item {
            case .pair(let pair):
                if joined(parentPath, pair.key) == path, !body(pair) { return false }
            case .section(let section):
                let sectionPath = joined(parentPath, section.name)
                // Only descend where the query can still match (names may themselves contain dots).
                if path.hasPrefix(sectionPath + "."),
                   !visitPairs(in: section.children, parentPath: sectionPath, matching: path, body) {
                    return false
                }
            case .blank, .comment:
                break
            }
        }
        return true
    }

    static func joined(_ parent: String, _ name: String) -> String {
        parent.isEmpty ? name : parent + "." + name
    }

    // MARK: Typed views

    public var clusterName: String? { value(at: "totem.cluster_name") }
    public var transport: String? { value(at: "totem.transport") }
    public var cryptoCipher: String? { value(at: "totem.crypto_cipher") }
    public var cryptoHash: String? { value(at: "totem.crypto_hash") }

    /// The obsolete `totem.secauth` switch (on/yes/1 or off/no/0); nil when absent or unrecognised.
    public var secauth: Bool? {
        switch value(at: "totem.secauth")?.lowercased() {
        case "on", "yes", "1": true
        case "off", "no", "0": false
        default: nil
        }
    }

    /// `totem.token` in milliseconds.
    public var token: Int? { value(at: "totem.token").flatMap { Int($0) } }

    public var quorum: CorosyncQuorumOptions {
        // corosync reads these flags as unsigned 8-bit integers: any non-zero number enables them.
        func flag(_ key: String) -> Bool? {
            value(at: "quorum." + key).flatMap { UInt8($0) }.map { $0 != 0 }
        }
        return CorosyncQuorumOptions(
            provider: value(at: "quorum.provider"),
            twoNode: flag("two_node"),
            waitForAll: flag("wait_for_all"),
            lastManStanding: flag("last_man_standing"),
            autoTieBreaker: flag("auto_tie_breaker"),
            expectedVotes: value(at: "quorum.expected_votes").flatMap { Int($0) })
    }

    /// The nodes of every top-level `nodelist` section, in file order.
    public var nodes: [CorosyncNodeEntry] {
        nodeSections().map { Self.nodeEntry(from: $0.section) }
    }

    /// Where each node section lives: index of its `nodelist` in `items`, its index among the nodelist's children.
    func nodeSections() -> [(nodelistIndex: Int, childIndex: Int, section: CorosyncConfSection)] {
        var result: [(Int, Int, CorosyncConfSection)] = []
        for (nodelistIndex, item) in items.enumerated() {
            guard case .section(let nodelist) = item, nodelist.name == "nodelist" else { continue }
            for (childIndex, child) in nodelist.children.enumerated() {
                if case .section(let node) = child, node.name == "node" {
                    result.append((nodelistIndex, childIndex, node))
                }
            }
        }
        return result
    }

    static func nodeEntry(from section: CorosyncConfSection) -> CorosyncNodeEntry {
        var nodeID: UInt32?
        var name: String?
        var ringAddresses: [Int: String] = [:]
        for child in section.children {
            guard case .pair(let pair) = child else { continue }
            switch pair.key {
            case "nodeid":
                nodeID = UInt32(pair.value) ?? 0
            case "name":
                name = pair.value
            default:
                if let ring = ringNumber(ofAddressKey: pair.key) { ringAddresses[ring] = pair.value }
            }
        }
        var addresses: [String] = []
        if let highest = ringAddresses.keys.max() {
            addresses = (0...highest).map { ringAddresses[$0] ?? "" }
        }
        return CorosyncNodeEntry(nodeID: nodeID ?? 0, name: name ?? "", addresses: addresses)
    }

    /// 3 for "ring3_addr"; nil for other keys and for rings beyond the link limit.
    static func ringNumber(ofAddressKey key: String) -> Int? {
        guard key.hasPrefix("ring"), key.hasSuffix("_addr") else { return nil }
        let digits = key.dropFirst(4).dropLast(5)
        guard !digits.isEmpty, digits.count <= 2, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              let ring = Int(digits), ring < maxLinks
        else { return nil }
        return ring
    }
}
