import Foundation
import SFHABase
import SFHACore
import SFHALab
import Synchronization
import Testing

/// The dead-man switch: a VIP added with a lease disappears by itself unless a live daemon refreshes it.
extension LabTests {
    @Suite(.timeLimit(.minutes(5))) struct VIPLease {
        @Test func aLeasedVIPStaysWhileRefreshedAndVanishesWhenNobodyRefreshesIt() async throws {
            try await LabTestSupport.withLab("lt-lease", nodes: 1) { lab in
                let namespace = NetworkNamespace.named(try lab.node("node1").networkNamespace)
                let controller = NetlinkAddressController(namespace: namespace, lease: .seconds(1))
                let subnet = try lab.spec.resolvedSubnet()
                let vip = VirtualIP(
                    name: "leased", address: try #require(IPAddress(subnet.address(host: 222))), prefixLength: 24,
                    interface: "eth0")
                #expect(try await controller.add(vip) == .added)
                // The kernel shows it as a dynamic address with a lifetime.
                let shown = try await lab.check("node1", ["ip", "-4", "addr", "show", "dev", "eth0"]).standardOutput
                #expect(shown.contains("\(vip.address)/24") && shown.contains("valid_lft 1sec"))

                // Refreshed every 250 ms for 3 s: it stays.
                for _ in 0..<12 {
                    #expect(try await controller.refreshLease(vip) == .alreadyPresent)
                    try await Task.sleep(for: .milliseconds(250))
                }
                #expect(try await controller.isPresent(vip))

                // Nobody refreshes it (sfhad killed or hung): the kernel removes it on its own.
                let gone = try await LabTestSupport.eventually(timeout: .seconds(5)) { try await !controller.isPresent(vip) }
                #expect(gone, "a leased VIP must not outlive the daemon that kept it")
                #expect(try await controller.refreshLease(vip) == .alreadyAbsent)
            }
        }

        /// The stall watchdog's real release path: the core loop stops beating, the watchdog's own thread removes the
        /// configured VIPs over its own netlink socket (and only those), then terminates.
        @Test func theStallWatchdogRemovesTheConfiguredVIPsForReal() async throws {
            try await LabTestSupport.withLab("lt-stall", nodes: 1) { lab in
                let namespace = NetworkNamespace.named(try lab.node("node1").networkNamespace)
                let controller = NetlinkAddressController(namespace: namespace)
                let subnet = try lab.spec.resolvedSubnet()
                let vip = VirtualIP(
                    name: "held", address: try #require(IPAddress(subnet.address(host: 223))), prefixLength: 24, interface: "eth0")
                let unrelated = VirtualIP(
                    name: "other", address: try #require(IPAddress(subnet.address(host: 224))), prefixLength: 24, interface: "eth0")
                #expect(try await controller.add(vip) == .added)
                #expect(try await controller.add(unrelated) == .added)

                let liveness = DaemonLiveness()
                liveness.setVIPs([vip])
                let terminated = LockedMessages()
                let watchdog = StallWatchdog(
                    liveness: liveness, bound: .milliseconds(300),
                    release: { StallWatchdog.removeWithNetlink($0, namespace: namespace) },
                    terminate: { terminated.append($0) })
                liveness.beat()
                watchdog.start()
                // While the loop beats, nothing happens.
                for _ in 0..<5 {
                    try await Task.sleep(for: .milliseconds(100))
                    liveness.beat()
                }
                #expect(try await controller.isPresent(vip) && terminated.all.isEmpty)
                // The loop stalls: within the bound (+ one check period) the VIP is gone, the other address stays.
                let fired = try await LabTestSupport.eventually(timeout: .seconds(3)) { !terminated.all.isEmpty }
                #expect(fired)
                #expect(try await !controller.isPresent(vip))
                #expect(try await controller.isPresent(unrelated))
                #expect(terminated.all.first?.contains("\(vip.cidr) removed from eth0") == true)
            }
        }
    }
}

final class LockedMessages: Sendable {
    private let messages = Mutex<[String]>([])
    func append(_ message: String) { messages.withLock { $0.append(message) } }
    var all: [String] { messages.withLock { $0 } }
}
