/// An IPv4 address. Parsing is strict: exactly four decimal octets 0–255, no leading zeros (`010.0.0.1` is refused
/// because some tools read it as octal), no whitespace, no shorthand forms (`10.1`).
public struct IPv4Address: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The address in host byte order (`10.0.0.1` is `0x0A00_0001`).
    public var rawValue: UInt32

    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        rawValue = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    public init?(_ text: some StringProtocol) {
        let parts = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            if part.count > 1 && part.first == UInt8(ascii: "0") { return nil }
            var octet: UInt32 = 0
            for digit in part { octet = octet * 10 + UInt32(digit - 0x30) }
            guard octet <= 255 else { return nil }
            value = value << 8 | octet
        }
        rawValue = value
    }

    public var octets: [UInt8] {
        [UInt8(rawValue >> 24), UInt8(truncatingIfNeeded: rawValue >> 16), UInt8(truncatingIfNeeded: rawValue >> 8),
         UInt8(truncatingIfNeeded: rawValue)]
    }

    public var description: String { octets.map(String.init).joined(separator: ".") }

    /// `0.0.0.0`.
    public var isUnspecified: Bool { rawValue == 0 }
    /// `127.0.0.0/8`.
    public var isLoopback: Bool { rawValue >> 24 == 127 }
    /// `224.0.0.0/4`.
    public var isMulticast: Bool { rawValue >> 28 == 0xE }
    /// `255.255.255.255`.
    public var isLimitedBroadcast: Bool { rawValue == .max }
    /// `169.254.0.0/16`.
    public var isLinkLocal: Bool { rawValue >> 16 == 0xA9FE }

    /// The netmask of a prefix length 0–32.
    public static func mask(prefixLength: Int) -> UInt32 {
        prefixLength <= 0 ? 0 : UInt32.max << UInt32(32 - min(prefixLength, 32))
    }

    public static func < (lhs: IPv4Address, rhs: IPv4Address) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let address = IPv4Address(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an IPv4 address: \(text)"))
        }
        self = address
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// An IPv6 address. Parsing accepts RFC 4291 text (1–4 hex digits per group, at most one `::`, an optional dotted
/// IPv4 tail) and refuses zone identifiers (`%eth0`) and brackets; `description` is the RFC 5952 canonical form
/// (lowercase, no leading zeros, the longest run of two or more zero groups compressed).
public struct IPv6Address: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The 128 bits, most significant half first.
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// From eight 16-bit groups.
    public init(groups: [UInt16]) {
        precondition(groups.count == 8, "an IPv6 address has 8 groups")
        var h: UInt64 = 0
        var l: UInt64 = 0
        for i in 0..<4 { h = h << 16 | UInt64(groups[i]) }
        for i in 4..<8 { l = l << 16 | UInt64(groups[i]) }
        high = h
        low = l
    }

    public init?(_ text: some StringProtocol) {
        let chars = Array(text.utf8)
        guard !chars.isEmpty, chars.count <= 45 else { return nil }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawDoubleColon = false
        // Split on "::" first.
        var doubleColonIndex: Int?
        var i = 0
        while i + 1 < chars.count {
            if chars[i] == UInt8(ascii: ":") && chars[i + 1] == UInt8(ascii: ":") {
                if doubleColonIndex != nil { return nil }
                doubleColonIndex = i
                i += 2
                if i < chars.count && chars[i] == UInt8(ascii: ":") { return nil }
                continue
            }
            i += 1
        }
        func parseGroups(_ part: ArraySlice<UInt8>, allowIPv4Tail: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            let pieces = part.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            var groups: [UInt16] = []
            for (index, piece) in pieces.enumerated() {
                if allowIPv4Tail && index == pieces.count - 1 && piece.contains(UInt8(ascii: ".")) {
                    guard let v4 = IPv4Address(String(decoding: piece, as: UTF8.self)) else { return nil }
                    groups.append(UInt16(v4.rawValue >> 16))
                    groups.append(UInt16(truncatingIfNeeded: v4.rawValue))
                    continue
                }
                guard (1...4).contains(piece.count) else { return nil }
                var value: UInt16 = 0
                for c in piece {
                    guard let digit = hexValue(c) else { return nil }
                    value = value << 4 | UInt16(digit)
                }
                groups.append(value)
            }
            return groups
        }
        if let dc = doubleColonIndex {
            sawDoubleColon = true
            guard let h = parseGroups(chars[0..<dc], allowIPv4Tail: false),
                  let t = parseGroups(chars[(dc + 2)...], allowIPv4Tail: true)
            else { return nil }
            head = h
            tail = t
            guard head.count + tail.count <= 7 else { return nil }
        } else {
            guard let all = parseGroups(chars[...], allowIPv4Tail: true), all.count == 8 else { return nil }
            head = all
        }
        let zeros = sawDoubleColon ? [UInt16](repeating: 0, count: 8 - head.count - tail.count) : []
        self.init(groups: head + zeros + tail)
    }

    public var groups: [UInt16] {
        var result: [UInt16] = []
        for shift in stride(from: 48, through: 0, by: -16) { result.append(UInt16(truncatingIfNeeded: high >> UInt64(shift))) }
        for shift in stride(from: 48, through: 0, by: -16) { result.append(UInt16(truncatingIfNeeded: low >> UInt64(shift))) }
        return result
    }

    public var description: String {
        let g = groups
        if isIPv4Mapped {
            return "::ffff:" + IPv4Address(rawValue: UInt32(truncatingIfNeeded: low)).description
        }
        // Longest run of >= 2 zero groups, first one on ties.
        var bestStart = -1
        var bestLength = 0
        var index = 0
        while index < 8 {
            if g[index] == 0 {
                var end = index
                while end < 8 && g[end] == 0 { end += 1 }
                if end - index > bestLength && end - index >= 2 {
                    bestStart = index
                    bestLength = end - index
                }
                index = end
            } else {
                index += 1
            }
        }
        func render(_ slice: ArraySlice<UInt16>) -> String {
            slice.map { String($0, radix: 16) }.joined(separator: ":")
        }
        if bestStart < 0 { return render(g[...]) }
        return render(g[0..<bestStart]) + "::" + render(g[(bestStart + bestLength)...])
    }

    /// `::`.
    public var isUnspecified: Bool { high == 0 && low == 0 }
    /// `::1`.
    public var isLoopback: Bool { high == 0 && low == 1 }
    /// `ff00::/8`.
    public var isMulticast: Bool { high >> 56 == 0xFF }
    /// `fe80::/10`.
    public var isLinkLocal: Bool { high >> 54 == 0x3FA }
    /// `::ffff:0:0/96`.
    public var isIPv4Mapped: Bool { high == 0 && low >> 32 == 0xFFFF }

    public static func < (lhs: IPv6Address, rhs: IPv6Address) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let address = IPv6Address(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an IPv6 address: \(text)"))
        }
        self = address
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// An IPv4 or IPv6 address. Encodes as its canonical text.
public enum IPAddress: Sendable, Hashable, Codable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    /// Parses either family (strictly, see `IPv4Address` and `IPv6Address`).
    public init?(_ text: some StringProtocol) {
        if let v4 = IPv4Address(text) {
            self = .v4(v4)
        } else if let v6 = IPv6Address(text) {
            self = .v6(v6)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .v4(let address): address.description
        case .v6(let address): address.description
        }
    }

    public var isIPv6: Bool {
        if case .v6 = self { return true }
        return false
    }

    /// The longest prefix length of the family (32 or 128).
    public var maximumPrefixLength: Int { isIPv6 ? 128 : 32 }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let address = IPAddress(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an IP address: \(text)"))
        }
        self = address
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
