import Foundation
import SFHABase

public struct VIPBenchmarkReport: Sendable, Equatable, CustomStringConvertible {
    public var implementation: String
    public var vip: String
    /// From the start of `add` to the first announcement packet on the wire (`Announcement.firstSentAt`).
    public var addAndFirstAnnouncement: LatencySummary
    /// From the start of the release (cancel the announcement schedule + remove) to `remove` returning.
    public var removal: LatencySummary

    public var description: String {
        "\(implementation) \(vip)\n  add + first announcement: \(addAndFirstAnnouncement)\n  removal:                  \(removal)"
    }
}


/// Measures VIP add→first-announcement and removal latency with real (or any) effects. Targets: p99 ≤ 20 ms each.
public enum VIPBenchmark {
    /// Runs `cycles` add→announce and remove cycles of `address/prefixLength` on `interface`. Refuses an address
    /// already on the interface (it is not ours to remove) and leaves the address removed.
    public static func run(
        addresses: any AddressController, announcer: any NeighbourAnnouncer, interface: String, address: IPAddress,
        prefixLength: Int, cycles: Int, implementation: String = "custom"
    ) async throws(SFHAError) -> VIPBenchmarkReport {
        let vip = VirtualIP(name: "benchmark", address: address, prefixLength: prefixLength, interface: interface)
        try VIPValidation.validate(vip)
        guard try await !addresses.isPresent(vip) else {
            throw SFHAError(.exists, "\(vip.cidr) is already on \(interface); the benchmark only uses an address it owns")
        }
        var adds: [Duration] = []
        var removes: [Duration] = []
        let clock = ContinuousClock()
        for _ in 0..<max(cycles, 1) {
            let start = clock.now
            guard try await addresses.add(vip) == .added else {
                throw SFHAError(.invalidState, "\(vip.cidr) appeared on \(interface) during the benchmark")
            }
            let announcement = try await announcer.announce(vip)
            adds.append(announcement.firstSentAt - start)
            let releaseStart = clock.now
            await announcer.cancel(vip)
            guard try await addresses.remove(vip) == .removed else {
                throw SFHAError(.invalidState, "\(vip.cidr) vanished from \(interface) during the benchmark")
            }
            removes.append(clock.now - releaseStart)
        }
        return VIPBenchmarkReport(
            implementation: implementation, vip: "\(vip.cidr) dev \(interface)", addAndFirstAnnouncement: LatencySummary(adds),
            removal: LatencySummary(removes))
    }

    public enum Implementation: String, Sendable, CaseIterable {
        /// `NetlinkAddressController` + `RawSocketNeighbourAnnouncer`.
        case netlink
        /// `IPCommandAddressController` (`ip -n NS …`) + `RawSocketNeighbourAnnouncer`.
        case ipCommand = "ip"
    }

    /// The driver: benchmarks inside the network namespace `/run/netns/<namespaceName>` (e.g. a lab node,
    /// `lt-vip-node1`) with the real effects, as root. Example: `try await VIPBenchmark.runInNamespace("lab-node1",
    /// interface: "eth0", address: IPAddress("10.231.1.200")!, prefixLength: 24, cycles: 200)`.
    public static func runInNamespace(
        _ namespaceName: String, interface: String, address: IPAddress, prefixLength: Int, cycles: Int,
        implementation: Implementation = .netlink
    ) async throws(SFHAError) -> VIPBenchmarkReport {
        let namespace = NetworkNamespace.named(namespaceName)
        let controller: any AddressController = switch implementation {
        case .netlink: NetlinkAddressController(namespace: namespace)
        case .ipCommand: IPCommandAddressController(namespaceName: namespaceName)
        }
        // One packet per announcement: the benchmark measures the first one, and should not flood the link.
        let announcer = RawSocketNeighbourAnnouncer(
            namespace: namespace, policy: AnnouncementPolicy(burstCount: 1, burstInterval: .zero, repeatDelay: nil, repeatCount: 0))
        return try await run(
            addresses: controller, announcer: announcer, interface: interface, address: address, prefixLength: prefixLength,
            cycles: cycles, implementation: implementation.rawValue)
    }
}
