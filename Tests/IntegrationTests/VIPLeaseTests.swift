import Foundation
import SFHABase
import SFHACore
import SFHALab
import Testing

/// The dead-man switch: a VIP added with a lease disappears by itself unless a live daemon refreshes it.
extension LabTests {
    @Suite struct VIPLease {
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
    }
}
