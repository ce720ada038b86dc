#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks on everything sfha writes into corosync.conf, so that no argument can smuggle in extra lines, sections or
/// comments.
enum CorosyncConfValidation {
    static let maxNodeNameLength = 64
    static let maxAddressesPerNode = CorosyncConf.maxLinks

    /// Letters, digits, `-`, `_`, `.`; 1–64 characters.
    static func checkNodeName(_ name: String) throws(CorosyncConfError) {
        guard !name.isEmpty, name.utf8.count <= maxNodeNameLength else {
            throw .invalid("node name must be 1–\(maxNodeNameLength) characters, got \(name.utf8.count)")
        }
        guard name.utf8.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }) else {
            throw .invalid("node name '\(printable(name))' may only contain letters, digits, '-', '_' and '.'")
        }
    }

    /// One to eight addresses (one per link), each valid and all different.
    static func checkAddresses(_ addresses: [String]) throws(CorosyncConfError) {
        guard (1...maxAddressesPerNode).contains(addresses.count) else {
            throw .invalid("a node needs 1–\(maxAddressesPerNode) addresses (one per link), got \(addresses.count)")
        }
        var seen: Set<String> = []
        for address in addresses {
            try checkAddress(address)
            guard seen.insert(normalizedAddress(address)).inserted else {
                throw .invalid("address '\(address)' is given twice")
            }
        }
    }

    /// An IPv4 literal, an IPv6 literal (optionally with a `%zone`), or a DNS host name.
    static func checkAddress(_ address: String) throws(CorosyncConfError) {
        if address.isEmpty { throw .invalid("address must not be empty") }
        if let reason = addressProblem(address) {
            throw .invalid("invalid address '\(printable(address))': \(reason)")
        }
    }

    private static func addressProblem(_ address: String) -> String? {
        let bytes = Array(address.utf8)
        if bytes.contains(UInt8(ascii: ":")) {
            let parts = address.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false)
            guard let literal = parts.first, parse(String(literal), family: AF_INET6) != nil else {
                return "not an IPv6 address"
            }
            if parts.count == 2 {
                let zone = parts[1].utf8
                guard !zone.isEmpty, zone.count <= 15,
                      zone.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") })
                else { return "bad IPv6 zone (interface name)" }
            }
            return nil
        }
        if bytes.allSatisfy({ isDigit($0) || $0 == UInt8(ascii: ".") }) {
            return parse(address, family: AF_INET) == nil ? "not an IPv4 address" : nil
        }
        // RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens.
        var name = Substring(address)
        if name.hasSuffix(".") { name = name.dropLast() }
        guard !name.isEmpty, name.utf8.count <= 253 else { return "host name must be 1–253 characters" }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            let labelBytes = label.utf8
            guard let first = labelBytes.first, let last = labelBytes.last, labelBytes.count <= 63,
                  labelBytes.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") }),
                  first != UInt8(ascii: "-"), last != UInt8(ascii: "-")
            else { return "not an IP address or host name" }
        }
        return nil
    }

    /// A comparable form: canonical text for IP literals, lower case without a trailing dot for host names.
    static func normalizedAddress(_ address: String) -> String {
        let parts = address.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false)
        let literal = String(parts.first ?? "")
        let zone = parts.count == 2 ? "%" + parts[1] : ""
        if let bytes = parse(literal, family: AF_INET6) { return format(bytes, family: AF_INET6) + zone }
        if zone.isEmpty, let bytes = parse(literal, family: AF_INET) { return format(bytes, family: AF_INET) }
        var name = address.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        return name
    }

    private static func parse(_ text: String, family: Int32) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 16)
        let result = buffer.withUnsafeMutableBytes { inet_pton(family, text, $0.baseAddress) }
        return result == 1 ? buffer : nil
    }

    private static func format(_ bytes: [UInt8], family: Int32) -> String {
        var output = [CChar](repeating: 0, count: 64)
        let ok = bytes.withUnsafeBytes { raw in
            output.withUnsafeMutableBufferPointer { inet_ntop(family, raw.baseAddress, $0.baseAddress, socklen_t($0.count)) != nil }
        }
        guard ok else { return "" }
        let length = output.firstIndex(of: 0) ?? output.count
        return String(decoding: output[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A value for `set`: one line of text without braces, surrounding blanks or control characters.
    static func checkValue(_ value: String) throws(CorosyncConfError) {
        guard !value.isEmpty else { throw .invalid("value must not be empty (use remove to delete a key)") }
        for byte in value.utf8 {
            if byte < 0x20 || byte == 0x7F {
                throw .invalid("value '\(printable(value))' must not contain control characters or line breaks")
            }
            if byte == CorosyncConfParser.openBrace || byte == CorosyncConfParser.closeBrace {
                throw .invalid("value '\(printable(value))' must not contain '{' or '}'")
            }
        }
        if value.utf8.first == CorosyncConfParser.space || value.utf8.last == CorosyncConfParser.space {
            throw .invalid("value '\(printable(value))' must not start or end with a space (corosync would trim it)")
        }
    }

    /// Splits `totem.token` into sections `["totem"]` and key `token`. Every part: letters, digits, `_`, `-`.
    static func splitPath(_ path: String) throws(CorosyncConfError) -> (sections: [String], key: String) {
        let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, let key = parts.last else {
            throw .invalid("path '\(printable(path))' must name a section and a key, like 'totem.token'")
        }
        for part in parts {
            guard !part.isEmpty,
                  part.utf8.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") })
            else {
                throw .invalid("path '\(printable(path))': each part may only contain letters, digits, '_' and '-'")
            }
        }
        if parts[0] == "nodelist" {
            throw .invalid("nodelist entries are changed with addNode/removeNode, not with set/remove")
        }
        let sectionPath = parts.dropLast().joined(separator: ".")
        if CorosyncConfParser.exceedsKeyNameLimit(parentPath: sectionPath, name: key) {
            throw .invalid(
                "path '\(path)' is \(path.utf8.count) bytes; corosync allows at most "
                    + "\(CorosyncConfParser.keyNameMaxBytes - 1)")
        }
        return (Array(parts.dropLast()), key)
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }

    /// Shows control characters escaped so error messages stay on one line.
    static func printable(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                result += scalar.escaped(asASCII: true)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
