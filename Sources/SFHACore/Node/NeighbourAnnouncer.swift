import SFHABase
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Announces VIPs with packets it builds itself: IPv4 gratuitous ARP requests on an AF_PACKET socket, IPv6
/// unsolicited neighbour advertisements (Override flag, target link-layer address) on a raw ICMPv6 socket to
/// ff02::1. The first packet leaves before `announce` returns (no program to start: tens of microseconds after the
/// address was added); the rest of `policy.schedule` follows on a background task.
public final class RawSocketNeighbourAnnouncer: NeighbourAnnouncer {
    public let namespace: NetworkNamespace
    public let policy: AnnouncementPolicy
    private struct Running {
        var id: UInt64
        var task: Task<Void, Never>
    }
    private let schedules = Mutex<(next: UInt64, running: [IPAddress: Running])>((0, [:]))

    public init(namespace: NetworkNamespace = .current, policy: AnnouncementPolicy = .default) {
        self.namespace = namespace
        self.policy = policy
    }

    public func announce(_ vip: VirtualIP) async throws(SFHAError) -> Announcement {
        try VIPValidation.validate(vip)
        let sender = try NeighbourPacketSender(namespace: namespace, vip: vip)
        try sender.send()
        let first = ContinuousClock.now
        let offsets = Array(policy.schedule.dropFirst())
        schedules.withLock { state in
            state.next += 1
            let id = state.next
            state.running[vip.address]?.task.cancel()
            guard !offsets.isEmpty else {
                state.running[vip.address] = nil
                return
            }
            let task = Task { [weak self] in
                for offset in offsets {
                    do {
                        try await Task.sleep(until: first + offset, clock: .continuous)
                    } catch {
                        break
                    }
                    if Task.isCancelled { break }
                    try? sender.send()
                }
                self?.finished(vip.address, id: id)
            }
            state.running[vip.address] = Running(id: id, task: task)
        }
        return Announcement(vip: vip, firstSentAt: first, plannedPackets: offsets.count + 1)
    }

    public func cancel(_ vip: VirtualIP) async {
        schedules.withLock { state in
            state.running.removeValue(forKey: vip.address)?.task.cancel()
        }
    }

    /// Addresses whose schedule still runs.
    public var announcing: Set<IPAddress> { schedules.withLock { Set($0.running.keys) } }

    private func finished(_ address: IPAddress, id: UInt64) {
        schedules.withLock { state in
            if state.running[address]?.id == id { state.running[address] = nil }
        }
    }
}

/// One open socket and the packet it repeats.
final class NeighbourPacketSender: Sendable {
    let fd: Int32
    let packet: [UInt8]
    let destination: [UInt8]
    let vip: VirtualIP

    init(namespace: NetworkNamespace, vip: VirtualIP) throws(SFHAError) {
        self.vip = vip
        switch vip.address {
        case .v4(let address):
            let fd = try namespace.socket(AF_PACKET, Int32(SOCK_DGRAM.rawValue), Int32(UInt16(0x0806).bigEndian))
            do throws(SFHAError) {
                let info = try InterfaceInfo.query(vip.interface, socket: fd)
                packet = NeighbourPackets.gratuitousARP(hardwareAddress: info.hardwareAddress, address: address)
                destination = NeighbourPackets.linkLayerBroadcast(interfaceIndex: info.index)
            } catch {
                close(fd)
                throw error
            }
            self.fd = fd
        case .v6(let address):
            let fd = try namespace.socket(AF_INET6, Int32(SOCK_RAW.rawValue), Int32(IPPROTO_ICMPV6))
            do throws(SFHAError) {
                let info = try InterfaceInfo.query(vip.interface, socket: fd)
                try NeighbourPackets.prepareICMPv6(fd, interfaceIndex: info.index)
                packet = NeighbourPackets.neighbourAdvertisement(hardwareAddress: info.hardwareAddress, target: address)
                destination = NeighbourPackets.socketAddress(NeighbourPackets.allNodes, interfaceIndex: info.index)
            } catch {
                close(fd)
                throw error
            }
            self.fd = fd
        }
    }

    deinit { close(fd) }

    func send() throws(SFHAError) {
        let sent = SystemCall.sendTo(fd, packet, address: destination)
        guard sent == packet.count else {
            throw SystemCall.error("sending the announcement of \(vip.address) on \(vip.interface)")
        }
    }
}

/// The packets, byte for byte.
enum NeighbourPackets {
    /// ARP request (RFC 5227 announcement): sender and target protocol address both the VIP, target hardware
    /// address broadcast (as iputils `arping -U` and keepalived send it).
    static func gratuitousARP(hardwareAddress mac: [UInt8], address: IPv4Address) -> [UInt8] {
        [0, 1, 0x08, 0x00, 6, 4, 0, 1] + mac + address.bytes + [UInt8](repeating: 0xff, count: 6) + address.bytes
    }

    /// ARP probe (RFC 5227 §2.1.1): sender protocol address 0.0.0.0, target the address in question.
    static func arpProbe(hardwareAddress mac: [UInt8], address: IPv4Address) -> [UInt8] {
        [0, 1, 0x08, 0x00, 6, 4, 0, 1] + mac + [0, 0, 0, 0] + [UInt8](repeating: 0, count: 6) + address.bytes
    }

    /// Unsolicited neighbour advertisement (RFC 4861 §7.2.6): Override set, Solicited and Router clear, target
    /// link-layer address option. The kernel fills in the checksum on raw ICMPv6 sockets.
    static func neighbourAdvertisement(hardwareAddress mac: [UInt8], target: IPv6Address) -> [UInt8] {
        [136, 0, 0, 0, 0x20, 0, 0, 0] + target.bytes + [2, 1] + mac
    }

    /// Neighbour solicitation for `target` with our source link-layer address.
    static func neighbourSolicitation(hardwareAddress mac: [UInt8], target: IPv6Address) -> [UInt8] {
        [135, 0, 0, 0, 0, 0, 0, 0] + target.bytes + [1, 1] + mac
    }

    static let allNodes = IPv6Address(high: 0xff02_0000_0000_0000, low: 1)

    /// ff02::1:ffXX:XXXX.
    static func solicitedNode(_ target: IPv6Address) -> IPv6Address {
        IPv6Address(high: 0xff02_0000_0000_0000, low: 0x0000_0001_ff00_0000 | (target.low & 0x00ff_ffff))
    }

    /// struct sockaddr_ll for the Ethernet broadcast address on `interfaceIndex` (ETH_P_ARP).
    static func linkLayerBroadcast(interfaceIndex: Int32) -> [UInt8] {
        var address = NetlinkAddressMessage.le16(UInt16(AF_PACKET)) + [0x08, 0x06]
        address += withUnsafeBytes(of: interfaceIndex) { Array($0) }
        address += [0, 0, 0, 6] + [UInt8](repeating: 0xff, count: 6) + [0, 0]
        return address
    }

    /// struct sockaddr_in6 with a scope (interface) id.
    static func socketAddress(_ address: IPv6Address, interfaceIndex: Int32) -> [UInt8] {
        NetlinkAddressMessage.le16(UInt16(AF_INET6)) + [0, 0, 0, 0, 0, 0] + address.bytes
            + withUnsafeBytes(of: UInt32(bitPattern: interfaceIndex)) { Array($0) }
    }

    /// Hop limit 255 (RFC 4861 receivers drop anything else) and the outgoing interface.
    static func prepareICMPv6(_ fd: Int32, interfaceIndex: Int32) throws(SFHAError) {
        let IPV6_UNICAST_HOPS: Int32 = 16
        let IPV6_MULTICAST_IF: Int32 = 17
        let IPV6_MULTICAST_HOPS: Int32 = 18
        let IPV6_MULTICAST_LOOP: Int32 = 19
        let level = Int32(IPPROTO_IPV6)
        guard SystemCall.setOption(fd, level, IPV6_MULTICAST_HOPS, 255),
              SystemCall.setOption(fd, level, IPV6_UNICAST_HOPS, 255),
              SystemCall.setOption(fd, level, IPV6_MULTICAST_IF, interfaceIndex),
              SystemCall.setOption(fd, level, IPV6_MULTICAST_LOOP, 0)
        else { throw SystemCall.error("configuring the ICMPv6 socket") }
    }
}
