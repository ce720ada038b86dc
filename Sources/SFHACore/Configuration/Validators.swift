import SFHABase
import Foundation

/// Syntax rules for names and values that end up in program arguments, file names or URLs. Each returns nil when
/// the value is fine, or the end of a sentence saying what is wrong ("… is not a valid unit name: …").
enum Validators {
    private static func isAlphanumeric(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A)
    }

    private static func onlyContains(_ text: String, extra: String) -> Bool {
        let allowed = Set(extra.utf8)
        return text.utf8.allSatisfy { isAlphanumeric($0) || allowed.contains($0) }
    }

    /// Node names: `[A-Za-z0-9._-]`, 1–64 characters, starting with a letter or digit (they must match corosync's
    /// `name:` and end up in cmap keys).
    static func nodeName(_ name: String) -> String? {
        guard (1...64).contains(name.utf8.count) else { return "a node name has 1 to 64 characters" }
        guard onlyContains(name, extra: "._-") else { return "a node name may only contain letters, digits, '.', '_' and '-'" }
        guard isAlphanumeric(name.utf8.first!) else { return "a node name starts with a letter or a digit" }
        return nil
    }

    /// Names of VIPs, services, health checks and groups: `[A-Za-z0-9._:@-]`, 1–128 characters, starting with a
    /// letter or digit (a service's name is its unit by default, hence `@` and `:`).
    static func resourceName(_ name: String) -> String? {
        guard (1...128).contains(name.utf8.count) else { return "a name has 1 to 128 characters" }
        guard onlyContains(name, extra: "._:@-") else {
            return "a name may only contain letters, digits, '.', '_', ':', '@' and '-'"
        }
        guard isAlphanumeric(name.utf8.first!) else { return "a name starts with a letter or a digit" }
        return nil
    }

    /// Cluster names (corosync `cluster_name`): same rules as node names.
    static func clusterName(_ name: String) -> String? {
        nodeName(name).map { $0.replacingOccurrences(of: "node name", with: "cluster name") }
    }

    /// Linux interface names (`dev_valid_name`): 1–15 bytes, not `.`/`..`, no `/`, `:` or whitespace. sfha also
    /// refuses non-ASCII, control characters and a leading `-` (it would read as an option to `ip`/`arping`).
    static func interfaceName(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        guard (1...15).contains(bytes.count) else { return "an interface name has 1 to 15 characters" }
        guard name != ".", name != ".." else { return "an interface name cannot be \".\" or \"..\"" }
        for byte in bytes {
            if byte == UInt8(ascii: "/") || byte == UInt8(ascii: ":") { return "an interface name cannot contain '/' or ':'" }
            if byte <= 0x20 || byte >= 0x7F { return "an interface name cannot contain spaces, control or non-ASCII characters" }
        }
        guard bytes[0] != UInt8(ascii: "-") else { return "an interface name cannot start with '-'" }
        return nil
    }

    /// systemd unit names: `[A-Za-z0-9:_.\@-]`, at most 256 characters, not starting with `-` or `.`; a template
    /// (`name@.service`) needs an instance (`name@x.service`).
    static func unitName(_ unit: String) -> String? {
        guard (1...256).contains(unit.utf8.count) else { return "a unit name has 1 to 256 characters" }
        guard onlyContains(unit, extra: ":_.\\@-") else {
            return "a unit name may only contain letters, digits and ':', '_', '.', '\\', '@', '-'"
        }
        guard let first = unit.utf8.first, first != UInt8(ascii: "-"), first != UInt8(ascii: ".") else {
            return "a unit name cannot start with '-' or '.'"
        }
        let stem = SystemdUnitName.stem(unit)
        guard !stem.isEmpty else { return "the unit name before the suffix is empty" }
        if let at = stem.firstIndex(of: "@") {
            guard at != stem.startIndex else { return "a unit name cannot start with '@'" }
            guard stem.index(after: at) != stem.endIndex else {
                return "a template unit (name@.service) needs an instance (name@instance.service)"
            }
        }
        return nil
    }

    /// Host names (RFC 1123, underscores tolerated), IPv4 or IPv6 literals (without brackets).
    static func host(_ host: String) -> String? {
        if host.contains(":") {
            return IPv6Address(host) == nil ? "\(quoted(host)) is not an IPv6 address" : nil
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        if let last = labels.last, !last.isEmpty, last.allSatisfy({ $0.isASCII && $0.isNumber }) {
            // All-numeric top label: only an IPv4 literal makes sense.
            return IPv4Address(host) == nil ? "\(quoted(host)) is not an IPv4 address" : nil
        }
        guard (1...253).contains(host.utf8.count) else { return "a host name has 1 to 253 characters" }
        for label in labels {
            guard (1...63).contains(label.utf8.count), onlyContains(String(label), extra: "-_"),
                  label.first != "-", label.last != "-"
            else { return "\(quoted(host)) is not a valid host name" }
        }
        return nil
    }

    /// An `http://` or `https://` URL with a host, no credentials, no whitespace, a port in 1–65535 if any.
    static func httpURL(_ text: String) -> Result<URL, URLProblem> {
        guard !text.isEmpty else { return .failure(URLProblem("is empty: expected an http:// or https:// URL")) }
        guard !text.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 }) else {
            return .failure(URLProblem("\(quoted(text)) is not a valid URL: it contains whitespace"))
        }
        guard let components = URLComponents(string: text), let url = URL(string: text) else {
            return .failure(URLProblem("\(quoted(text)) is not a valid URL"))
        }
        guard let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            return .failure(URLProblem("\(quoted(text)) is not an http:// or https:// URL"))
        }
        guard var host = components.host, !host.isEmpty else {
            return .failure(URLProblem("\(quoted(text)) has no host (expected http://host/…)"))
        }
        guard components.user == nil, components.password == nil else {
            return .failure(URLProblem("\(quoted(text)) contains credentials: put them in headers or a secret file instead"))
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if let problem = Validators.host(host) { return .failure(URLProblem("\(quoted(text)) has an invalid host: \(problem)")) }
        if let port = components.port, !(1...65535).contains(port) {
            return .failure(URLProblem("\(quoted(text)) has port \(port), expected 1 to 65535"))
        }
        return .success(url)
    }

    struct URLProblem: Error, Equatable {
        var message: String
        init(_ message: String) { self.message = message }
    }

    /// `host:port`, `[ipv6]:port`. The host comes back canonical for IP literals.
    static func hostPort(_ text: String) -> Result<(host: String, port: UInt16), URLProblem> {
        let host: String
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                return .failure(URLProblem("\(quoted(text)) lacks the closing ']' of the IPv6 address"))
            }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.first == ":" else { return .failure(URLProblem("\(quoted(text)) has no port: expected [address]:port")) }
            portText = rest.dropFirst()
            guard let v6 = IPv6Address(host) else { return .failure(URLProblem("\(quoted(host)) is not an IPv6 address")) }
            guard let port = parsePort(portText) else {
                return .failure(URLProblem("\(quoted(text)) has an invalid port: expected 1 to 65535"))
            }
            return .success((v6.description, port))
        }
        let colons = text.filter { $0 == ":" }.count
        if colons > 1 {
            return .failure(URLProblem("\(quoted(text)) is ambiguous: write IPv6 addresses in brackets, as [address]:port"))
        }
        guard colons == 1, let colon = text.firstIndex(of: ":") else {
            return .failure(URLProblem("\(quoted(text)) has no port: expected host:port"))
        }
        host = String(text[..<colon])
        portText = text[text.index(after: colon)...]
        guard !host.isEmpty else { return .failure(URLProblem("\(quoted(text)) has no host: expected host:port")) }
        if let problem = Validators.host(host) { return .failure(URLProblem(problem)) }
        guard let port = parsePort(portText) else {
            return .failure(URLProblem("\(quoted(text)) has an invalid port: expected 1 to 65535"))
        }
        return .success((IPv4Address(host)?.description ?? host, port))
    }

    private static func parsePort(_ text: Substring) -> UInt16? {
        guard !text.isEmpty, text.count <= 5, text.allSatisfy({ $0.isASCII && $0.isNumber }),
              !(text.count > 1 && text.first == "0"), let value = Int(text), (1...65535).contains(value)
        else { return nil }
        return UInt16(value)
    }
}

/// systemd unit-name helpers.
public enum SystemdUnitName {
    /// Unit types systemd knows; a name without one of these suffixes means `<name>.service`.
    public static let suffixes = [
        ".service", ".socket", ".target", ".mount", ".automount", ".swap", ".timer", ".path", ".slice", ".scope",
        ".device",
    ]

    /// The name with `.service` appended when it has no unit-type suffix (what `systemctl` does).
    public static func fullName(_ unit: String) -> String {
        suffixes.contains { unit.hasSuffix($0) } ? unit : unit + ".service"
    }

    /// The name without its unit-type suffix.
    static func stem(_ unit: String) -> String {
        for suffix in suffixes where unit.hasSuffix(suffix) {
            return String(unit.dropLast(suffix.count))
        }
        return unit
    }
}
