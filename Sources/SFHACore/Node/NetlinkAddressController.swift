import SFHABase
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Adds, removes and lists VIPs over rtnetlink (`RTM_NEWADDR` / `RTM_DELADDR` / `RTM_GETADDR` on an AF_NETLINK
/// socket): one round trip to the kernel per change, no program started, so a removal takes tens of microseconds.
///
/// The socket is opened on first use inside `namespace` and kept; calls are serialized on it. Blocking is bounded:
/// the kernel answers rtnetlink requests synchronously, and a 2 s receive timeout guards against the impossible.
public final class NetlinkAddressController: AddressController {
    private struct Session {
        var fd: Int32 = -1
        var sequence: UInt32 = UInt32.random(in: 1...1_000_000)
    }

    public let namespace: NetworkNamespace
    /// When set, VIPs are added as dynamic addresses with this lifetime (whole seconds, at least 1) and must be
    /// refreshed (`refreshLease`) before it runs out: a dead-man switch, so a VIP does not outlive a daemon that
    /// was killed or hangs. nil: permanent addresses.
    public let lease: Duration?
    private let session = Mutex(Session())

    public init(namespace: NetworkNamespace = .current, lease: Duration? = nil) {
        self.namespace = namespace
        self.lease = lease
    }

    private var leaseSeconds: UInt32? {
        lease.map { UInt32(clamping: max(1, $0.components.seconds + ($0.components.attoseconds > 0 ? 1 : 0))) }
    }

    deinit {
        session.withLock { if $0.fd >= 0 { close($0.fd) } }
    }

    public func addresses(on interface: String) async throws(SFHAError) -> [InterfaceAddress] {
        try locked { session throws(SFHAError) in try list(interface, in: &session) }
    }

    public func add(_ vip: VirtualIP) async throws(SFHAError) -> AddressChange {
        try VIPValidation.validate(vip)
        return try locked { session throws(SFHAError) -> AddressChange in
            let index = try interfaceIndex(vip.interface, in: &session)
            // Present already (with any prefix length): nothing to do. Checking first also keeps IPv4 from adding a
            // second copy of the address with another prefix length.
            if try list(vip.interface, in: &session).contains(where: { $0.address == vip.address }) { return .alreadyPresent }
            let error = try request(
                { NetlinkAddressMessage.addRequest(vip, interfaceIndex: UInt32(index), sequence: $0, lifetimeSeconds: leaseSeconds) },
                in: &session)
            switch error {
            case 0: return .added
            case EEXIST: return .alreadyPresent
            default: throw SystemCall.error("adding \(vip.cidr) to \(vip.interface) (RTM_NEWADDR)", errorNumber: error)
            }
        }
    }

    public func refreshLease(_ vip: VirtualIP) async throws(SFHAError) -> AddressChange {
        guard let seconds = leaseSeconds else { return .alreadyPresent }
        try VIPValidation.validate(vip)
        return try locked { session throws(SFHAError) -> AddressChange in
            let index = try interfaceIndex(vip.interface, in: &session)
            // IPv4 RTM_NEWADDR would re-create an expired address: refresh only what is still there.
            guard try list(vip.interface, in: &session).contains(where: { $0.address == vip.address }) else {
                return .alreadyAbsent
            }
            let error = try request(
                { NetlinkAddressMessage.refreshRequest(vip, interfaceIndex: UInt32(index), sequence: $0, lifetimeSeconds: seconds) },
                in: &session)
            switch error {
            case 0: return .alreadyPresent
            case ENOENT, EADDRNOTAVAIL, ESRCH: return .alreadyAbsent
            default: throw SystemCall.error("refreshing the lease of \(vip.cidr) on \(vip.interface)", errorNumber: error)
            }
        }
    }

    public func remove(_ vip: VirtualIP) async throws(SFHAError) -> AddressChange {
        try removeBlocking(vip).get()
    }

    /// `remove` without async: for the stall watchdog's thread, which must not depend on the concurrency pool.
    public func removeBlocking(_ vip: VirtualIP) -> Result<AddressChange, SFHAError> {
        Result { () throws(SFHAError) -> AddressChange in try removeNow(vip) }
    }

    private func removeNow(_ vip: VirtualIP) throws(SFHAError) -> AddressChange {
        try VIPValidation.validate(vip)
        return try locked { session throws(SFHAError) -> AddressChange in
            let index = try interfaceIndex(vip.interface, in: &session)
            // Fast path: one RTM_DELADDR for exactly this address.
            let error = try request(
                {
                    NetlinkAddressMessage.deleteRequest(
                        vip.address, prefixLength: vip.prefixLength, interfaceIndex: UInt32(index), sequence: $0)
                }, in: &session)
            if error == 0 { return .removed }
            guard error == EADDRNOTAVAIL || error == ENOENT || error == ESRCH || error == ENODEV else {
                throw SystemCall.error("removing \(vip.cidr) from \(vip.interface) (RTM_DELADDR)", errorNumber: error)
            }
            // Not found with this prefix length: IPv6 matches on it, so the address may sit there with another one.
            guard let other = try list(vip.interface, in: &session).first(where: { $0.address == vip.address }) else {
                return .alreadyAbsent
            }
            let retry = try request(
                {
                    NetlinkAddressMessage.deleteRequest(
                        vip.address, prefixLength: other.prefixLength, interfaceIndex: UInt32(index), sequence: $0)
                }, in: &session)
            if retry == 0 { return .removed }
            if retry == EADDRNOTAVAIL { return .alreadyAbsent }
            throw SystemCall.error("removing \(other) (RTM_DELADDR)", errorNumber: retry)
        }
    }

    // MARK: - Socket plumbing (all under the lock)

    private func locked<T>(_ body: (inout Session) throws(SFHAError) -> T) throws(SFHAError) -> T {
        try session.withLock { (session: inout Session) throws(SFHAError) -> T in
            if session.fd < 0 { session.fd = try openSocket() }
            do throws(SFHAError) {
                return try body(&session)
            } catch {
                // A broken socket (not a kernel refusal) is replaced on the next call.
                if error.code == .io, error.message.contains("netlink socket") {
                    close(session.fd)
                    session.fd = -1
                }
                throw error
            }
        }
    }

    private func openSocket() throws(SFHAError) -> Int32 {
        let fd = try namespace.socket(AF_NETLINK, Int32(SOCK_RAW.rawValue), 0 /* NETLINK_ROUTE */)
        SystemCall.setReceiveTimeout(fd, .seconds(2))
        _ = SystemCall.setOption(fd, SOL_SOCKET, SO_RCVBUF, 1 << 20)
        return fd
    }

    private func interfaceIndex(_ interface: String, in session: inout Session) throws(SFHAError) -> Int32 {
        try InterfaceInfo.query(interface, socket: session.fd, needHardwareAddress: false).index
    }

    private func send(_ message: [UInt8], fd: Int32) throws(SFHAError) {
        // struct sockaddr_nl of the kernel: family, padding, port id 0, no groups.
        let kernel = NetlinkAddressMessage.le16(UInt16(AF_NETLINK)) + [UInt8](repeating: 0, count: 10)
        let sent = SystemCall.sendTo(fd, message, address: kernel)
        guard sent == message.count else { throw SystemCall.error("sending on the netlink socket") }
    }

    private func receive(fd: Int32) throws(SFHAError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw SystemCall.error("receiving on the netlink socket") }
            return Array(buffer[0..<count])
        }
    }

    /// Sends one acknowledged request; returns its errno (0 = success).
    private func request(_ build: (UInt32) -> [UInt8], in session: inout Session) throws(SFHAError) -> Int32 {
        session.sequence &+= 1
        let sequence = session.sequence
        try send(build(sequence), fd: session.fd)
        while true {
            let parsed = NetlinkAddressMessage.parse(try receive(fd: session.fd))
            // Answers to other (older, abandoned) sequences are skipped.
            if parsed.sequences.contains(sequence), let error = parsed.error { return error }
        }
    }

    private func list(_ interface: String, in session: inout Session) throws(SFHAError) -> [InterfaceAddress] {
        let index = try interfaceIndex(interface, in: &session)
        session.sequence &+= 1
        let sequence = session.sequence
        try send(NetlinkAddressMessage.dumpRequest(sequence: sequence, interfaceIndex: UInt32(index)), fd: session.fd)
        var result: [InterfaceAddress] = []
        while true {
            let parsed = NetlinkAddressMessage.parse(try receive(fd: session.fd))
            guard parsed.sequences.contains(sequence) else { continue }
            if let error = parsed.error, error != 0 {
                throw SystemCall.error("listing the addresses of \(interface) (RTM_GETADDR)", errorNumber: error)
            }
            for entry in parsed.addresses where entry.index == UInt32(index) {
                result.append(InterfaceAddress(address: entry.address, prefixLength: entry.prefixLength, interface: interface))
            }
            if parsed.done { return result }
        }
    }
}

/// Checks a VIP before any real effect sees it.
public enum VIPValidation {
    public static func validate(_ vip: VirtualIP) throws(SFHAError) {
        try InterfaceName.validate(vip.interface)
        guard (1...vip.address.maximumPrefixLength).contains(vip.prefixLength) else {
            throw SFHAError(.invalidArgument, "\(vip): prefix length must be 1-\(vip.address.maximumPrefixLength)")
        }
        let usable: Bool
        switch vip.address {
        case .v4(let v4): usable = !(v4.isUnspecified || v4.isLoopback || v4.isMulticast || v4.isLimitedBroadcast)
        case .v6(let v6): usable = !(v6.isUnspecified || v6.isLoopback || v6.isMulticast || v6.isIPv4Mapped)
        }
        guard usable else {
            throw SFHAError(.invalidArgument, "\(vip): \(vip.address) cannot be a VIP (unspecified, loopback or multicast)")
        }
    }
}
