import SFHABase
import Synchronization
import Testing

@testable import SFHACore

enum NodeFixtures {
    static func vip(_ name: String, _ address: String, _ prefix: Int, _ interface: String = "eth0") -> VirtualIP {
        VirtualIP(name: name, address: IPAddress(address)!, prefixLength: prefix, interface: interface)
    }

    static func address(_ cidr: String, _ interface: String = "eth0") -> InterfaceAddress {
        let (address, prefix) = AddressParsing.parseCIDR(cidr)!
        return InterfaceAddress(address: address, prefixLength: prefix, interface: interface)
    }

    static let web = ResourceGroup(
        name: "web", vips: [vip("web-v4", "10.0.0.1", 24), vip("web-v6", "fd00::1", 64)],
        services: [ManagedService(name: "db", unit: "db.service"), ManagedService(name: "nginx", unit: "nginx.service")])
    static let mail = ResourceGroup(
        name: "mail", vips: [vip("mail-v4", "10.0.0.2", 24)], services: [ManagedService(name: "postfix", unit: "postfix.service")])

    /// The node's own addresses: never sfha's to touch.
    static let unrelated = [address("10.0.0.10/24"), address("10.0.0.100/24"), address("fe80::1/64"), address("10.0.0.1/24", "eth1")]

    static func make(
        groups: [ResourceGroup] = [web, mail], addresses: [InterfaceAddress] = unrelated, inUse: [IPAddress: String] = [:],
        clock: any Clock<Duration> = ContinuousClock()
    ) -> (LocalReconciler, FakeEffectLog, fakes: (addresses: FakeAddressController, announcer: FakeNeighbourAnnouncer, duplicates: FakeDuplicateAddressChecker, services: FakeServiceController)) {
        let log = FakeEffectLog()
        let fakes = NodeEffects.fakes(addresses: addresses, inUse: inUse, log: log)
        let reconciler = LocalReconciler(groups: groups, effects: fakes.effects, clock: clock)
        return (reconciler, log, (fakes.addresses, fakes.announcer, fakes.duplicates, fakes.services))
    }
}

@Suite(.timeLimit(.minutes(2))) struct NodeReconcilerTests {
    @Test func acquireChecksThenAddsAndAnnouncesVIPsBeforeStartingServicesInOrder() async {
        let (reconciler, log, fakes) = NodeFixtures.make()
        let actions = await reconciler.apply(["web"])
        let entries = log.all
        // Duplicate checks run concurrently: any order, but all before the first add.
        #expect(Set(entries.prefix(2)) == ["check 10.0.0.1", "check fd00::1"])
        #expect(Array(entries.dropFirst(2)) == [
            "add 10.0.0.1/24 dev eth0", "announce 10.0.0.1", "add fd00::1/64 dev eth0", "announce fd00::1",
            "start db.service", "start nginx.service",
        ])
        #expect(actions.map(\.kind) == [.duplicateCheck, .duplicateCheck, .addVIP, .announce, .addVIP, .announce, .startService, .startService])
        #expect(actions.allSatisfy { $0.outcome == .done && $0.group == "web" })
        #expect(await reconciler.heldGroups == ["web"])
        #expect(fakes.services.active == ["db.service", "nginx.service"])
    }

    @Test func secondApplyDoesNothing() async {
        let (reconciler, log, _) = NodeFixtures.make()
        _ = await reconciler.apply(["web", "mail"])
        let before = log.all
        let again = await reconciler.apply(["web", "mail"])
        #expect(again.isEmpty)
        #expect(log.all == before)
    }

    @Test func releaseRemovesVIPsBeforeStoppingServicesInReverseOrder() async {
        let (reconciler, log, fakes) = NodeFixtures.make()
        _ = await reconciler.apply(["web"])
        log.clear()
        let actions = await reconciler.apply([])
        #expect(log.all == ["remove fd00::1 dev eth0", "remove 10.0.0.1 dev eth0", "stop nginx.service", "stop db.service"])
        #expect(actions.map(\.kind) == [.removeVIP, .removeVIP, .stopService, .stopService])
        // Announcement schedules were stopped for both VIPs.
        #expect(Set(fakes.announcer.cancelled) == [IPAddress("10.0.0.1")!, IPAddress("fd00::1")!])
        #expect(await reconciler.heldGroups.isEmpty)
        #expect(fakes.addresses.all == NodeFixtures.unrelated)
    }

    @Test func releaseEverythingRemovesAllVIPsBeforeAnyServiceStops() async {
        let (reconciler, log, fakes) = NodeFixtures.make()
        _ = await reconciler.apply(["web", "mail"])
        log.clear()
        let actions = await reconciler.releaseEverything()
        let entries = log.all
        let lastRemove = entries.lastIndex { $0.hasPrefix("remove") }!
        let firstStop = entries.firstIndex { $0.hasPrefix("stop") }!
        #expect(entries.filter { $0.hasPrefix("remove") }.count == 3)
        #expect(lastRemove < firstStop)
        #expect(entries.filter { $0.hasPrefix("stop") } == ["stop postfix.service", "stop nginx.service", "stop db.service"])
        #expect(actions.allSatisfy { $0.outcome == .done })
        #expect(fakes.addresses.all == NodeFixtures.unrelated)
        #expect(fakes.services.active.isEmpty)
        #expect(await reconciler.releaseEverything().isEmpty)
    }

    @Test func movingFromOneGroupToAnotherReleasesFirst() async {
        let (reconciler, log, _) = NodeFixtures.make()
        _ = await reconciler.apply(["web"])
        log.clear()
        _ = await reconciler.apply(["mail"])
        let entries = log.all
        #expect(entries.firstIndex(of: "stop db.service")! < entries.firstIndex(of: "add 10.0.0.2/24 dev eth0")!)
        #expect(entries.last == "start postfix.service")
    }

    @Test func duplicateAddressRefusesTheGroupAndIsCheckedBeforeEveryAcquire() async {
        let (reconciler, log, fakes) = NodeFixtures.make(inUse: [IPAddress("10.0.0.1")!: "52:54:00:aa:bb:cc"])
        let refused = await reconciler.apply(["web"])
        #expect(refused.contains { $0.kind == .acquireRefused && $0.outcome == .refused("10.0.0.1 is already answered for by 52:54:00:aa:bb:cc") })
        #expect(refused.contains { $0.kind == .duplicateCheck && $0.outcome == .refused("in use by 52:54:00:aa:bb:cc") })
        #expect(log.all.allSatisfy { $0.hasPrefix("check") })
        #expect(await reconciler.heldGroups.isEmpty)
        #expect(fakes.services.active.isEmpty)

        // The other machine goes away: the next apply checks again and acquires.
        fakes.duplicates.setInUse(IPAddress("10.0.0.1")!, by: nil)
        _ = await reconciler.apply(["web"])
        #expect(await reconciler.heldGroups == ["web"])
        let checksSoFar = fakes.duplicates.checked.count
        // A repair of a held group does not probe again.
        _ = await reconciler.apply(["web"])
        #expect(fakes.duplicates.checked.count == checksSoFar)
        // Released: another node may take it meanwhile, so the next acquire probes again — and is refused if so.
        _ = await reconciler.apply([])
        fakes.duplicates.setInUse(IPAddress("10.0.0.1")!, by: "52:54:00:dd:ee:ff")
        let again = await reconciler.apply(["web"])
        #expect(fakes.duplicates.checked.count > checksSoFar)
        #expect(again.contains { $0.kind == .acquireRefused })
        #expect(await reconciler.heldGroups.isEmpty)
        fakes.duplicates.setInUse(IPAddress("10.0.0.1")!, by: nil)
        _ = await reconciler.apply(["web"])
        #expect(await reconciler.heldGroups == ["web"])
    }

    @Test func startupCleanupRemovesOnlyConfiguredUnassignedVIPs() async {
        let leftovers = NodeFixtures.unrelated + [NodeFixtures.address("10.0.0.1/24"), NodeFixtures.address("10.0.0.2/24")]
        let (reconciler, log, fakes) = NodeFixtures.make(addresses: leftovers)
        try? await fakes.services.start("nginx.service")
        try? await fakes.services.start("postfix.service")
        log.clear()
        let actions = await reconciler.startupCleanup(assigned: ["mail"])
        // web's VIP goes (on eth0 only: 10.0.0.1 on eth1 is not a configured VIP); mail's stays; nothing else moves.
        #expect(log.all == ["remove 10.0.0.1 dev eth0", "stop nginx.service"])
        #expect(actions.map(\.kind) == [.removeVIP, .stopService])
        #expect(Set(fakes.addresses.all) == Set(NodeFixtures.unrelated + [NodeFixtures.address("10.0.0.2/24")]))
        #expect(fakes.services.active == ["postfix.service"])
    }

    @Test func applyAdoptsPresentVIPsWithoutAddingThem() async {
        let (reconciler, log, _) = NodeFixtures.make(addresses: NodeFixtures.unrelated + [NodeFixtures.address("10.0.0.2/24")])
        let actions = await reconciler.apply(["mail"])
        #expect(log.all == ["announce 10.0.0.2", "start postfix.service"])
        #expect(actions.map(\.kind) == [.announce, .startService])
    }

    @Test func applyRepairsAMissingVIPAndFollowsDefinitionChanges() async throws {
        let (reconciler, log, fakes) = NodeFixtures.make()
        _ = await reconciler.apply(["web"])
        log.clear()
        // Someone removed the IPv4 VIP behind sfha's back: only it is re-added and re-announced.
        _ = try await fakes.addresses.remove(NodeFixtures.web.vips[0])
        log.clear()
        _ = await reconciler.apply(["web"])
        #expect(log.all == ["add 10.0.0.1/24 dev eth0", "announce 10.0.0.1"])

        // Reload: the IPv6 VIP leaves the group, a service joins. Unchanged resources are not touched.
        log.clear()
        var changed = NodeFixtures.web
        changed.vips = [NodeFixtures.web.vips[0]]
        changed.services.append(ManagedService(name: "cache", unit: "cache.service"))
        await reconciler.setGroups([changed, NodeFixtures.mail])
        _ = await reconciler.apply(["web"])
        #expect(log.all == ["remove fd00::1 dev eth0", "start cache.service"])
    }

    @Test func aVIPThatCannotBeAddedAbandonsTheGroup() async {
        let (reconciler, log, fakes) = NodeFixtures.make()
        fakes.addresses.setFailing([IPAddress("fd00::1")!])
        let actions = await reconciler.apply(["web"])
        #expect(log.all.filter { !$0.hasPrefix("check") } == ["add 10.0.0.1/24 dev eth0", "announce 10.0.0.1", "remove 10.0.0.1 dev eth0"])
        #expect(actions.suffix(2).map(\.kind) == [.acquireRefused, .groupFailed])
        #expect(actions.contains { $0.kind == .addVIP && $0.outcome == .failed("fake: adding fd00::1/64 fails") })
        #expect(await reconciler.heldGroups.isEmpty)
        #expect(fakes.services.active.isEmpty)
    }

    @Test func unknownGroupIsReportedNotAcquired() async {
        let (reconciler, log, _) = NodeFixtures.make()
        let actions = await reconciler.apply(["nope"])
        #expect(actions == [ReconcileAction(kind: .acquireRefused, group: "nope", resource: "nope", outcome: .refused("no such group"))])
        #expect(log.all.isEmpty)
    }

    @Test func maintenanceModeChangesNothingAndReportsWhatItWouldDo() async {
        let (reconciler, log, fakes) = NodeFixtures.make()
        await reconciler.setMaintenance(true)
        let planned = await reconciler.apply(["web"])
        #expect(log.all.isEmpty)
        #expect(planned.map(\.kind) == [.duplicateCheck, .duplicateCheck, .addVIP, .announce, .addVIP, .announce, .startService, .startService])
        #expect(planned.allSatisfy { $0.outcome == .skipped("maintenance mode") })
        #expect(await reconciler.heldGroups.isEmpty)

        await reconciler.setMaintenance(false)
        _ = await reconciler.apply(["web"])
        log.clear()
        await reconciler.setMaintenance(true)
        let release = await reconciler.releaseEverything()
        #expect(release.count == 4 && release.allSatisfy { $0.outcome == .skipped("maintenance mode") })
        #expect(await reconciler.apply([]).allSatisfy { $0.outcome == .skipped("maintenance mode") })
        #expect(await reconciler.serviceFailed(group: "web", service: "nginx", reason: "down").allSatisfy { $0.outcome == .skipped("maintenance mode") })
        #expect(log.all.isEmpty)
        #expect(fakes.addresses.all.count == NodeFixtures.unrelated.count + 2)
        #expect(await reconciler.heldGroups == ["web"])
    }

    @Test func reannounceAnnouncesEveryHeldVIP() async {
        let (reconciler, _, fakes) = NodeFixtures.make()
        _ = await reconciler.apply(["web", "mail"])
        let before = fakes.announcer.announced.count
        let actions = await reconciler.reannounce()
        #expect(actions.map(\.kind) == [.announce, .announce, .announce])
        #expect(Array(fakes.announcer.announced.dropFirst(before)) == ["10.0.0.1", "fd00::1", "10.0.0.2"].map { IPAddress($0)! })
    }

    @Test func releaseEverythingSupersedesAnApplyInFlight() async {
        // A duplicate check that waits until the test lets it finish: the apply is suspended inside it.
        let gate = NodeGatedChecker()
        let log = FakeEffectLog()
        let addresses = FakeAddressController(addresses: NodeFixtures.unrelated, log: log)
        let services = FakeServiceController(log: log)
        let effects = NodeEffects(addresses: addresses, announcer: FakeNeighbourAnnouncer(log: log), duplicates: gate, services: services)
        let reconciler = LocalReconciler(groups: [NodeFixtures.web], effects: effects)
        let applying = Task { await reconciler.apply(["web"]) }
        #expect(await gate.waitUntilCalled(2))
        _ = await reconciler.releaseEverything()
        gate.open()
        let actions = await applying.value
        #expect(actions.allSatisfy { $0.kind == .duplicateCheck })
        #expect(addresses.all == NodeFixtures.unrelated)
        #expect(services.active.isEmpty)
        #expect(await reconciler.heldGroups.isEmpty)
    }
}

/// A duplicate checker whose checks wait for `open()`.
final class NodeGatedChecker: DuplicateAddressChecker {
    private let state = Mutex<(open: Bool, calls: Int, waiting: [CheckedContinuation<Void, Never>])>((false, 0, []))

    func check(_ vip: VirtualIP) async throws(SFHAError) -> DuplicateCheckResult {
        await withCheckedContinuation { continuation in
            let resume = state.withLock { state -> Bool in
                state.calls += 1
                if state.open { return true }
                state.waiting.append(continuation)
                return false
            }
            if resume { continuation.resume() }
        }
        return .free
    }

    func open() {
        let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.open = true
            defer { state.waiting = [] }
            return state.waiting
        }
        waiting.forEach { $0.resume() }
    }

    func waitUntilCalled(_ count: Int) async -> Bool {
        await eventually(within: .seconds(20)) { self.state.withLock({ $0.calls }) >= count }
    }
}

@Suite(.timeLimit(.minutes(2))) struct NodeFailurePolicyTests {
    static func group(maxRestarts: Int, window: Duration, failureTimeout: Duration?, critical: Bool = true, restart: Bool = true) -> ResourceGroup {
        ResourceGroup(
            name: "web", vips: [NodeFixtures.vip("web-v4", "10.0.0.1", 24)],
            services: [ManagedService(
                name: "nginx", unit: "nginx.service", critical: critical, restartService: restart,
                failurePolicy: FailurePolicy(maxRestarts: maxRestarts, window: window, failureTimeout: failureTimeout))])
    }

    @Test func restartsUpToMaxThenFailsTheGroupUntilTheFailureTimeout() async {
        let clock = ManualClock()
        let (reconciler, log, _) = NodeFixtures.make(
            groups: [Self.group(maxRestarts: 2, window: .seconds(60), failureTimeout: .seconds(30))], clock: clock)
        _ = await reconciler.apply(["web"])
        log.clear()
        #expect(await reconciler.serviceFailed(group: "web", service: "nginx", reason: "HTTP 503").map(\.kind) == [.restartService])
        clock.advance(by: .seconds(5))
        #expect(await reconciler.serviceFailed(group: "web", service: "nginx", reason: "HTTP 503").map(\.kind) == [.restartService])
        clock.advance(by: .seconds(5))
        let failed = await reconciler.serviceFailed(group: "web", service: "nginx", reason: "HTTP 503")
        #expect(failed.map(\.kind) == [.groupFailed])
        #expect(log.all == ["restart nginx.service", "restart nginx.service"])
        #expect(await reconciler.failedGroups == ["web"])
        let record = await reconciler.failureRecords.first
        #expect(record?.failures == 3)
        #expect(record?.restartsInWindow == 2)
        #expect(record?.failed == true)
        #expect(record?.blockedFor == .seconds(30))
        #expect(record?.blockedIndefinitely == false)
        #expect(record?.lastReason == "HTTP 503")
        // Further failures while failed: no more restarts, no repeated report.
        #expect(await reconciler.serviceFailed(group: "web", service: "nginx", reason: "HTTP 503").isEmpty)

        // Blocked: after placement moved it away, this node refuses it until the timeout passes.
        _ = await reconciler.apply([])
        #expect(await reconciler.apply(["web"]).map(\.kind) == [.acquireRefused])
        clock.advance(by: .seconds(31))
        #expect(await reconciler.failedGroups.isEmpty)
        _ = await reconciler.apply(["web"])
        #expect(await reconciler.heldGroups == ["web"])
    }

    @Test func restartsOutsideTheWindowDoNotCount() async {
        let clock = ManualClock()
        let (reconciler, _, _) = NodeFixtures.make(groups: [Self.group(maxRestarts: 1, window: .seconds(10), failureTimeout: nil)], clock: clock)
        _ = await reconciler.apply(["web"])
        #expect(await reconciler.serviceFailed(group: "web", service: "nginx", reason: "x").map(\.kind) == [.restartService])
        clock.advance(by: .seconds(11))
        #expect(await reconciler.serviceFailed(group: "web", service: "nginx", reason: "x").map(\.kind) == [.restartService])
        clock.advance(by: .seconds(1))
        #expect(await reconciler.serviceFailed(group: "web", service: "nginx", reason: "x").map(\.kind) == [.groupFailed])
        // No failure timeout: blocked until cleared.
        clock.advance(by: .seconds(3600))
        #expect(await reconciler.failedGroups == ["web"])
        #expect(await reconciler.failureRecords.first?.blockedIndefinitely == true)
        await reconciler.clearFailures(group: "web")
        #expect(await reconciler.failedGroups.isEmpty)
        #expect(await reconciler.failureRecords.isEmpty)
    }

    @Test func nonCriticalServiceFailureIsReportedButDoesNotFailTheGroup() async {
        let (reconciler, log, _) = NodeFixtures.make(
            groups: [Self.group(maxRestarts: 0, window: .seconds(60), failureTimeout: nil, critical: false, restart: false)])
        _ = await reconciler.apply(["web"])
        log.clear()
        #expect(await reconciler.serviceFailed(group: "web", service: "nginx", reason: "x").map(\.kind) == [.serviceFailed])
        #expect(log.all.isEmpty)
        #expect(await reconciler.failedGroups.isEmpty)
        #expect(await reconciler.failureRecords.first?.failed == true)
    }

    @Test func healthEventsDriveRestartsAndRecoveryChangesNothing() async {
        let clock = ManualClock()
        let (reconciler, log, _) = NodeFixtures.make(
            groups: [Self.group(maxRestarts: 3, window: .seconds(60), failureTimeout: nil)], clock: clock)
        _ = await reconciler.apply(["web"])
        log.clear()
        let unhealthy = HealthEvent(check: "nginx", kind: .becameUnhealthy, status: HealthStatus(healthy: false), result: .unhealthy("HTTP 500"))
        #expect(await reconciler.handle(unhealthy).map(\.kind) == [.restartService])
        let still = HealthEvent(check: "nginx", kind: .stillUnhealthy, status: HealthStatus(healthy: false), result: .unhealthy("HTTP 500"))
        // The same failure seen by the service's other check (its unit's state) right after the restart is not
        // counted twice; the check that counted keeps its pace.
        let unitDown = HealthEvent(check: "nginx/unit", kind: .becameUnhealthy, status: HealthStatus(healthy: false), result: .unhealthy("failed"))
        #expect(await reconciler.handle(unitDown).isEmpty)
        #expect(await reconciler.handle(still).map(\.kind) == [.restartService])
        clock.advance(by: LocalReconciler.restartSettleTime)
        let healthy = HealthEvent(check: "nginx", kind: .becameHealthy, status: HealthStatus(), result: .healthy())
        #expect(await reconciler.handle(healthy).isEmpty)
        let other = HealthEvent(check: "unknown", kind: .becameUnhealthy, status: HealthStatus(healthy: false), result: .unhealthy("x"))
        #expect(await reconciler.handle(other).isEmpty)
        #expect(log.all == ["restart nginx.service", "restart nginx.service"])
    }

    @Test func aServiceThatFailsToStartCountsAsAFailure() async {
        let (reconciler, _, fakes) = NodeFixtures.make(groups: [Self.group(maxRestarts: 0, window: .seconds(60), failureTimeout: nil, restart: false)])
        fakes.services.setFailing(["nginx.service"])
        let actions = await reconciler.apply(["web"])
        #expect(actions.suffix(2).map(\.kind) == [.startService, .groupFailed])
        #expect(await reconciler.failedGroups == ["web"])
    }
}
