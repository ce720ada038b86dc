import Foundation
import SFHABase

#if canImport(Glibc)
import Glibc
#endif

/// Duplicate-address detection before a VIP is first added here.
///
/// - IPv4: `arping -D -c probes -w waitSeconds -I IF VIP` (iputils): ARP probes from 0.0.0.0. Measured on Debian 12
///   (iputils 20221126): exit 0 = nobody answered; exit 1 = an answer ("Unicast reply from … [MAC]") — but exit 1
///   is also what it returns for a bad argument, and 2 for a missing device. So "in use" needs exit 1 *and* a
///   reply line; anything else unexpected is an error, never "free". `-w` takes whole seconds only, so a free
///   address costs about `waitSeconds`.
/// - IPv6: a neighbour solicitation for the VIP (to its solicited-node multicast group, hop limit 255, from the
///   interface's link-local address) on a raw ICMPv6 socket, then any neighbour advertisement for that target
///   within `ipv6Wait` means another machine holds it. (True RFC 4862 DAD from the unspecified address needs the
///   kernel's own DAD, which `nodad` skips on purpose.)
public struct SystemDuplicateAddressChecker: DuplicateAddressChecker {
    /// How IPv4 is checked.
    public enum IPv4Method: Sendable, Equatable {
        /// RFC 5227 ARP probes sent in-process on an AF_PACKET socket; any machine answering within `wait` holds the
        /// address. The default: a live host answers in microseconds, and the check stays off the failover path's
        /// critical seconds.
        case arpProbe(wait: Duration)
        /// `arping -D` (its wait is whole seconds only, so a free address costs at least 1 s).
        case arping
    }

    public var runner: any ProgramRunner
    public var namespace: NetworkNamespace
    public var probes: Int
    public var waitSeconds: Int
    public var ipv6Wait: Duration
    public var ipv4Method: IPv4Method

    public init(
        runner: any ProgramRunner = SystemProgramRunner(), namespace: NetworkNamespace = .current, probes: Int = 2,
        waitSeconds: Int = 1, ipv6Wait: Duration = .milliseconds(1000),
        ipv4Method: IPv4Method = .arpProbe(wait: .milliseconds(200))
    ) {
        self.runner = runner
        self.namespace = namespace
        self.probes = max(probes, 1)
        self.waitSeconds = max(waitSeconds, 1)
        self.ipv6Wait = ipv6Wait
        self.ipv4Method = ipv4Method
    }

    public func check(_ vip: VirtualIP) async throws(SFHAError) -> DuplicateCheckResult {
        try VIPValidation.validate(vip)
        switch vip.address {
        case .v4(let target):
            if case .arpProbe(let wait) = ipv4Method {
                let namespace = namespace
                let interface = vip.interface
                let probes = probes
                let outcome: Result<DuplicateCheckResult, SFHAError> = await withCheckedContinuation { continuation in
                    Thread.detachNewThread {
                        continuation.resume(returning: Result { () throws(SFHAError) -> DuplicateCheckResult in
                            try namespace.enterForThread()
                            return try ARPProbe.run(target: target, interface: interface, probes: probes, wait: wait)
                        })
                    }
                }
                return try outcome.get()
            }
            let arguments = ["-D", "-c", String(probes), "-w", String(waitSeconds), "-I", vip.interface, "\(vip.address)"]
            let result = try await runner.run("arping", arguments, timeout: .seconds(Int64(waitSeconds) + 5))
            return try Self.interpretArping(result, vip: vip)
        case .v6(let target):
            let namespace = namespace
            let wait = ipv6Wait
            let interface = vip.interface
            let outcome: Result<DuplicateCheckResult, SFHAError> = await withCheckedContinuation { continuation in
                // Blocking poll on its own thread (entering the namespace for good: the thread ends with the job).
                Thread.detachNewThread {
                    continuation.resume(returning: Result { () throws(SFHAError) -> DuplicateCheckResult in
                        try namespace.enterForThread()
                        return try NeighbourSolicitationProbe.run(target: target, interface: interface, wait: wait)
                    })
                }
            }
            return try outcome.get()
        }
    }

    /// Reads `arping -D` (see the type's documentation for the exit-status semantics).
    public static func interpretArping(_ result: ProgramResult, vip: VirtualIP) throws(SFHAError) -> DuplicateCheckResult {
        let replies = result.standardOutput.split(separator: "\n").filter { $0.contains("reply from") }
        if result.exitCode == 0 && !result.timedOut && replies.isEmpty { return .free }
        if result.exitCode == 1, let reply = replies.first {
            // "Unicast reply from 10.0.0.5 [52:54:00:12:34:56]  0.580ms"
            if let open = reply.firstIndex(of: "["), let close = reply[open...].firstIndex(of: "]") {
                return .inUse(by: reply[reply.index(after: open)..<close].lowercased())
            }
            return .inUse(by: "unknown link-layer address")
        }
        let detail = (result.standardError + result.standardOutput).trimmingCharacters(in: .whitespacesAndNewlines)
        throw SFHAError(
            .commandFailed,
            "duplicate-address check of \(vip.address) on \(vip.interface) failed: arping "
                + (result.timedOut ? "timed out" : "exited with status \(result.exitCode)") + (detail.isEmpty ? "" : ": \(detail)"))
    }
}


/// RFC 5227 ARP probe (blocking; run on a dedicated thread inside the node's namespace).
enum ARPProbe {
    static func run(target: IPv4Address, interface: String, probes: Int, wait: Duration) throws(SFHAError) -> DuplicateCheckResult {
        let fd = socket(AF_PACKET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(UInt16(0x0806).bigEndian))
        guard fd >= 0 else { throw SystemCall.error("opening an ARP socket") }
        defer { close(fd) }
        let info = try InterfaceInfo.query(interface, socket: fd)
        let packet = NeighbourPackets.arpProbe(hardwareAddress: info.hardwareAddress, address: target)
        let destination = NeighbourPackets.linkLayerBroadcast(interfaceIndex: info.index)
        let clock = ContinuousClock()
        let deadline = clock.now + wait
        // Probes are spread over the wait, so a single lost packet does not hide an owner.
        let spacing = wait / max(probes, 1)
        var nextProbe = clock.now
        var sent = 0
        var buffer = [UInt8](repeating: 0, count: 1500)
        while clock.now < deadline {
            if sent < probes && clock.now >= nextProbe {
                guard SystemCall.sendTo(fd, packet, address: destination) == packet.count else {
                    throw SystemCall.error("sending an ARP probe for \(target) on \(interface)")
                }
                sent += 1
                nextProbe = nextProbe + spacing
            }
            let until = sent < probes ? min(nextProbe, deadline) : deadline
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&entry, 1, max(1, SystemCall.milliseconds(until - clock.now)))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            guard count > 0 else { continue }
            if let owner = owner(Array(buffer[0..<count]), target: target, ownHardwareAddress: info.hardwareAddress) {
                return .inUse(by: owner)
            }
        }
        return .free
    }

    /// When `message` (an ARP packet without its Ethernet header) comes from a machine using `target` as its
    /// address — a reply, or its own request/announcement — that machine's hardware address.
    static func owner(_ message: [UInt8], target: IPv4Address, ownHardwareAddress: [UInt8]) -> String? {
        guard message.count >= 28, message[0] == 0, message[1] == 1, message[2] == 0x08, message[3] == 0,
              message[4] == 6, message[5] == 4
        else { return nil }
        let senderHardware = Array(message[8..<14])
        let senderProtocol = Array(message[14..<18])
        guard senderProtocol == target.bytes, senderHardware != ownHardwareAddress else { return nil }
        return formatMAC(senderHardware[...])
    }
}

/// Neighbour solicitation probe (blocking; run on a dedicated thread).
enum NeighbourSolicitationProbe {
    static func run(target: IPv6Address, interface: String, wait: Duration) throws(SFHAError) -> DuplicateCheckResult {
        let fd = socket(AF_INET6, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(IPPROTO_ICMPV6))
        guard fd >= 0 else { throw SystemCall.error("opening a raw ICMPv6 socket") }
        defer { close(fd) }
        let info = try InterfaceInfo.query(interface, socket: fd)
        try NeighbourPackets.prepareICMPv6(fd, interfaceIndex: info.index)
        let packet = NeighbourPackets.neighbourSolicitation(hardwareAddress: info.hardwareAddress, target: target)
        let destination = NeighbourPackets.socketAddress(NeighbourPackets.solicitedNode(target), interfaceIndex: info.index)
        guard SystemCall.sendTo(fd, packet, address: destination) == packet.count else {
            throw SystemCall.error("sending a neighbour solicitation for \(target) on \(interface)")
        }
        let clock = ContinuousClock()
        let deadline = clock.now + wait
        var buffer = [UInt8](repeating: 0, count: 1500)
        while clock.now < deadline {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&entry, 1, max(1, SystemCall.milliseconds(deadline - clock.now)))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { break }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            guard count > 0 else { continue }
            if let owner = advertisementOwner(Array(buffer[0..<count]), target: target) { return .inUse(by: owner) }
        }
        return .free
    }

    /// When `message` (an ICMPv6 message, as raw sockets deliver it) advertises `target`: the advertised
    /// link-layer address (or "unknown link-layer address").
    static func advertisementOwner(_ message: [UInt8], target: IPv6Address) -> String? {
        guard message.count >= 24, message[0] == 136, message[1] == 0,
              IPv6Address(bytes: message[8..<24]) == target
        else { return nil }
        var offset = 24
        while offset + 8 <= message.count {
            let length = Int(message[offset + 1]) * 8
            guard length > 0, offset + length <= message.count else { break }
            if message[offset] == 2 { return formatMAC(message[(offset + 2)..<(offset + 8)]) }
            offset += length
        }
        return "unknown link-layer address"
    }
}
