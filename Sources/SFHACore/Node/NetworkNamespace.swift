import SFHABase
import CSFHAShim

#if canImport(Glibc)
import Glibc
#endif

/// The network namespace the real effects act in.
///
/// Sockets belong to the namespace of the thread that created them. `.path` lets one process act on another
/// namespace (the lab's nodes, tests, the benchmark): the calling thread enters the namespace only while a socket
/// is created, then returns to its own; the socket keeps the namespace. Programs (`arping`, `systemctl`) are not
/// affected: give them a `ProgramRunner` that runs them inside the namespace.
public enum NetworkNamespace: Sendable, Hashable, CustomStringConvertible {
    /// The process's own namespace (the daemon's normal case).
    case current
    /// The namespace bound at `path`, e.g. `/run/netns/lt-vip-node1`.
    case path(String)

    /// The namespace `ip netns add NAME` created.
    public static func named(_ name: String) -> NetworkNamespace { .path("/run/netns/\(name)") }

    public var description: String {
        switch self {
        case .current: "current network namespace"
        case .path(let path): "network namespace \(path)"
        }
    }

    /// Runs `body` (synchronous: the thread must not change) with the calling thread inside the namespace.
    func enter<T>(_ body: () throws(SFHAError) -> T) throws(SFHAError) -> T {
        guard case .path(let path) = self else { return try body() }
        let original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard original >= 0 else { throw SystemCall.error("open /proc/thread-self/ns/net") }
        defer { close(original) }
        let target = open(path, O_RDONLY | O_CLOEXEC)
        guard target >= 0 else { throw SystemCall.error("open \(path)", code: .notFound) }
        defer { close(target) }
        guard sfha_setns_network(target) == 0 else { throw SystemCall.error("setns \(path)", code: .unauthorized) }
        defer {
            // A thread left in the wrong namespace would silently act on another machine: stop instead.
            if sfha_setns_network(original) != 0 { abort() }
        }
        return try body()
    }

    /// Enters the namespace for good on the calling thread (a thread created for one blocking job only).
    func enterForThread() throws(SFHAError) {
        guard case .path(let path) = self else { return }
        let target = open(path, O_RDONLY | O_CLOEXEC)
        guard target >= 0 else { throw SystemCall.error("open \(path)", code: .notFound) }
        defer { close(target) }
        guard sfha_setns_network(target) == 0 else { throw SystemCall.error("setns \(path)", code: .unauthorized) }
    }

    /// A socket created inside the namespace (close-on-exec).
    func socket(_ domain: Int32, _ type: Int32, _ protocolNumber: Int32) throws(SFHAError) -> Int32 {
        try enter { () throws(SFHAError) -> Int32 in
            let fd = Glibc.socket(domain, type | Int32(SOCK_CLOEXEC.rawValue), protocolNumber)
            guard fd >= 0 else { throw SystemCall.error("socket(\(domain), \(type), \(protocolNumber))") }
            return fd
        }
    }
}

/// Small helpers around Glibc calls.
enum SystemCall {
    static func error(_ what: String, code: SFHAError.Code = .io, errorNumber: Int32 = errno) -> SFHAError {
        SFHAError(code, "\(what) failed: \(String(cString: strerror(errorNumber))) (errno \(errorNumber))")
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) -> Bool {
        var value = value
        return setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) == 0
    }

    static func setReceiveTimeout(_ fd: Int32, _ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// `sendto` with a socket address given as its raw bytes (sockaddr_nl, sockaddr_ll, sockaddr_in6).
    static func sendTo(_ fd: Int32, _ message: [UInt8], address: [UInt8]) -> Int {
        message.withUnsafeBytes { buffer in
            address.withUnsafeBytes { raw in
                sendto(
                    fd, buffer.baseAddress, buffer.count, 0, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self),
                    socklen_t(address.count))
            }
        }
    }

    static func milliseconds(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        return Int32(clamping: max(0, seconds * 1000 + attoseconds / 1_000_000_000_000_000))
    }
}

/// Interface names as the kernel accepts them: 1–15 bytes, no `/`, `:`, whitespace or NUL, not `.`/`..`.
public enum InterfaceName {
    public static func validate(_ name: String) throws(SFHAError) {
        let bytes = Array(name.utf8)
        let forbidden: Set<UInt8> = [UInt8(ascii: "/"), UInt8(ascii: ":"), 0]
        guard (1...15).contains(bytes.count), name != ".", name != "..",
              bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f && !forbidden.contains($0) })
        else {
            throw SFHAError(.invalidArgument, "'\(name)' is not a valid interface name (1-15 printable characters, no '/' or ':')")
        }
    }
}

/// What the kernel says about an interface (asked on a socket of the right namespace).
struct InterfaceInfo: Sendable, Equatable {
    var index: Int32
    /// The hardware address (6 bytes on Ethernet).
    var hardwareAddress: [UInt8]

    private static let SIOCGIFINDEX: UInt = 0x8933
    private static let SIOCGIFHWADDR: UInt = 0x8927

    /// `ioctl`s on `fd` (any socket of the namespace the interface lives in).
    static func query(_ name: String, socket fd: Int32, needHardwareAddress: Bool = true) throws(SFHAError) -> InterfaceInfo {
        try InterfaceName.validate(name)
        var request = [UInt8](repeating: 0, count: 40)  // struct ifreq
        for (offset, byte) in name.utf8.enumerated() { request[offset] = byte }
        let indexResult = request.withUnsafeMutableBytes { ioctl(fd, SIOCGIFINDEX, $0.baseAddress!) }
        guard indexResult == 0 else {
            throw SystemCall.error("looking up interface \(name)", code: .notFound)
        }
        let index = request.withUnsafeBytes { $0.load(fromByteOffset: 16, as: Int32.self) }
        guard needHardwareAddress else { return InterfaceInfo(index: index, hardwareAddress: []) }
        let hwResult = request.withUnsafeMutableBytes { ioctl(fd, SIOCGIFHWADDR, $0.baseAddress!) }
        guard hwResult == 0 else { throw SystemCall.error("reading the hardware address of \(name)") }
        return InterfaceInfo(index: index, hardwareAddress: Array(request[18..<24]))
    }
}

/// `aa:bb:cc:dd:ee:ff`.
func formatMAC(_ bytes: some Collection<UInt8>) -> String {
    bytes.map { byte in
        let text = String(byte, radix: 16)
        return text.count == 1 ? "0" + text : text
    }.joined(separator: ":")
}

extension IPv4Address {
    /// Network byte order.
    var bytes: [UInt8] { octets }
}

extension IPv6Address {
    /// Network byte order.
    var bytes: [UInt8] {
        var result: [UInt8] = []
        for half in [high, low] {
            for shift in stride(from: 56, through: 0, by: -8) { result.append(UInt8(truncatingIfNeeded: half >> UInt64(shift))) }
        }
        return result
    }

    init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        let array = Array(bytes)
        var high: UInt64 = 0
        var low: UInt64 = 0
        for i in 0..<8 { high = high << 8 | UInt64(array[i]) }
        for i in 8..<16 { low = low << 8 | UInt64(array[i]) }
        self.init(high: high, low: low)
    }
}

extension IPAddress {
    var bytes: [UInt8] {
        switch self {
        case .v4(let address): address.bytes
        case .v6(let address): address.bytes
        }
    }
}
