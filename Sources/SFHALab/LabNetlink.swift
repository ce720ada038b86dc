import Foundation
import SFHABase
import Synchronization
internal import CSFHAShim

#if canImport(Glibc)
import Glibc
#endif

/// The lab's own small rtnetlink reader: which addresses an interface of a lab host has, read from the calling
/// process through a socket opened inside the host's network namespace (no program started, tens of µs per read),
/// and address changes as the kernel announces them. SFHALab does not depend on SFHACore, whose address controller
/// changes addresses; the lab only observes them, so it needs this reading half only.
enum RouteNetlink {
    static let getAddress: UInt16 = 22  // RTM_GETADDR
    static let newAddress: UInt16 = 20  // RTM_NEWADDR
    static let deleteAddress: UInt16 = 21  // RTM_DELADDR
    static let done: UInt16 = 3  // NLMSG_DONE
    static let error: UInt16 = 2  // NLMSG_ERROR
    static let addressAttribute: UInt16 = 1  // IFA_ADDRESS
    static let localAttribute: UInt16 = 2  // IFA_LOCAL
    /// RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR: the multicast groups announcing address changes.
    static let addressGroups: UInt32 = 0x10 | 0x100

    struct AddressEntry: Equatable {
        var added: Bool
        var interfaceIndex: UInt32
        var address: String
    }

    struct Parsed {
        var entries: [AddressEntry] = []
        var sequences: Set<UInt32> = []
        var done = false
        var errorNumber: Int32?
    }

    /// A socket of `namespacePath`'s network namespace (the calling thread enters it only for the `socket` call)
    /// plus the index of `interface` there. `groups` subscribes it to address announcements.
    static func open(namespacePath: String, interface: String, groups: UInt32) throws(SFHAError) -> (fd: Int32, index: UInt32) {
        let original = Glibc.open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard original >= 0 else { throw systemError("open /proc/thread-self/ns/net") }
        defer { close(original) }
        let target = Glibc.open(namespacePath, O_RDONLY | O_CLOEXEC)
        guard target >= 0 else { throw systemError("open \(namespacePath)", code: .notFound) }
        defer { close(target) }
        guard sfha_setns_network(target) == 0 else { throw systemError("setns \(namespacePath)", code: .unauthorized) }
        defer {
            // A thread left in a lab host's namespace would silently observe the wrong machine: stop instead.
            if sfha_setns_network(original) != 0 { abort() }
        }
        let index = if_nametoindex(interface)
        guard index != 0 else { throw systemError("interface \(interface) in \(namespacePath)", code: .notFound) }
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0 /* NETLINK_ROUTE */)
        guard fd >= 0 else { throw systemError("netlink socket in \(namespacePath)") }
        // struct sockaddr_nl: family, padding, port id 0 (the kernel picks one), multicast groups.
        let local = le16(UInt16(AF_NETLINK)) + [0, 0] + le32(0) + le32(groups)
        let bound = local.withUnsafeBytes { raw in
            bind(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(local.count))
        }
        guard bound == 0 else {
            let error = systemError("binding the netlink socket in \(namespacePath)")
            close(fd)
            throw error
        }
        return (fd, index)
    }

    static func dumpRequest(sequence: UInt32) -> [UInt8] {
        // nlmsghdr (16 bytes) + ifaddrmsg (8 bytes, family AF_UNSPEC: every family).
        let flags: UInt16 = 0x1 | 0x300  // NLM_F_REQUEST | NLM_F_DUMP
        return le32(24) + le16(getAddress) + le16(flags) + le32(sequence) + le32(0) + [UInt8](repeating: 0, count: 8)
    }

    static func parse(_ bytes: [UInt8]) -> Parsed {
        var parsed = Parsed()
        var offset = 0
        while offset + 16 <= bytes.count {
            let length = Int(u32(bytes, offset))
            guard length >= 16, offset + length <= bytes.count else { break }
            let type = u16(bytes, offset + 4)
            parsed.sequences.insert(u32(bytes, offset + 8))
            let body = offset + 16
            switch type {
            case done:
                parsed.done = true
            case error:
                if length >= 20 { parsed.errorNumber = -Int32(bitPattern: u32(bytes, body)) }
            case newAddress, deleteAddress:
                if length >= 24, let entry = addressEntry(bytes, body: body, end: offset + length, added: type == newAddress) {
                    parsed.entries.append(entry)
                }
            default:
                break
            }
            offset += (length + 3) & ~3
        }
        return parsed
    }

    /// An ifaddrmsg and its attributes: IFA_LOCAL is the interface's own address (IPv4); IFA_ADDRESS is used when
    /// there is no IFA_LOCAL (IPv6).
    private static func addressEntry(_ bytes: [UInt8], body: Int, end: Int, added: Bool) -> AddressEntry? {
        let family = Int32(bytes[body])
        let index = u32(bytes, body + 4)
        var local: [UInt8]?
        var address: [UInt8]?
        var offset = body + 8
        while offset + 4 <= end {
            let length = Int(u16(bytes, offset))
            guard length >= 4, offset + length <= end else { break }
            let type = u16(bytes, offset + 2)
            let data = Array(bytes[(offset + 4)..<(offset + length)])
            if type == localAttribute { local = data } else if type == addressAttribute { address = data }
            offset += (length + 3) & ~3
        }
        guard let raw = local ?? address, let text = format(raw, family: family) else { return nil }
        return AddressEntry(added: added, interfaceIndex: index, address: text)
    }

    private static func format(_ raw: [UInt8], family: Int32) -> String? {
        guard (family == AF_INET && raw.count == 4) || (family == AF_INET6 && raw.count == 16) else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let converted = raw.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &text, socklen_t(text.count)) }
        guard converted != nil else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func systemError(_ what: String, code: SFHAError.Code = .io, errorNumber: Int32 = errno) -> SFHAError {
        SFHAError(code, "\(what) failed: \(String(cString: strerror(errorNumber))) (errno \(errorNumber))")
    }

    static func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xff), UInt8(value >> 8)] }
    static func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8((value >> (8 * $0)) & 0xff) } }
    static func u16(_ bytes: [UInt8], _ offset: Int) -> UInt16 { UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8 }
    static func u32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
    }
}

/// Reads the addresses of one interface of one lab host on demand (an RTM_GETADDR dump per call).
public final class LabAddressReader: Sendable {
    private struct Session {
        var fd: Int32
        var sequence: UInt32 = 0
    }
    public let namespacePath: String
    public let interface: String
    private let interfaceIndex: UInt32
    private let session: Mutex<Session>

    /// Opens the reader's socket in `namespacePath` (e.g. `/run/netns/lab-node1`).
    public init(namespacePath: String, interface: String = "eth0") throws(SFHAError) {
        let (fd, index) = try RouteNetlink.open(namespacePath: namespacePath, interface: interface, groups: 0)
        // The kernel answers a dump at once; the timeout only keeps a broken socket from hanging a reader.
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        self.namespacePath = namespacePath
        self.interface = interface
        self.interfaceIndex = index
        self.session = Mutex(Session(fd: fd))
    }

    deinit {
        _ = session.withLock { close($0.fd) }
    }

    /// The interface's addresses now, as text ("10.231.7.100", "fe80::1").
    public func addresses() throws(SFHAError) -> Set<String> {
        try session.withLock { (session: inout Session) throws(SFHAError) -> Set<String> in
            session.sequence &+= 1
            let sequence = session.sequence
            let request = RouteNetlink.dumpRequest(sequence: sequence)
            let kernel = RouteNetlink.le16(UInt16(AF_NETLINK)) + [UInt8](repeating: 0, count: 10)
            let sent = request.withUnsafeBytes { buffer in
                kernel.withUnsafeBytes { raw in
                    sendto(
                        session.fd, buffer.baseAddress, buffer.count, 0,
                        raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(kernel.count))
                }
            }
            guard sent == request.count else { throw RouteNetlink.systemError("sending an RTM_GETADDR dump") }
            var found = Set<String>()
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(session.fd, $0.baseAddress, $0.count, 0) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { throw RouteNetlink.systemError("reading an RTM_GETADDR dump") }
                let parsed = RouteNetlink.parse(Array(buffer[0..<count]))
                // Replies to an abandoned earlier dump (after a timeout) carry another sequence number.
                guard parsed.sequences.contains(sequence) else { continue }
                if let error = parsed.errorNumber, error != 0 {
                    throw RouteNetlink.systemError("RTM_GETADDR dump", errorNumber: error)
                }
                for entry in parsed.entries where entry.interfaceIndex == interfaceIndex { found.insert(entry.address) }
                if parsed.done { return found }
            }
        }
    }
}

/// Follows the kernel's address announcements (RTM_NEWADDR / RTM_DELADDR) for one interface of one lab host on
/// a thread of its own, stamping each with `LabClock.now()` the moment it is read: this is how the lab times when
/// a VIP appears or disappears to the millisecond, without polling.
///
/// A lease refresh is announced as RTM_NEWADDR too; `onChange` is called only when an address's presence changes.
public final class LabAddressEvents: Sendable {
    public struct Change: Sendable, Equatable {
        public var time: UInt64
        public var address: String
        public var present: Bool
    }

    private struct State {
        var present: Set<String>
        var stopped = false
    }

    public let namespacePath: String
    public let interface: String
    private let state: Mutex<State>
    private let fd: Int32
    private let interfaceIndex: UInt32
    private let onChange: @Sendable (Change) -> Void

    /// Subscribes first, then reads the current addresses, so no change falls in between.
    public init(
        namespacePath: String, interface: String = "eth0", onChange: @escaping @Sendable (Change) -> Void
    ) throws(SFHAError) {
        let (fd, index) = try RouteNetlink.open(
            namespacePath: namespacePath, interface: interface, groups: RouteNetlink.addressGroups)
        // The reading thread wakes this often to notice `stop()`.
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var size: Int32 = 1 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        let initial: Set<String>
        do {
            initial = try LabAddressReader(namespacePath: namespacePath, interface: interface).addresses()
        } catch {
            close(fd)
            throw error
        }
        self.namespacePath = namespacePath
        self.interface = interface
        self.fd = fd
        self.interfaceIndex = index
        self.onChange = onChange
        self.state = Mutex(State(present: initial))
        let thread = Thread { [self] in self.readLoop() }
        thread.name = "lab-address-events"
        thread.start()
    }

    /// The addresses present as of the last announcement read.
    public var present: Set<String> { state.withLock { $0.present } }

    /// Stops the reading thread (within ~100 ms) and closes the socket.
    public func stop() {
        state.withLock { $0.stopped = true }
    }

    private func readLoop() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !state.withLock({ $0.stopped }) {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            let time = LabClock.now()
            if count < 0 {
                if errno == ENOBUFS { resynchronize(time: time) }
                continue  // EAGAIN (the stop check timeout) or EINTR
            }
            guard count > 0 else { continue }
            for entry in RouteNetlink.parse(Array(buffer[0..<count])).entries where entry.interfaceIndex == interfaceIndex {
                apply(address: entry.address, present: entry.added, time: time)
            }
        }
        close(fd)
    }

    /// After a receive-buffer overflow announcements were lost: compare with a fresh dump instead.
    private func resynchronize(time: UInt64) {
        guard let now = try? LabAddressReader(namespacePath: namespacePath, interface: interface).addresses() else { return }
        let before = present
        for address in now.subtracting(before) { apply(address: address, present: true, time: time) }
        for address in before.subtracting(now) { apply(address: address, present: false, time: time) }
    }

    private func apply(address: String, present: Bool, time: UInt64) {
        let changed = state.withLock { state in
            present ? state.present.insert(address).inserted : state.present.remove(address) != nil
        }
        if changed { onChange(Change(time: time, address: address, present: present)) }
    }
}
