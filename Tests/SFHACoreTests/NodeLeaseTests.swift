import Testing

@testable import SFHACore

@Suite struct NodeLeaseTests {
    @Test func refreshingKeepsEverythingWhileTheLeasesLive() async {
        let (reconciler, _, fakes) = NodeFixtures.make()
        _ = await reconciler.apply(["web"])
        #expect(await reconciler.refreshLeases().isEmpty)
        #expect(await reconciler.heldGroups == ["web"])
        #expect(fakes.services.active == ["db.service", "nginx.service"])
    }

    @Test func aGroupWhoseLeaseRanOutIsReleasedNotReAdded() async {
        let (reconciler, _, fakes) = NodeFixtures.make()
        _ = await reconciler.apply(["web", "mail"])
        // sfhad stalled past the lease: the kernel dropped web's IPv4 VIP.
        fakes.addresses.expire(NodeFixtures.web.vips[0].address)
        let actions = await reconciler.refreshLeases()
        #expect(await reconciler.heldGroups == ["mail"])
        #expect(!actions.isEmpty)
        // Its services stop (never services without their VIPs) and its VIP is not put back by the refresh.
        #expect(fakes.services.active == ["postfix.service"])
        #expect(!fakes.addresses.all.contains { $0.address == NodeFixtures.web.vips[0].address })
        #expect(!fakes.addresses.all.contains { $0.address == NodeFixtures.web.vips[1].address })
        // The other group's VIP is untouched.
        #expect(fakes.addresses.all.contains { $0.address == NodeFixtures.mail.vips[0].address })
    }
}
