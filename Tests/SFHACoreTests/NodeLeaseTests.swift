import SFHABase
import Testing

@testable import SFHACore

@Suite(.timeLimit(.minutes(2))) struct NodeLeaseTests {
    @Test func refreshingKeepsEverythingWhileTheLeasesLive() async {
        let (reconciler, _, fakes) = NodeFixtures.make()
        _ = await reconciler.apply(["web"])
        #expect(await reconciler.refreshLeases(allowed: true).isEmpty)
        #expect(await reconciler.heldGroups == ["web"])
        #expect(fakes.services.active == ["db.service", "nginx.service"])
    }

    @Test func aGroupWhoseLeaseRanOutIsReleasedNotReAdded() async {
        let (reconciler, _, fakes) = NodeFixtures.make()
        _ = await reconciler.apply(["web", "mail"])
        // sfhad stalled past the lease: the kernel dropped web's IPv4 VIP.
        fakes.addresses.expire(NodeFixtures.web.vips[0].address)
        let lapsed = await reconciler.refreshLeases(allowed: true)
        #expect(await reconciler.heldGroups == ["mail"])
        #expect(lapsed == ["web"])
        // Its services stop at the next apply (never services without their VIPs) and its VIP is not put back.
        _ = await reconciler.apply(["mail"])
        #expect(fakes.services.active == ["postfix.service"])
        #expect(!fakes.addresses.all.contains { $0.address == NodeFixtures.web.vips[0].address })
        #expect(!fakes.addresses.all.contains { $0.address == NodeFixtures.web.vips[1].address })
        // The other group's VIP is untouched.
        #expect(fakes.addresses.all.contains { $0.address == NodeFixtures.mail.vips[0].address })
    }
}

extension NodeLeaseTests {
    /// Maintenance freezes what is on the machine — including the VIPs, whose leases keep being refreshed while
    /// the daemon is allowed to (proven, alive).
    @Test func maintenanceKeepsRefreshing() async {
        let (reconciler, _, fakes) = NodeFixtures.make()
        _ = await reconciler.apply(["web"])
        await reconciler.setMaintenance(true)
        let before = fakes.addresses.leaseRefreshes
        #expect(await reconciler.refreshLeases(allowed: true).isEmpty)
        #expect(fakes.addresses.leaseRefreshes == before + NodeFixtures.web.vips.count)
        #expect(await reconciler.heldGroups == ["web"])
        #expect(fakes.services.active == ["db.service", "nginx.service"])
    }

    /// Not allowed (not proven, core loop stalled, own messages not coming back): nothing is refreshed, so the
    /// kernel ends the leases.
    @Test func noRefreshWhenNotAllowed() async {
        let (reconciler, _, fakes) = NodeFixtures.make()
        _ = await reconciler.apply(["web"])
        let before = fakes.addresses.leaseRefreshes
        #expect(await reconciler.refreshLeases(allowed: false).isEmpty)
        #expect(fakes.addresses.leaseRefreshes == before)
        // Once the kernel has dropped it, the group is no longer held.
        fakes.addresses.expire(NodeFixtures.web.vips[0].address)
        #expect(await reconciler.refreshLeases(allowed: false) == ["web"])
        #expect(fakes.addresses.leaseRefreshes == before)
    }

    /// An acquisition re-checks, right before each VIP and unit, that it is still wanted (the decision may be
    /// stale by then): refused midway, what was added goes again and nothing starts.
    @Test func anAcquisitionStopsWhenTheGateCloses() async {
        let (reconciler, _, fakes) = NodeFixtures.make()
        await reconciler.setAcquireGate { _ in false }
        _ = await reconciler.apply(["web"])
        #expect(await reconciler.heldGroups.isEmpty)
        #expect(fakes.addresses.all == NodeFixtures.unrelated)
        #expect(fakes.services.active.isEmpty)
    }
}

@Suite(.timeLimit(.minutes(2))) struct ARPProbeParsingTests {
    let target = IPv4Address("10.0.0.5")!
    let own: [UInt8] = [2, 0, 0, 0, 0, 1]

    func arp(operation: UInt8, sender: [UInt8], senderAddress: [UInt8], targetAddress: [UInt8]) -> [UInt8] {
        [0, 1, 0x08, 0x00, 6, 4, 0, operation] + sender + senderAddress + [UInt8](repeating: 0, count: 6) + targetAddress
    }

    @Test func aReplyFromTheAddressNamesItsOwner() {
        let reply = arp(operation: 2, sender: [0x52, 0x54, 0, 0x12, 0x34, 0x56], senderAddress: [10, 0, 0, 5], targetAddress: [0, 0, 0, 0])
        #expect(ARPProbe.owner(reply, target: target, ownHardwareAddress: own) == "52:54:00:12:34:56")
    }

    @Test func otherTrafficIsNotAnOwner() {
        // Someone else's address, our own probe echoed back, a truncated or non-IPv4 packet.
        #expect(ARPProbe.owner(arp(operation: 2, sender: [1, 2, 3, 4, 5, 6], senderAddress: [10, 0, 0, 50], targetAddress: [10, 0, 0, 5]), target: target, ownHardwareAddress: own) == nil)
        #expect(ARPProbe.owner(arp(operation: 1, sender: own, senderAddress: [10, 0, 0, 5], targetAddress: [10, 0, 0, 5]), target: target, ownHardwareAddress: own) == nil)
        #expect(ARPProbe.owner([0, 1, 8, 0], target: target, ownHardwareAddress: own) == nil)
        #expect(ARPProbe.owner([0, 6] + Array(arp(operation: 2, sender: [1, 2, 3, 4, 5, 6], senderAddress: [10, 0, 0, 5], targetAddress: [0, 0, 0, 0]).dropFirst(2)), target: target, ownHardwareAddress: own) == nil)
    }
}
