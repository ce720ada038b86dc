import SFHABase
import Synchronization

// In-memory effects for tests and the simulator. They share an optional `FakeEffectLog`, so a test can check the
// order of effects across kinds ("add 10.0.0.1/24 dev eth0" before "start web.service").

/// The ordered record of every effect the fakes performed.
public final class FakeEffectLog: Sendable {
    private let entries = Mutex<[String]>([])

    public init() {}

    public var all: [String] { entries.withLock { $0 } }
    public func append(_ entry: String) { entries.withLock { $0.append(entry) } }
    public func clear() { entries.withLock { $0.removeAll() } }
}

/// Addresses per interface, in memory. Logs `add CIDR dev IF` / `remove ADDRESS dev IF` for real changes only.
public final class FakeAddressController: AddressController {
    private let state: Mutex<[InterfaceAddress]>
    private let refreshed = Mutex(0)
    /// How many lease refreshes were asked for.
    public var leaseRefreshes: Int { refreshed.withLock { $0 } }
    private let failing = Mutex<Set<IPAddress>>([])
    public let log: FakeEffectLog

    public init(addresses: [InterfaceAddress] = [], log: FakeEffectLog = FakeEffectLog()) {
        state = Mutex(addresses)
        self.log = log
    }

    /// Everything configured, on every interface.
    public var all: [InterfaceAddress] { state.withLock { $0 } }

    /// Makes `add` and `remove` of these addresses fail (as a kernel refusal would).
    public func setFailing(_ addresses: Set<IPAddress>) { failing.withLock { $0 = addresses } }

    /// Interfaces this machine does not have: listing or adding on them fails as the kernel's ENODEV would.
    public func setMissingInterfaces(_ interfaces: Set<String>) { missing.withLock { $0 = interfaces } }
    private let missing = Mutex<Set<String>>([])

    private func checkInterface(_ interface: String) throws(SFHAError) {
        if missing.withLock({ $0.contains(interface) }) { throw SFHAError(.notFound, "fake: no such device \(interface)") }
    }

    /// The interfaces `interfaceNames()` lists; nil (the default): it fails, as if they could not be read.
    public func setInterfaceNames(_ names: [String]?) { interfaces.withLock { $0 = names } }
    private let interfaces = Mutex<[String]?>(nil)

    public func interfaceNames() async throws(SFHAError) -> [String] {
        guard let names = interfaces.withLock({ $0 }) else { throw SFHAError(.unavailable, "fake: interfaces not known") }
        return names
    }

    public func addresses(on interface: String) async throws(SFHAError) -> [InterfaceAddress] {
        try checkInterface(interface)
        return state.withLock { $0.filter { $0.interface == interface } }
    }

    public func add(_ vip: VirtualIP) async throws(SFHAError) -> AddressChange {
        try VIPValidation.validate(vip)
        try checkInterface(vip.interface)
        if failing.withLock({ $0.contains(vip.address) }) {
            throw SFHAError(.io, "fake: adding \(vip.cidr) fails")
        }
        let change = state.withLock { addresses -> AddressChange in
            if addresses.contains(where: { $0.interface == vip.interface && $0.address == vip.address }) {
                return .alreadyPresent
            }
            addresses.append(InterfaceAddress(address: vip.address, prefixLength: vip.prefixLength, interface: vip.interface))
            return .added
        }
        if change == .added { log.append("add \(vip.cidr) dev \(vip.interface)") }
        return change
    }

    /// A fake lease: present addresses are refreshed, absent ones stay absent (as the kernel does).
    public func refreshLease(_ vip: VirtualIP) async throws(SFHAError) -> AddressChange {
        refreshed.withLock { $0 += 1 }
        return state.withLock { addresses in
            addresses.contains { $0.interface == vip.interface && $0.address == vip.address } ? .alreadyPresent : .alreadyAbsent
        }
    }

    /// Drops an address as the kernel does when its lease runs out.
    public func expire(_ address: IPAddress) {
        state.withLock { $0.removeAll { $0.address == address } }
    }

    public func remove(_ vip: VirtualIP) async throws(SFHAError) -> AddressChange {
        try VIPValidation.validate(vip)
        if failing.withLock({ $0.contains(vip.address) }) {
            throw SFHAError(.io, "fake: removing \(vip.cidr) fails")
        }
        let change = state.withLock { addresses -> AddressChange in
            let before = addresses.count
            addresses.removeAll { $0.interface == vip.interface && $0.address == vip.address }
            return addresses.count < before ? .removed : .alreadyAbsent
        }
        if change == .removed { log.append("remove \(vip.address) dev \(vip.interface)") }
        return change
    }
}

/// Records announcements (`announce ADDRESS`) and cancellations.
public final class FakeNeighbourAnnouncer: NeighbourAnnouncer {
    private let state = Mutex<(announced: [IPAddress], cancelled: [IPAddress])>(([], []))
    public let log: FakeEffectLog

    public init(log: FakeEffectLog = FakeEffectLog()) {
        self.log = log
    }

    public var announced: [IPAddress] { state.withLock { $0.announced } }
    public var cancelled: [IPAddress] { state.withLock { $0.cancelled } }

    public func announce(_ vip: VirtualIP) async throws(SFHAError) -> Announcement {
        state.withLock { $0.announced.append(vip.address) }
        log.append("announce \(vip.address)")
        return Announcement(vip: vip, firstSentAt: .now, plannedPackets: 1)
    }

    public func cancel(_ vip: VirtualIP) async {
        state.withLock { $0.cancelled.append(vip.address) }
    }
}

/// Addresses "another machine" answers for.
public final class FakeDuplicateAddressChecker: DuplicateAddressChecker {
    private let state: Mutex<(inUse: [IPAddress: String], checked: [IPAddress])>
    public let log: FakeEffectLog

    public init(inUse: [IPAddress: String] = [:], log: FakeEffectLog = FakeEffectLog()) {
        state = Mutex((inUse, []))
        self.log = log
    }

    public var checked: [IPAddress] { state.withLock { $0.checked } }
    public func setInUse(_ address: IPAddress, by owner: String?) { state.withLock { $0.inUse[address] = owner } }

    public func check(_ vip: VirtualIP) async throws(SFHAError) -> DuplicateCheckResult {
        log.append("check \(vip.address)")
        return state.withLock { state in
            state.checked.append(vip.address)
            return state.inUse[vip.address].map { .inUse(by: $0) } ?? .free
        }
    }
}

/// Units in memory: `start`/`stop`/`restart` log `start UNIT` etc.; units in `failing` refuse to start.
public final class FakeServiceController: ServiceController {
    private let state = Mutex<(active: Set<String>, failing: Set<String>, missing: Set<String>)>(([], [], []))
    public let log: FakeEffectLog

    public init(active: Set<String> = [], log: FakeEffectLog = FakeEffectLog()) {
        state.withLock { $0.active = active }
        self.log = log
    }

    public var active: Set<String> { state.withLock { $0.active } }
    public func setFailing(_ units: Set<String>) { state.withLock { $0.failing = units } }
    /// Units systemd would not know (no unit file).
    public func setMissing(_ units: Set<String>) { state.withLock { $0.missing = units } }
    /// Simulates a unit dying on its own.
    public func kill(_ unit: String) { state.withLock { _ = $0.active.remove(unit) } }

    public func start(_ unit: String) async throws(SFHAError) {
        try UnitName.validate(unit)
        log.append("start \(unit)")
        let ok = state.withLock { state -> Bool in
            guard !state.failing.contains(unit) else { return false }
            state.active.insert(unit)
            return true
        }
        if !ok { throw SFHAError(.commandFailed, "fake: \(unit) fails to start") }
    }

    public func stop(_ unit: String) async throws(SFHAError) {
        try UnitName.validate(unit)
        log.append("stop \(unit)")
        state.withLock { _ = $0.active.remove(unit) }
    }

    public func restart(_ unit: String) async throws(SFHAError) {
        try UnitName.validate(unit)
        log.append("restart \(unit)")
        let ok = state.withLock { state -> Bool in
            guard !state.failing.contains(unit) else { return false }
            state.active.insert(unit)
            return true
        }
        if !ok { throw SFHAError(.commandFailed, "fake: \(unit) fails to restart") }
    }

    public func isActive(_ unit: String) async throws(SFHAError) -> Bool {
        try UnitName.validate(unit)
        return state.withLock { $0.active.contains(unit) }
    }

    public func exists(_ unit: String) async throws(SFHAError) -> Bool {
        try UnitName.validate(unit)
        return state.withLock { !$0.missing.contains(unit) }
    }
}

/// A scripted probe: answers from `handler` (given the kind and the 1-based call number).
public final class FakeHealthProbe: HealthProbe {
    private let calls = Mutex<Int>(0)
    private let handler: @Sendable (HealthCheck.Kind, Int) async -> ProbeResult

    public init(handler: @escaping @Sendable (HealthCheck.Kind, Int) async -> ProbeResult) {
        self.handler = handler
    }

    /// Answers `results` in order, then repeats the last one.
    public convenience init(results: [ProbeResult]) {
        self.init { _, call in results.isEmpty ? .healthy() : results[min(call, results.count) - 1] }
    }

    public var callCount: Int { calls.withLock { $0 } }

    public func probe(_ kind: HealthCheck.Kind, timeout: Duration) async -> ProbeResult {
        let call = calls.withLock { count -> Int in
            count += 1
            return count
        }
        return await handler(kind, call)
    }
}

extension NodeEffects {
    /// All four fakes sharing one log.
    public static func fakes(
        addresses: [InterfaceAddress] = [], inUse: [IPAddress: String] = [:], log: FakeEffectLog = FakeEffectLog()
    ) -> (effects: NodeEffects, addresses: FakeAddressController, announcer: FakeNeighbourAnnouncer,
          duplicates: FakeDuplicateAddressChecker, services: FakeServiceController)
    {
        let addressController = FakeAddressController(addresses: addresses, log: log)
        let announcer = FakeNeighbourAnnouncer(log: log)
        let duplicates = FakeDuplicateAddressChecker(inUse: inUse, log: log)
        let services = FakeServiceController(log: log)
        return (
            NodeEffects(addresses: addressController, announcer: announcer, duplicates: duplicates, services: services),
            addressController, announcer, duplicates, services
        )
    }
}
