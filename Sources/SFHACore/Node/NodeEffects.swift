import SFHABase

// The local effects a node has on its machine: addresses, neighbour announcements, duplicate-address checks,
// systemd units and health probes. Each is a protocol with a real implementation and a public fake
// (`Fake*`, in NodeFakes.swift) so the reconciler, the simulator and the tests share the same seams.

/// One address configured on an interface.
public struct InterfaceAddress: Sendable, Hashable, CustomStringConvertible {
    public var address: IPAddress
    public var prefixLength: Int
    /// The interface's name (`eth0`).
    public var interface: String

    public init(address: IPAddress, prefixLength: Int, interface: String) {
        self.address = address
        self.prefixLength = prefixLength
        self.interface = interface
    }

    public var description: String { "\(address)/\(prefixLength) dev \(interface)" }
}

/// What `add` or `remove` did. Both are idempotent: adding a present address or removing an absent one succeeds.
public enum AddressChange: Sendable, Equatable, CustomStringConvertible {
    case added
    case alreadyPresent
    case removed
    case alreadyAbsent

    /// True when the call changed the machine.
    public var changed: Bool { self == .added || self == .removed }

    public var description: String {
        switch self {
        case .added: "added"
        case .alreadyPresent: "already present"
        case .removed: "removed"
        case .alreadyAbsent: "already absent"
        }
    }
}

/// Lists, adds and removes the exact addresses sfha owns. Implementations never touch any other address.
public protocol AddressController: Sendable {
    /// Every address on `interface` (IPv4 and IPv6), parsed exactly.
    func addresses(on interface: String) async throws(SFHAError) -> [InterfaceAddress]
    /// Adds the VIP (`nodad` for IPv6, so it is usable at once). Present already (with any prefix length): success.
    func add(_ vip: VirtualIP) async throws(SFHAError) -> AddressChange
    /// Removes exactly the VIP's address from its interface. Absent: success.
    func remove(_ vip: VirtualIP) async throws(SFHAError) -> AddressChange
    /// Extends the lifetime of a VIP added with a lease (see `NetlinkAddressController(lease:)`). Controllers
    /// without leases have nothing to refresh. Returns `.alreadyAbsent` when the address is gone (its lease ran out).
    func refreshLease(_ vip: VirtualIP) async throws(SFHAError) -> AddressChange
    /// The names of this machine's network interfaces (what a VIP's `interface` may name here).
    func interfaceNames() async throws(SFHAError) -> [String]
}

extension AddressController {
    /// The interfaces of the calling process's network namespace (`if_nameindex`): sfhad's own.
    public func interfaceNames() async throws(SFHAError) -> [String] { try SystemInterfaces.names() }

    public func refreshLease(_ vip: VirtualIP) async throws(SFHAError) -> AddressChange { .alreadyPresent }

    /// Whether the VIP's exact address is on its interface (any prefix length): `10.0.0.1` is not `10.0.0.10`.
    public func isPresent(_ vip: VirtualIP) async throws(SFHAError) -> Bool {
        try await addresses(on: vip.interface).contains { $0.address == vip.address }
    }
}

/// How a VIP is announced to its link: a first packet at once, the rest of a burst, then a repeat burst later
/// (keepalived: 5 GARPs, then 5 more after 5 s).
public struct AnnouncementPolicy: Sendable, Equatable, CustomStringConvertible {
    /// Packets in the first burst, the first one included (at least 3).
    public var burstCount: Int
    /// Spacing between the packets of a burst.
    public var burstInterval: Duration
    /// Delay from the first packet to the repeat burst; nil for no repeat.
    public var repeatDelay: Duration?
    /// Packets in the repeat burst.
    public var repeatCount: Int

    public static let `default` = AnnouncementPolicy(
        burstCount: 5, burstInterval: .milliseconds(20), repeatDelay: .seconds(5), repeatCount: 5)

    public init(burstCount: Int, burstInterval: Duration, repeatDelay: Duration?, repeatCount: Int) {
        self.burstCount = max(burstCount, 1)
        self.burstInterval = burstInterval
        self.repeatDelay = repeatDelay
        self.repeatCount = max(repeatCount, 0)
    }

    /// Offsets from the first packet of every packet, in order (the first is zero).
    public var schedule: [Duration] {
        var offsets = (0..<burstCount).map { burstInterval * $0 }
        if let repeatDelay {
            offsets += (0..<repeatCount).map { repeatDelay + burstInterval * $0 }
        }
        return offsets
    }

    public var description: String {
        "\(burstCount) packets every \(burstInterval)" + (repeatDelay.map { ", \(repeatCount) more after \($0)" } ?? "")
    }
}

/// The result of `announce`: when the first packet left (it is sent before `announce` returns; the rest of the
/// schedule continues in the background).
public struct Announcement: Sendable, Equatable {
    public var vip: VirtualIP
    public var firstSentAt: ContinuousClock.Instant
    /// Packets the whole schedule sends (first included).
    public var plannedPackets: Int

    public init(vip: VirtualIP, firstSentAt: ContinuousClock.Instant, plannedPackets: Int) {
        self.vip = vip
        self.firstSentAt = firstSentAt
        self.plannedPackets = plannedPackets
    }
}

/// Tells the link that a VIP now lives here: IPv4 gratuitous ARP, IPv6 unsolicited neighbour advertisement.
public protocol NeighbourAnnouncer: Sendable {
    /// Sends the first packet before returning, then continues the schedule in the background. A new `announce`
    /// of the same address replaces the schedule still running for it.
    func announce(_ vip: VirtualIP) async throws(SFHAError) -> Announcement
    /// Stops what is left of the VIP's schedule (called before the VIP is removed: a node must never announce an
    /// address it no longer holds).
    func cancel(_ vip: VirtualIP) async
}

/// What a duplicate-address probe found.
public enum DuplicateCheckResult: Sendable, Equatable, CustomStringConvertible {
    /// Nobody answered for the address.
    case free
    /// Another machine answers for it (its link-layer address as reported, e.g. `52:54:00:12:34:56`).
    case inUse(by: String)

    public var description: String {
        switch self {
        case .free: "free"
        case .inUse(let by): "in use by \(by)"
        }
    }
}

/// Asks the link whether another machine already answers for a VIP (run before a VIP is first added here).
public protocol DuplicateAddressChecker: Sendable {
    func check(_ vip: VirtualIP) async throws(SFHAError) -> DuplicateCheckResult
}

/// systemd units. Unit names are validated before any program sees them.
public protocol ServiceController: Sendable {
    func start(_ unit: String) async throws(SFHAError)
    func stop(_ unit: String) async throws(SFHAError)
    func restart(_ unit: String) async throws(SFHAError)
    func isActive(_ unit: String) async throws(SFHAError) -> Bool
    /// Whether systemd knows the unit (a unit file exists for it), so a service naming a missing unit is refused
    /// when it is added rather than failing on every node later.
    func exists(_ unit: String) async throws(SFHAError) -> Bool
}

/// The outcome of one probe.
public struct ProbeResult: Sendable, Equatable, CustomStringConvertible {
    public var healthy: Bool
    /// Why (status code, error, "timeout").
    public var detail: String

    public init(healthy: Bool, detail: String) {
        self.healthy = healthy
        self.detail = detail
    }

    public static func healthy(_ detail: String = "ok") -> ProbeResult { ProbeResult(healthy: true, detail: detail) }
    public static func unhealthy(_ detail: String) -> ProbeResult { ProbeResult(healthy: false, detail: detail) }

    public var description: String { (healthy ? "healthy" : "unhealthy") + " (\(detail))" }
}

/// Runs one health check once. Implementations never throw: every failure is an unhealthy result.
public protocol HealthProbe: Sendable {
    func probe(_ kind: HealthCheck.Kind, timeout: Duration) async -> ProbeResult
}

/// Every effect the local reconciler needs.
public struct NodeEffects: Sendable {
    public var addresses: any AddressController
    public var announcer: any NeighbourAnnouncer
    public var duplicates: any DuplicateAddressChecker
    public var services: any ServiceController

    public init(
        addresses: any AddressController, announcer: any NeighbourAnnouncer, duplicates: any DuplicateAddressChecker,
        services: any ServiceController
    ) {
        self.addresses = addresses
        self.announcer = announcer
        self.duplicates = duplicates
        self.services = services
    }

    /// The real effects of this machine (or of the network namespace bound at `namespace`): netlink addresses,
    /// raw-socket announcements, arping/neighbour-solicitation duplicate checks, `systemctl`.
    public static func system(
        namespace: NetworkNamespace = .current, runner: any ProgramRunner = SystemProgramRunner(),
        announcementPolicy: AnnouncementPolicy = .default, vipLease: Duration? = nil
    ) -> NodeEffects {
        NodeEffects(
            addresses: NetlinkAddressController(namespace: namespace, lease: vipLease),
            announcer: RawSocketNeighbourAnnouncer(namespace: namespace, policy: announcementPolicy),
            duplicates: SystemDuplicateAddressChecker(runner: runner, namespace: namespace),
            services: SystemctlServiceController(runner: runner))
    }
}
