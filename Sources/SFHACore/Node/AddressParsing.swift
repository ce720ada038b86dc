import Foundation
import SFHABase

/// Exact parsers for the address listings the real controllers read. An address is compared as a parsed
/// `IPAddress`, never as text: `10.0.0.1` is not `10.0.0.10`, and `2001:DB8:0::1` is `2001:db8::1`.
public enum AddressParsing {
    /// Parses `ip -j addr show [dev IF]` output. Entries whose address does not parse are skipped; `interface`
    /// limits the result to one interface.
    public static func parseIPJSON(_ json: String, interface: String? = nil) throws(SFHAError) -> [InterfaceAddress] {
        struct Link: Decodable {
            var ifname: String
            var addr_info: [Info]?
        }
        struct Info: Decodable {
            var family: String?
            var local: String?
            var prefixlen: Int?
        }
        let trimmed = json.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return [] }
        let links: [Link]
        do {
            links = try JSONDecoder().decode([Link].self, from: Data(trimmed.utf8))
        } catch {
            throw SFHAError(.io, "could not parse 'ip -j addr' output", cause: error)
        }
        var result: [InterfaceAddress] = []
        for link in links where interface == nil || link.ifname == interface {
            for info in link.addr_info ?? [] {
                guard let family = info.family, family == "inet" || family == "inet6",
                      let text = info.local, let address = IPAddress(text), address.isIPv6 == (family == "inet6"),
                      let prefix = info.prefixlen
                else { continue }
                result.append(InterfaceAddress(address: address, prefixLength: prefix, interface: link.ifname))
            }
        }
        return result
    }

    /// Parses one `ip -o addr` line's address field (`10.0.0.1/24`, `fe80::1/64`) exactly.
    public static func parseCIDR(_ text: some StringProtocol) -> (address: IPAddress, prefixLength: Int)? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPAddress(parts[0]), let prefix = Int(parts[1]),
              (0...address.maximumPrefixLength).contains(prefix)
        else { return nil }
        return (address, prefix)
    }
}

/// rtnetlink address messages (`RTM_NEWADDR`, `RTM_DELADDR`, `RTM_GETADDR`), built and parsed byte for byte.
enum NetlinkAddressMessage {
    static let RTM_NEWADDR: UInt16 = 20
    static let RTM_DELADDR: UInt16 = 21
    static let RTM_GETADDR: UInt16 = 22
    static let NLMSG_ERROR: UInt16 = 2
    static let NLMSG_DONE: UInt16 = 3
    static let NLM_F_REQUEST: UInt16 = 0x1
    static let NLM_F_MULTI: UInt16 = 0x2
    static let NLM_F_ACK: UInt16 = 0x4
    static let NLM_F_EXCL: UInt16 = 0x200
    static let NLM_F_CREATE: UInt16 = 0x400
    static let NLM_F_DUMP: UInt16 = 0x300
    static let IFA_ADDRESS: UInt16 = 1
    static let IFA_LOCAL: UInt16 = 2
    static let IFA_CACHEINFO: UInt16 = 6
    static let IFA_FLAGS: UInt16 = 8
    static let NLM_F_REPLACE: UInt16 = 0x100
    static let IFA_F_NODAD: UInt32 = 0x02
    static let AF_INET: UInt8 = 2
    static let AF_INET6: UInt8 = 10

    static func family(of address: IPAddress) -> UInt8 { address.isIPv6 ? AF_INET6 : AF_INET }

    /// nlmsghdr + ifaddrmsg + attributes.
    static func build(
        type: UInt16, flags: UInt16, sequence: UInt32, family: UInt8, prefixLength: UInt8, interfaceIndex: UInt32,
        attributes: [(UInt16, [UInt8])]
    ) -> [UInt8] {
        var body: [UInt8] = [family, prefixLength, 0, 0]  // family, prefixlen, flags, scope (universe)
        body += le32(interfaceIndex)
        for (kind, payload) in attributes {
            body += le16(UInt16(4 + payload.count)) + le16(kind) + payload
            while body.count % 4 != 0 { body.append(0) }
        }
        return le32(UInt32(16 + body.count)) + le16(type) + le16(flags) + le32(sequence) + le32(0) + body
    }

    /// Adds the VIP; with `lifetimeSeconds`, as a dynamic address the kernel removes by itself unless refreshed.
    static func addRequest(_ vip: VirtualIP, interfaceIndex: UInt32, sequence: UInt32, lifetimeSeconds: UInt32? = nil) -> [UInt8] {
        build(
            type: RTM_NEWADDR, flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, sequence: sequence,
            family: family(of: vip.address), prefixLength: UInt8(vip.prefixLength), interfaceIndex: interfaceIndex,
            attributes: addressAttributes(vip, lifetimeSeconds: lifetimeSeconds))
    }

    /// Replaces the VIP's lifetime (`ip addr change … valid_lft N preferred_lft N`); fails if the address is gone.
    static func refreshRequest(_ vip: VirtualIP, interfaceIndex: UInt32, sequence: UInt32, lifetimeSeconds: UInt32) -> [UInt8] {
        build(
            type: RTM_NEWADDR, flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_REPLACE, sequence: sequence,
            family: family(of: vip.address), prefixLength: UInt8(vip.prefixLength), interfaceIndex: interfaceIndex,
            attributes: addressAttributes(vip, lifetimeSeconds: lifetimeSeconds))
    }

    private static func addressAttributes(_ vip: VirtualIP, lifetimeSeconds: UInt32?) -> [(UInt16, [UInt8])] {
        let bytes = vip.address.bytes
        var attributes: [(UInt16, [UInt8])] = [(IFA_LOCAL, bytes), (IFA_ADDRESS, bytes)]
        if vip.address.isIPv6 { attributes.append((IFA_FLAGS, le32(IFA_F_NODAD))) }
        if let lifetimeSeconds {
            // struct ifa_cacheinfo { preferred, valid, cstamp, tstamp }: the kernel fills the stamps.
            attributes.append((IFA_CACHEINFO, le32(lifetimeSeconds) + le32(lifetimeSeconds) + le32(0) + le32(0)))
        }
        return attributes
    }

    /// Deletes by local address (IPv4 ignores the prefix length without IFA_ADDRESS; IPv6 needs it exact).
    static func deleteRequest(_ address: IPAddress, prefixLength: Int, interfaceIndex: UInt32, sequence: UInt32) -> [UInt8] {
        build(
            type: RTM_DELADDR, flags: NLM_F_REQUEST | NLM_F_ACK, sequence: sequence, family: family(of: address),
            prefixLength: UInt8(prefixLength), interfaceIndex: interfaceIndex, attributes: [(IFA_LOCAL, address.bytes)])
    }

    static func dumpRequest(sequence: UInt32, interfaceIndex: UInt32) -> [UInt8] {
        build(
            type: RTM_GETADDR, flags: NLM_F_REQUEST | NLM_F_DUMP, sequence: sequence, family: 0, prefixLength: 0,
            interfaceIndex: interfaceIndex, attributes: [])
    }

    /// One received datagram, split into messages.
    struct Parsed: Equatable {
        /// (index, address, prefix) of every RTM_NEWADDR in a dump.
        var addresses: [(index: UInt32, address: IPAddress, prefixLength: Int)] = []
        var done = false
        /// The errno of an NLMSG_ERROR (0 = acknowledgement).
        var error: Int32?
        var sequences: [UInt32] = []

        static func == (lhs: Parsed, rhs: Parsed) -> Bool {
            lhs.done == rhs.done && lhs.error == rhs.error && lhs.sequences == rhs.sequences
                && lhs.addresses.map { "\($0.index) \($0.address)/\($0.prefixLength)" }
                    == rhs.addresses.map { "\($0.index) \($0.address)/\($0.prefixLength)" }
        }
    }

    static func parse(_ data: some Collection<UInt8>) -> Parsed {
        let bytes = Array(data)
        var parsed = Parsed()
        var offset = 0
        while offset + 16 <= bytes.count {
            let length = Int(readLE32(bytes, offset))
            let type = readLE16(bytes, offset + 4)
            parsed.sequences.append(readLE32(bytes, offset + 8))
            guard length >= 16, offset + length <= bytes.count else { break }
            let payload = offset + 16
            switch type {
            case NLMSG_DONE:
                parsed.done = true
            case NLMSG_ERROR where length >= 20:
                parsed.error = -Int32(bitPattern: readLE32(bytes, payload))
            case RTM_NEWADDR where length >= 24:
                let family = bytes[payload]
                let prefix = Int(bytes[payload + 1])
                let index = readLE32(bytes, payload + 4)
                var local: [UInt8]?
                var address: [UInt8]?
                var attribute = payload + 8
                while attribute + 4 <= offset + length {
                    let attributeLength = Int(readLE16(bytes, attribute))
                    let kind = readLE16(bytes, attribute + 2)
                    guard attributeLength >= 4, attribute + attributeLength <= offset + length else { break }
                    let value = Array(bytes[(attribute + 4)..<(attribute + attributeLength)])
                    if kind == IFA_LOCAL { local = value }
                    if kind == IFA_ADDRESS { address = value }
                    attribute += (attributeLength + 3) & ~3
                }
                // IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on point-to-point links).
                if let raw = local ?? address, let parsedAddress = ipAddress(family: family, bytes: raw) {
                    parsed.addresses.append((index, parsedAddress, prefix))
                }
            default:
                break
            }
            offset += (length + 3) & ~3
        }
        return parsed
    }

    static func ipAddress(family: UInt8, bytes raw: [UInt8]) -> IPAddress? {
        if family == AF_INET, raw.count == 4 { return .v4(IPv4Address(raw[0], raw[1], raw[2], raw[3])) }
        if family == AF_INET6, let v6 = IPv6Address(bytes: raw) { return .v6(v6) }
        return nil
    }

    static func le16(_ value: UInt16) -> [UInt8] { [UInt8(truncatingIfNeeded: value), UInt8(value >> 8)] }
    static func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * UInt32($0))) } }
    static func readLE16(_ bytes: [UInt8], _ offset: Int) -> UInt16 { UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8 }
    static func readLE32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
    }
}
