import SFHABase

/// What lab to build: its name, how many corosync nodes, and the knobs tests care about.
public struct LabSpec: Sendable, Codable, Equatable {
    /// The lab name; it prefixes every namespace, interface and directory the lab creates.
    public var name: String
    /// Number of corosync nodes (`node1` … `nodeN`), 1…16.
    public var nodeCount: Int
    /// Corosync totem token timeout in milliseconds, handed to the config generator (nil: its default).
    public var tokenMilliseconds: Int?
    /// The lab's /24 as "a.b.c.0/24"; nil derives 10.231.X.0/24 from the name.
    public var subnet: String?
    /// The command line the `sfhad` unit of the systemctl stand-in runs (resolved through the node's PATH,
    /// whose first entry is the lab's bin directory, where `up` links the built `sfhad`).
    public var sfhadCommand: String
    /// Bare hosts (`sfha-lab up --bare`): no corosync.conf, no authkey, corosync not started — machines for
    /// `sfha init` and `sfha join`. nil: not bare.
    public var bare: Bool?

    public static let defaultName = "sfha"
    public static let maximumNodeCount = 16
    public static let defaultSfhadCommand = "sfhad --config /etc/sfha/config.yml"

    public init(
        name: String = LabSpec.defaultName, nodeCount: Int, tokenMilliseconds: Int? = nil, subnet: String? = nil,
        sfhadCommand: String = LabSpec.defaultSfhadCommand, bare: Bool = false
    ) {
        self.name = name
        self.nodeCount = nodeCount
        self.tokenMilliseconds = tokenMilliseconds
        self.subnet = subnet
        self.sfhadCommand = sfhadCommand
        self.bare = bare ? true : nil
    }

    /// The subnet the lab uses: the given one, or one derived deterministically from the name.
    public func resolvedSubnet() throws(SFHAError) -> LabSubnet {
        if let subnet { return try LabSubnet(parsing: subnet) }
        return LabSubnet.derived(fromLabName: name)
    }

    /// Throws an `invalidArgument` error describing the first thing wrong with the spec.
    public func validate() throws(SFHAError) {
        try LabNames.validateLabName(name)
        guard (1...Self.maximumNodeCount).contains(nodeCount) else {
            throw SFHAError(
                .invalidArgument,
                "lab '\(name)': node count \(nodeCount) is out of range; use 1…\(Self.maximumNodeCount) nodes")
        }
        if let tokenMilliseconds, !(100...60_000).contains(tokenMilliseconds) {
            throw SFHAError(
                .invalidArgument, "lab '\(name)': token \(tokenMilliseconds) ms is out of range; use 100…60000 ms")
        }
        _ = try resolvedSubnet()
        guard !sfhadCommand.isEmpty, !sfhadCommand.contains("\n") else {
            throw SFHAError(.invalidArgument, "lab '\(name)': the sfhad command must be a single non-empty line")
        }
    }
}

/// A lab's /24 network: nodes get .(10+i), the client host .250. The host itself gets no address on it, so
/// nothing routes between the lab and any other network.
public struct LabSubnet: Sendable, Codable, Equatable, CustomStringConvertible {
    public let first: UInt8
    public let second: UInt8
    public let third: UInt8

    public static let clientHostOctet: UInt8 = 250

    public init(_ first: UInt8, _ second: UInt8, _ third: UInt8) {
        self.first = first
        self.second = second
        self.third = third
    }

    /// Parses "a.b.c.0/24" (or "a.b.c.0" or "a.b.c").
    public init(parsing text: String) throws(SFHAError) {
        var body = Substring(text)
        if body.hasSuffix("/24") { body = body.dropLast(3) }
        var parts = body.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 4, parts[3] == "0" { parts.removeLast() }
        let values = parts.compactMap { UInt8($0) }
        guard parts.count == 3, values.count == 3, parts.allSatisfy({ $0 == String(UInt8($0) ?? 0) }) else {
            throw SFHAError(.invalidArgument, "subnet '\(text)' is not a /24 written as a.b.c.0/24 (e.g. 10.231.7.0/24)")
        }
        self.init(values[0], values[1], values[2])
    }

    /// 10.231.X.0/24 with X in 1…254 from an FNV-1a hash of the name: stable across runs and processes, and
    /// different labs usually get different subnets (a clash would still be harmless: each lab has its own bridge).
    public static func derived(fromLabName name: String) -> LabSubnet {
        var hash: UInt32 = 2_166_136_261
        for byte in name.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        return LabSubnet(10, 231, UInt8(hash % 254) + 1)
    }

    public func address(host: UInt8) -> String { "\(first).\(second).\(third).\(host)" }
    public var prefixLength: Int { 24 }
    public var description: String { "\(first).\(second).\(third).0/24" }
}

/// Naming rules: every name reaches `ip`, `nsenter` and file paths, so it is checked before use.
public enum LabNames {
    /// Lab names: a lowercase letter, then up to 10 of [a-z0-9-]. The limit keeps `<lab>-n16` within the
    /// kernel's 15-character interface names.
    public static let maximumLabNameLength = 11
    public static let clientHostName = "client"

    public static func validateLabName(_ name: String) throws(SFHAError) {
        let bytes = Array(name.utf8)
        let valid = !bytes.isEmpty && bytes.count <= maximumLabNameLength
            && (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[0])
            && bytes.allSatisfy { isLowercaseAlphanumeric($0) || $0 == UInt8(ascii: "-") }
            && bytes.last != UInt8(ascii: "-")
        guard valid else {
            throw SFHAError(
                .invalidArgument,
                "lab name '\(name)' is invalid; use a lowercase letter followed by up to "
                    + "\(maximumLabNameLength - 1) lowercase letters, digits or '-' (e.g. 'sfha' or 'test-1')")
        }
    }

    /// The node index of "node<i>" (1…16), or nil.
    public static func nodeIndex(of name: String) -> Int? {
        guard name.hasPrefix("node") else { return nil }
        let digits = name.dropFirst(4)
        guard let index = Int(digits), String(index) == digits, (1...LabSpec.maximumNodeCount).contains(index) else {
            return nil
        }
        return index
    }

    public static func nodeName(_ index: Int) -> String { "node\(index)" }

    /// Unit and process names: letters, digits and `-_.@:` only (they reach `pgrep`-style matching and file names).
    public static func validateSimpleName(_ name: String, what: String) throws(SFHAError) {
        let allowed = Set("-_.@:".utf8)
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 64, bytes[0] != UInt8(ascii: "-"),
            bytes.allSatisfy({ isAlphanumeric($0) || allowed.contains($0) })
        else {
            throw SFHAError(.invalidArgument, "\(what) '\(name)' is invalid; use letters, digits and -_.@: only")
        }
    }

    static func isLowercaseAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        isLowercaseAlphanumeric(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }
}
