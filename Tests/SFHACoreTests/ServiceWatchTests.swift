import CorosyncKit
import Foundation
import Logging
import SFHABase
import Testing

@testable import SFHACore

/// Every managed service is watched on its holder, with or without a health check; a resource that cannot be
/// applied fails its group once instead of being retried forever; maintenance off starts what was stopped by hand.
@Suite("service watch and resource failures", .timeLimit(.minutes(1)))
struct ServiceWatchTests {
    static func group(critical: Bool = true, restart: Bool = true, maxRestarts: Int = 1, check: HealthCheck? = nil) -> ResourceGroup {
        ResourceGroup(
            name: "web", vips: [NodeFixtures.vip("web-v4", "10.0.0.1", 24)],
            services: [ManagedService(
                name: "nginx", unit: "nginx.service", critical: critical, restartService: restart, healthCheck: check,
                failurePolicy: FailurePolicy(maxRestarts: maxRestarts, window: .seconds(60)))])
    }

    @Test func everyServiceHasAUnitCheckBesideItsOwnCheck() throws {
        let bare = ManagedService(name: "nginx", unit: "nginx.service", critical: true)
        #expect(bare.checks.map(\.name) == ["nginx/unit"])
        #expect(bare.unitCheck.kind == .systemd(unit: "nginx.service"))
        #expect(bare.unitCheck.critical)
        #expect(bare.unitCheck.failuresBeforeUnhealthy == ManagedService.unitWatchFailures)
        let checked = ManagedService(
            name: "nginx", unit: "nginx.service",
            healthCheck: try HealthCheck.parseShortForm("http://127.0.0.1:8080/health", service: "nginx"))
        #expect(checked.checks.map(\.name) == ["nginx/unit", "nginx"])
        // The unit check's name can never be a resource's name.
        #expect(Validators.resourceName(ManagedService.unitCheckName("nginx")) != nil)
    }

    /// Before: a unit added without a health check that was stopped or killed stayed down, `HEALTH ok`. Now its
    /// state is a check: the unit is restarted, and once the restarts are spent the group fails here.
    @Test func aKilledUnitIsRestartedThenFailsTheGroup() async throws {
        let (reconciler, log, fakes) = NodeFixtures.make(groups: [Self.group()])
        _ = await reconciler.apply(["web"])
        #expect(fakes.services.active == ["nginx.service"])
        // The real monitor, probing the fake systemd, at a test-sized interval.
        var check = Self.group().services[0].unitCheck
        check.interval = .milliseconds(20)
        check.timeout = .milliseconds(20)
        let services = fakes.services
        let probe = FakeHealthProbe { kind, _ in
            guard case .systemd(let unit) = kind else { return .unhealthy("unexpected check") }
            return (try? await services.isActive(unit)) == true ? .healthy("active") : .unhealthy("inactive")
        }
        let monitor = HealthMonitor(checks: [check], probe: probe)
        await monitor.start()
        defer { Task { await monitor.stop() } }
        log.clear()
        fakes.services.kill("nginx.service")
        var restarted = false
        for await event in monitor.events {
            let actions = await reconciler.handle(event)
            if actions.map(\.kind) == [.restartService] {
                restarted = true
                break
            }
        }
        #expect(restarted)
        #expect(log.all == ["restart nginx.service"])
        #expect(fakes.services.active == ["nginx.service"], "the restart brought it back")

        // Killed again with the one restart spent: the group fails here (after the settle time of the restart).
        fakes.services.setFailing(["nginx.service"])
        fakes.services.kill("nginx.service")
        let down = HealthEvent(check: "nginx/unit", kind: .becameUnhealthy, status: HealthStatus(healthy: false), result: .unhealthy("failed"))
        let deadline = ContinuousClock.now + .seconds(10)
        var failed: [ReconcileAction] = []
        while failed.isEmpty && ContinuousClock.now < deadline {
            failed = await reconciler.handle(down)
            if failed.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(failed.map(\.kind) == [.groupFailed])
        #expect(failed.first.map { "\($0.outcome)" }?.contains("unit nginx.service is failed") == true)
        #expect(await reconciler.failedGroups == ["web"])
    }

    /// Before: a VIP on a missing interface was retried every second, forever. Now the group fails here once,
    /// is not tried again, and removing (or fixing) the VIP ends the failure.
    @Test func aVIPThatCannotBeAppliedFailsTheGroupOnceAndRemovalEndsIt() async {
        var broken = Self.group()
        broken.vips.append(NodeFixtures.vip("typo", "10.0.9.1", 24, "eth9"))
        let (reconciler, log, fakes) = NodeFixtures.make(groups: [broken])
        fakes.addresses.setMissingInterfaces(["eth9"])
        let first = await reconciler.apply(["web"])
        #expect(first.contains { $0.kind == .groupFailed })
        #expect(await reconciler.failedGroups == ["web"])
        #expect(await reconciler.heldGroups.isEmpty)
        #expect(fakes.services.active.isEmpty)
        let record = await reconciler.failureRecords.first
        #expect(record?.lastReason.contains("VIP typo") == true && record?.blockedIndefinitely == true, "\(String(describing: record))")

        log.clear()
        let again = await reconciler.apply(["web"])
        #expect(again.map(\.kind) == [.acquireRefused], "blocked: nothing is tried again")
        #expect(log.all.isEmpty)

        await reconciler.setGroups([Self.group()])
        #expect(await reconciler.failedGroups.isEmpty, "the VIP that failed is gone, so is its failure")
        _ = await reconciler.apply(["web"])
        #expect(await reconciler.heldGroups == ["web"])
    }

    /// A VIP added to a group held here that cannot be applied fails the group here instead of being retried by
    /// every apply.
    @Test func aBrokenVIPAddedToAHeldGroupFailsItHere() async {
        let (reconciler, log, fakes) = NodeFixtures.make(groups: [Self.group()])
        fakes.addresses.setMissingInterfaces(["eth9"])
        _ = await reconciler.apply(["web"])
        var broken = Self.group()
        broken.vips.append(NodeFixtures.vip("typo", "10.0.9.1", 24, "eth9"))
        await reconciler.setGroups([broken])
        let actions = await reconciler.apply(["web"])
        #expect(actions.contains { $0.kind == .groupFailed })
        #expect(await reconciler.failedGroups == ["web"])
        log.clear()
        _ = await reconciler.apply([])
        #expect(await reconciler.apply(["web"]).map(\.kind) == [.acquireRefused])
        #expect(!log.all.contains { $0.hasPrefix("add") })
    }

    /// Before: units stopped by hand during maintenance stayed stopped after `maintenance off`.
    @Test func maintenanceOffStartsUnitsStoppedByHand() async {
        let (reconciler, log, fakes) = NodeFixtures.make(groups: [Self.group()])
        _ = await reconciler.apply(["web"])
        await reconciler.setMaintenance(true)
        fakes.services.kill("nginx.service")
        _ = await reconciler.apply(["web"])
        #expect(fakes.services.active.isEmpty, "maintenance: nothing is changed")
        await reconciler.setMaintenance(false)
        log.clear()
        _ = await reconciler.apply(["web"])
        #expect(log.all == ["start nginx.service"])
        #expect(fakes.services.active == ["nginx.service"])
        log.clear()
        _ = await reconciler.apply(["web"])
        #expect(log.all.isEmpty, "checked once, when maintenance ended")
    }

    @Test func shortFormChecks() throws {
        #expect(try HealthCheck.parseShortForm("http://127.0.0.1:8080/health", service: "web").kind
            == .http(URL(string: "http://127.0.0.1:8080/health")!))
        #expect(try HealthCheck.parseShortForm("tcp:127.0.0.1:5432", service: "db").kind == .tcp(host: "127.0.0.1", port: 5432))
        #expect(try HealthCheck.parseShortForm("tcp:[::1]:5432", service: "db").kind == .tcp(host: "::1", port: 5432))
        #expect(try HealthCheck.parseShortForm("exec:/usr/local/bin/check --quiet", service: "x").kind
            == .exec(arguments: ["/usr/local/bin/check", "--quiet"]))
        #expect(try HealthCheck.parseShortForm("systemd:db.service", service: "x").kind == .systemd(unit: "db.service"))
        let timed = try HealthCheck.parseShortForm("tcp:127.0.0.1:80", service: "web", interval: "10s", timeout: "500ms", critical: true)
        #expect(timed.interval == .seconds(10) && timed.timeout == .milliseconds(500) && timed.critical && timed.name == "web")
        let defaults = try HealthCheck.parseShortForm("tcp:127.0.0.1:80", service: "web")
        #expect(defaults.interval == HealthCheck.defaultServiceInterval && defaults.timeout == HealthCheck.defaultServiceTimeout)
        for bad in ["ftp://x", "tcp:127.0.0.1", "tcp:host:99999", "exec:", "exec:relative/prog", "exec:-x", "systemd:../x", "web", ""] {
            #expect(throws: SFHAError.self, "\(bad)") { try HealthCheck.parseShortForm(bad, service: "web") }
        }
        #expect(throws: SFHAError.self) { try HealthCheck.parseShortForm("tcp:127.0.0.1:80", service: "web", interval: "1s", timeout: "2s") }
        #expect(throws: SFHAError.self) { try HealthCheck.parseShortForm("tcp:127.0.0.1:80", service: "web", interval: "soon") }
    }

    /// `vip add` on an interface this node lacks and `service add` of a unit systemd does not know are refused
    /// with a clear error; nothing is committed. `--check` lands in the committed document.
    @Test func addRefusesWhatCannotBeAppliedHereAndKeepsTheCheck() async throws {
        let addresses = FakeAddressController(addresses: [])
        addresses.setMissingInterfaces(["eth9"])
        let services = FakeServiceController()
        services.setMissing(["nosuch.service"])
        let (runtime, stop) = await RuntimeFixture.joinedRuntime(ClusterConfiguration(name: "t"), addresses: addresses, services: services)
        defer { stop() }

        let vipError = await #expect(throws: SFHAError.self) {
            try await runtime.addVIP(name: "typo", cidr: "10.0.9.1/24", interface: "eth9", group: nil)
        }
        #expect(vipError?.message.contains("interface eth9") == true, "\(String(describing: vipError))")
        let unitError = await #expect(throws: SFHAError.self) {
            try await runtime.addService(ServiceAddRequest(name: "app", unit: "nosuch.service"))
        }
        #expect(unitError?.message.contains("no unit nosuch.service") == true, "\(String(describing: unitError))")
        #expect(await runtime.document.revision == 1, "nothing was committed")

        let added = try await runtime.addService(ServiceAddRequest(
            name: "web", unit: "web.service", critical: true, check: "tcp:127.0.0.1:80", checkInterval: "3s"))
        #expect(added.changed)
        let service = await runtime.document.configuration.groups.first?.services.first
        #expect(service?.healthCheck?.kind == .tcp(host: "127.0.0.1", port: 80))
        #expect(service?.healthCheck?.interval == .seconds(3))
    }
}
