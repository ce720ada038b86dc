import SFHABase

/// One thing the reconciler did (or, in maintenance mode, would have done), with how long it took.
public struct ReconcileAction: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        case duplicateCheck, addVIP, announce, removeVIP, startService, stopService, restartService
        /// A critical service exhausted its failure policy: the group failed on this node.
        case groupFailed
        /// A non-critical service exhausted its failure policy (reported only).
        case serviceFailed
        /// The group could not be acquired (unknown, blocked after a failure, or a VIP in use elsewhere).
        case acquireRefused
    }

    public enum Outcome: Sendable, Equatable, CustomStringConvertible {
        case done
        /// Nothing to change (idempotent no-op, e.g. the address was already there).
        case unchanged
        case failed(String)
        case refused(String)
        /// Maintenance mode: not done.
        case skipped(String)

        public var description: String {
            switch self {
            case .done: "done"
            case .unchanged: "unchanged"
            case .failed(let why): "failed: \(why)"
            case .refused(let why): "refused: \(why)"
            case .skipped(let why): "skipped: \(why)"
            }
        }
    }

    public var kind: Kind
    public var group: String
    /// The VIP (`10.0.0.5/24 dev eth0`) or unit (`nginx.service`).
    public var resource: String
    public var outcome: Outcome
    public var duration: Duration

    public init(kind: Kind, group: String, resource: String, outcome: Outcome, duration: Duration = .zero) {
        self.kind = kind
        self.group = group
        self.resource = resource
        self.outcome = outcome
        self.duration = duration
    }

    public var description: String { "\(kind.rawValue) \(resource) [\(group)]: \(outcome) in \(DurationFormatting.human(duration))" }
}

/// A service's failures on this node, as the daemon publishes them.
public struct ServiceFailureRecord: Sendable, Equatable, CustomStringConvertible {
    public var group: String
    public var service: String
    public var unit: String
    public var critical: Bool
    /// Failures reported since the record was created (or cleared).
    public var failures: Int
    /// Restarts within the policy's window (as of the query).
    public var restartsInWindow: Int
    public var lastReason: String
    /// The policy is exhausted: no more restarts here.
    public var failed: Bool
    /// How long the failure still blocks the group here; nil when not blocked or blocked until cleared.
    public var blockedFor: Duration?
    /// Failed with no failure timeout: blocked until an operator clears it.
    public var blockedIndefinitely: Bool

    public var description: String {
        var text = "\(service) [\(group)]: \(failures) failures, \(restartsInWindow) restarts in window"
        if failed {
            text += blockedIndefinitely ? ", failed until cleared" : ", failed for \(blockedFor ?? .zero) more"
        }
        return text + " (\(lastReason))"
    }
}

/// Drives this machine to hold exactly the groups placement assigned to it, idempotently.
///
/// - Acquire: duplicate-address check before the first acquire of each VIP (any answer refuses the group) → add
///   VIPs → announce each at once → start services in order.
/// - Release (the fast path): cancel announcements, remove every VIP of every released group, then stop services in
///   reverse order. `releaseEverything()` does not queue behind a running `apply`: it supersedes it (the `apply`
///   stops at its next step and undoes a VIP it added after the release).
/// - Service failures are judged by the service's health check (the daemon forwards `HealthMonitor` events), never
///   by "systemd says active": restarts within `FailurePolicy.maxRestarts`/`window`, then the service is failed
///   and, when critical, the group is failed here (`failedGroups`) for `failureTimeout` or until cleared.
/// - Maintenance mode: nothing changes; every call reports what it would do with `.skipped`.
public actor LocalReconciler {
    private struct HeldGroup {
        var definition: ResourceGroup
        /// Names of the services started (in start order).
        var started: [String]
        var name: String { definition.name }
    }

    private struct FailureKey: Hashable {
        var group: String
        var service: String
    }

    private struct FailureState {
        var failures = 0
        var restarts: [Duration] = []
        var lastReason = ""
        var failed = false
        var blockedUntil: Duration?
        /// Set when the failing resource is a VIP that could not be applied here (the key's `service` is its name).
        var vip: VirtualIP?
        /// The check whose report was counted last.
        var countedCheck: String?
    }

    private let effects: NodeEffects
    private let clock: any Clock<Duration>
    private let stopwatch: Stopwatch
    private var definitions: [ResourceGroup]
    private var held: [HeldGroup] = []
    private var duplicateChecked: Set<IPAddress> = []
    /// VIPs whose removal failed: retried by every later apply/release.
    private var pendingRemoval: [VirtualIP] = []
    private var failures: [FailureKey: FailureState] = [:]
    private var generation: UInt64 = 0
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var refreshTask: Task<Void, Never>?
    /// Checked right before every VIP add, announcement and service start of an acquisition: the decision may be
    /// stale by the time the effect runs (quorum lost, the group moved, the proof ran out).
    private var acquireGate: (@Sendable (String) -> Bool)?
    /// Groups whose VIP lease ran out behind the daemon's back: no longer held, their services stop at the next
    /// apply, and they are only ever acquired anew (duplicate check included).
    private var lapsed: [HeldGroup] = []
    /// VIPs this reconciler put on the machine (or found there when it acquired their group) and has not removed:
    /// the only ones whose lease is refreshed — a VIP a repair is about to add is not "expired".
    private var leased: Set<VirtualIP> = []

    /// While true nothing changes on the machine.
    public private(set) var maintenance = false

    public init(groups: [ResourceGroup], effects: NodeEffects, clock: any Clock<Duration> = ContinuousClock()) {
        definitions = groups
        self.effects = effects
        self.clock = clock
        stopwatch = Stopwatch(clock)
    }

    // MARK: - Public state

    /// Groups this node holds (acquired, possibly with failed services), in acquisition order.
    public var heldGroups: [String] { held.map(\.name) }

    /// Held groups that are up: every VIP added here, every service started, none failed.
    public var runningGroups: Set<String> {
        Set(held.filter { group in
            group.definition.vips.allSatisfy(leased.contains)
                && group.definition.services.allSatisfy { group.started.contains($0.name) }
                && !failures.contains { $0.key.group == group.name && $0.value.failed }
        }.map(\.name))
    }

    /// Groups that failed here (a critical service exhausted its policy) and are still blocked.
    public var failedGroups: Set<String> {
        let now = stopwatch.elapsed()
        return Set(failures.filter { key, state in isBlocking(key, state, now: now) }.map(\.key.group))
    }

    public var failureRecords: [ServiceFailureRecord] {
        let now = stopwatch.elapsed()
        return failures.map { key, state in
            let service = definitions.first { $0.name == key.group }?.services.first { $0.name == key.service }
            let window = service?.failurePolicy.window ?? FailurePolicy.defaultWindow
            let resource = state.vip.map(Self.describe) ?? service?.unit ?? key.service
            return ServiceFailureRecord(
                group: key.group, service: key.service, unit: resource, critical: state.vip != nil || (service?.critical ?? false),
                failures: state.failures, restartsInWindow: state.restarts.filter { now - $0 < window }.count,
                lastReason: state.lastReason, failed: state.failed,
                blockedFor: state.failed ? state.blockedUntil.map { max(.zero, $0 - now) } : nil,
                blockedIndefinitely: state.failed && state.blockedUntil == nil)
        }.sorted { ($0.group, $0.service) < ($1.group, $1.service) }
    }

    /// Maintenance on → off: units stopped by hand meanwhile are started again by the next `apply` (a unit is only
    /// started when the group is not known to have it running).
    public func setMaintenance(_ on: Bool) {
        if maintenance && !on { verifyStartedServices = true }
        maintenance = on
    }

    /// Set when maintenance ends: the next `apply` asks systemd which started units are still active.
    private var verifyStartedServices = false

    /// Installs the check every acquisition step passes right before it acts (nil: none).
    public func setAcquireGate(_ gate: (@Sendable (String) -> Bool)?) { acquireGate = gate }

    private func mayAcquire(_ group: String) -> Bool { acquireGate?(group) ?? true }

    /// New definitions (after a configuration reload); the next `apply` converges to them without touching
    /// resources that did not change. A VIP failure is forgotten once that VIP is removed or changed: nothing keeps
    /// failing on a resource that no longer exists.
    public func setGroups(_ groups: [ResourceGroup]) {
        definitions = groups
        failures = failures.filter { key, state in
            guard let vip = state.vip else { return true }
            return groups.first { $0.name == key.group }?.vips.contains(vip) ?? false
        }
    }

    /// Forgets failures (of one group, or all), unblocking the groups.
    public func clearFailures(group: String? = nil) {
        failures = failures.filter { key, _ in group != nil && key.group != group }
    }

    // MARK: - Apply

    /// Converges to holding exactly `assigned`: releases the others (VIPs first), removes configured VIPs of
    /// unassigned groups found on the machine, acquires or repairs the assigned ones. A second call with the same
    /// input does nothing (it only lists addresses).
    public func apply(_ assigned: Set<String>) async -> [ReconcileAction] {
        generation += 1
        let token = generation
        await lock()
        defer { unlock() }
        guard token == generation else { return [] }  // superseded while waiting
        let dryRun = maintenance
        var actions: [ReconcileAction] = []
        if verifyStartedServices && !dryRun {
            verifyStartedServices = false
            await forgetInactiveServices()
        }

        actions += await retryPendingRemovals(dryRun: dryRun)
        if !lapsed.isEmpty && !dryRun {
            let groups = lapsed
            lapsed = []
            actions += await stopServices(of: groups)
        }
        let lost = held.filter { group in !assigned.contains(group.name) || definition(group.name) == nil }
        if !lost.isEmpty { actions += await release(lost, dryRun: dryRun) }
        guard token == generation else { return actions }

        var present = await listConfiguredInterfaces()
        actions += await sweepStrayVIPs(keeping: assigned, present: &present, dryRun: dryRun)

        for name in acquisitionOrder(assigned) {
            guard token == generation else { break }
            guard let group = definition(name) else {
                actions.append(ReconcileAction(kind: .acquireRefused, group: name, resource: name, outcome: .refused("no such group")))
                continue
            }
            if held.contains(where: { $0.name == name }) {
                actions += await repair(group, present: present, token: token, dryRun: dryRun)
            } else {
                actions += await acquire(group, present: present, token: token, dryRun: dryRun)
            }
        }
        return actions
    }

    /// Releases every group now (quorum loss, shutdown): VIPs first, then services. Supersedes a running `apply`.
    public func releaseEverything() async -> [ReconcileAction] {
        generation += 1
        let dryRun = maintenance
        let groups = held
        var actions = await release(groups, dryRun: dryRun)
        if !lapsed.isEmpty && !dryRun {
            let stale = lapsed
            lapsed = []
            actions += await stopServices(of: stale)
        }
        actions += await retryPendingRemovals(dryRun: dryRun)
        // Belt and braces: any configured VIP still on the machine goes too (never another address).
        var present = await listConfiguredInterfaces()
        actions += await sweepStrayVIPs(keeping: [], present: &present, dryRun: dryRun)
        return actions
    }

    /// Releases now every held group not in `keeping` (VIPs first), without waiting for a running `apply`, which it
    /// supersedes (that `apply` stops at its next step).
    public func releaseNow(keeping: Set<String>) async -> [ReconcileAction] {
        let groups = held.filter { !keeping.contains($0.name) }
        guard !groups.isEmpty else { return [] }
        generation += 1
        return await release(groups, dryRun: maintenance)
    }

    /// A daemon (re)starting: removes every configured VIP on this machine whose group is not in `assigned`, and
    /// (when `stopServices`) stops the active services of those groups. Unrelated addresses are never touched.
    public func startupCleanup(assigned: Set<String> = [], stopServices: Bool = true) async -> [ReconcileAction] {
        await lock()
        defer { unlock() }
        let dryRun = maintenance
        var present = await listConfiguredInterfaces()
        var actions = await sweepStrayVIPs(keeping: assigned, present: &present, dryRun: dryRun)
        guard stopServices else { return actions }
        for group in definitions.reversed() where !assigned.contains(group.name) && !held.contains(where: { $0.name == group.name }) {
            for service in group.services.reversed() {
                guard (try? await effects.services.isActive(service.unit)) == true else { continue }
                actions.append(await perform(.stopService, group.name, service.unit, dryRun: dryRun) { () throws(SFHAError) in
                    try await self.effects.services.stop(service.unit)
                    return true
                })
            }
        }
        return actions
    }

    /// Extends the lease of every held VIP when `allowed` (the daemon calls this several times per lease; it does not
    /// wait for a running `apply`). A group whose VIP's lease already ran out (the daemon stalled longer than the
    /// lease, or was not allowed to refresh) is no longer held: it is returned, its services stop at the next apply,
    /// and it is never re-added here on its own — another node may have taken it meanwhile. Placement decides
    /// again, and a new acquire goes through the duplicate check.
    public func refreshLeases(allowed: Bool) async -> [String] {
        var expired: [HeldGroup] = []
        for group in held {
            for vip in group.definition.vips where leased.contains(vip) {
                // Not allowed: nothing is extended, but a VIP the kernel has removed meanwhile still ends the holding.
                let gone = allowed
                    ? (try? await effects.addresses.refreshLease(vip)) == .alreadyAbsent
                    : (try? await effects.addresses.isPresent(vip)) == false
                guard gone else { continue }
                expired.append(group)
                break
            }
        }
        guard !expired.isEmpty else { return [] }
        let names = Set(expired.map(\.name))
        held.removeAll { names.contains($0.name) }
        lapsed += expired
        for group in expired {
            for vip in group.definition.vips {
                await effects.announcer.cancel(vip)
                duplicateChecked.remove(vip.address)
                leased.remove(vip)
                // Whatever VIP of the group is still there goes too: the group is no longer held here.
                _ = try? await effects.addresses.remove(vip)
            }
        }
        return expired.map(\.name)
    }

    private func stopServices(of groups: [HeldGroup]) async -> [ReconcileAction] {
        var actions: [ReconcileAction] = []
        for group in groups.reversed() where !held.contains(where: { $0.name == group.name }) {
            for service in group.definition.services.reversed() {
                actions.append(await perform(.stopService, group.name, service.unit, dryRun: false) { () throws(SFHAError) in
                    try await self.effects.services.stop(service.unit)
                    return true
                })
            }
        }
        return actions
    }

    /// Announces every held VIP again (after a membership change or a partition heals: stale ARP caches).
    public func reannounce() async -> [ReconcileAction] {
        await lock()
        defer { unlock() }
        var actions: [ReconcileAction] = []
        for group in held {
            for vip in group.definition.vips {
                actions.append(await announce(vip, group: group.name, dryRun: maintenance))
            }
        }
        return actions
    }

    /// Re-announces held VIPs every `interval` (keepalived's `garp_master_refresh`); `nil` stops it.
    public func setPeriodicReannounce(every interval: Duration?) {
        refreshTask?.cancel()
        refreshTask = nil
        guard let interval, interval > .zero else { return }
        let clock = clock
        refreshTask = Task { [weak self] in
            while !Task.isCancelled {
                do {
                    try await clock.sleep(for: interval)
                } catch {
                    return
                }
                guard let self else { return }
                _ = await self.reannounce()
            }
        }
    }

    // MARK: - Failures

    /// Routes a `HealthMonitor` event for a service check (the check's name is the service's name, the service's
    /// `healthCheck.name`, or its unit check's name). Unhealthy events count as failures; recovery changes nothing.
    /// A service has two checks (its unit's state and its own): a failure the *other* check reports soon after a
    /// restart is the same failure seen late, not a new one — the restart gets `restartSettleTime` to show whether it
    /// worked. The check that counted keeps its own pace (its hysteresis already spaces its reports).
    public func handle(_ event: HealthEvent) async -> [ReconcileAction] {
        guard event.kind != .becameHealthy else { return [] }
        for group in held {
            let match = group.definition.services.first { service in
                service.checks.contains { $0.name == event.check } || service.name == event.check
            }
            guard let service = match else { continue }
            let isUnitCheck = event.check == ManagedService.unitCheckName(service.name)
            let reason = isUnitCheck ? "unit \(service.unit) is \(event.result.detail)" : event.result.detail
            let key = FailureKey(group: group.name, service: service.name)
            if let record = failures[key], let lastRestart = record.restarts.last, let counted = record.countedCheck,
               counted != event.check, stopwatch.elapsed() - lastRestart < Self.restartSettleTime
            {
                return []
            }
            let actions = await serviceFailed(group: group.name, service: service.name, reason: reason)
            failures[key]?.countedCheck = event.check
            return actions
        }
        return []
    }

    /// After a restart, failures reported within this time are not counted again: two unit-state reads.
    static let restartSettleTime: Duration = ManagedService.unitWatchInterval * ManagedService.unitWatchFailures

    /// A held group's service failed (its health check says so): restart it within its policy, or mark it failed.
    public func serviceFailed(group name: String, service serviceName: String, reason: String) async -> [ReconcileAction] {
        await lock()
        defer { unlock() }
        guard let group = held.first(where: { $0.name == name })?.definition,
              let service = group.services.first(where: { $0.name == serviceName })
        else { return [] }
        return await recordFailure(group: group.name, service: service, reason: reason, dryRun: maintenance)
    }

    private func recordFailure(group: String, service: ManagedService, reason: String, dryRun: Bool) async -> [ReconcileAction] {
        let key = FailureKey(group: group, service: service.name)
        let now = stopwatch.elapsed()
        var state = failures[key] ?? FailureState()
        let policy = service.failurePolicy
        state.restarts = state.restarts.filter { now - $0 < policy.window }
        if dryRun {
            let wouldRestart = service.restartService && state.restarts.count < policy.maxRestarts
            return [ReconcileAction(
                kind: wouldRestart ? .restartService : (service.critical ? .groupFailed : .serviceFailed), group: group,
                resource: service.unit, outcome: .skipped("maintenance mode"))]
        }
        state.failures += 1
        state.lastReason = reason
        if service.restartService && state.restarts.count < policy.maxRestarts && !state.failed {
            state.restarts.append(now)
            failures[key] = state
            let action = await perform(.restartService, group, service.unit, dryRun: false) { () throws(SFHAError) in
                try await self.effects.services.restart(service.unit)
                return true
            }
            return [action]
        }
        let firstTime = !state.failed
        state.failed = true
        if firstTime { state.blockedUntil = policy.failureTimeout.map { now + $0 } }
        failures[key] = state
        guard firstTime else { return [] }
        let why = "\(service.name) failed (\(reason)); \(state.restarts.count) restarts within \(policy.window.sfhaText)"
        return [ReconcileAction(
            kind: service.critical ? .groupFailed : .serviceFailed, group: group, resource: service.unit,
            outcome: .failed(why))]
    }

    private func isBlocking(_ key: FailureKey, _ state: FailureState, now: Duration) -> Bool {
        guard state.failed else { return false }
        let critical = definition(key.group)?.services.first { $0.name == key.service }?.critical ?? true
        guard critical else { return false }
        if let until = state.blockedUntil { return now < until }
        return true
    }

    private func blockReason(_ group: String) -> String? {
        let now = stopwatch.elapsed()
        // Expired failures are forgotten.
        for (key, state) in failures where key.group == group && state.failed {
            if let until = state.blockedUntil, now >= until { failures[key] = nil }
        }
        guard let (key, state) = failures.first(where: { key, state in key.group == group && isBlocking(key, state, now: now) }) else {
            return nil
        }
        if state.vip != nil { return state.lastReason }
        return "service \(key.service) failed on this node"
    }

    // MARK: - Steps

    private func definition(_ name: String) -> ResourceGroup? { definitions.first { $0.name == name } }

    /// Assigned groups in definition order, a group's `startAfter` groups (when also assigned here) first.
    private func acquisitionOrder(_ assigned: Set<String>) -> [String] {
        let names = definitions.map(\.name).filter(assigned.contains) + assigned.subtracting(definitions.map(\.name)).sorted()
        var ordered: [String] = []
        var remaining = names
        while !remaining.isEmpty {
            guard let next = remaining.firstIndex(where: { name in
                (definition(name)?.startAfter ?? []).allSatisfy { !remaining.contains($0) || $0 == name }
            }) else {
                ordered += remaining  // a cycle: keep definition order
                break
            }
            ordered.append(remaining.remove(at: next))
        }
        return ordered
    }

    private func release(_ groups: [HeldGroup], dryRun: Bool) async -> [ReconcileAction] {
        guard !groups.isEmpty else { return [] }
        let names = Set(groups.map(\.name))
        if !dryRun { held.removeAll { names.contains($0.name) } }
        let ordered = groups.reversed()
        var actions: [ReconcileAction] = []
        // Announcements stop first: a node must not announce an address it is giving up.
        if !dryRun {
            for group in ordered { for vip in group.definition.vips { await effects.announcer.cancel(vip) } }
        }
        for group in ordered {
            for vip in group.definition.vips.reversed() {
                actions.append(await removeVIP(vip, group: group.name, dryRun: dryRun))
            }
        }
        for group in ordered {
            for service in group.definition.services.reversed() {
                actions.append(await perform(.stopService, group.name, service.unit, dryRun: dryRun) { () throws(SFHAError) in
                    try await self.effects.services.stop(service.unit)
                    return true
                })
            }
        }
        return actions
    }

    private func acquire(_ group: ResourceGroup, present: [String: [InterfaceAddress]], token: UInt64, dryRun: Bool) async
        -> [ReconcileAction]
    {
        if let reason = blockReason(group.name) {
            return [ReconcileAction(kind: .acquireRefused, group: group.name, resource: group.name, outcome: .refused(reason))]
        }
        var actions: [ReconcileAction] = []
        let missing = group.vips.filter { vip in !isPresent(vip, in: present) }

        // Duplicate-address checks, concurrently, for VIPs not acquired here since they were last released.
        let unchecked = missing.filter { !duplicateChecked.contains($0.address) }
        if !unchecked.isEmpty {
            if dryRun {
                actions += unchecked.map {
                    ReconcileAction(kind: .duplicateCheck, group: group.name, resource: Self.describe($0), outcome: .skipped("maintenance mode"))
                }
            } else {
                let checks = await checkDuplicates(unchecked)
                guard token == generation else { return actions }
                var refusal: String?
                for (vip, result, duration) in checks {
                    switch result {
                    case .success(.free):
                        duplicateChecked.insert(vip.address)
                        actions.append(ReconcileAction(kind: .duplicateCheck, group: group.name, resource: Self.describe(vip), outcome: .done, duration: duration))
                    case .success(.inUse(let owner)):
                        refusal = refusal ?? "\(vip.address) is already answered for by \(owner)"
                        actions.append(ReconcileAction(
                            kind: .duplicateCheck, group: group.name, resource: Self.describe(vip),
                            outcome: .refused("in use by \(owner)"), duration: duration))
                    case .failure(let error):
                        refusal = refusal ?? "duplicate check of \(vip.address) failed: \(error.message)"
                        actions.append(ReconcileAction(
                            kind: .duplicateCheck, group: group.name, resource: Self.describe(vip),
                            outcome: .failed(error.message), duration: duration))
                    }
                }
                if let refusal {
                    actions.append(ReconcileAction(kind: .acquireRefused, group: group.name, resource: group.name, outcome: .refused(refusal)))
                    return actions
                }
            }
        }

        guard dryRun || mayAcquire(group.name) else { return actions }
        if !dryRun { held.append(HeldGroup(definition: group, started: [])) }
        for vip in group.vips {
            if !dryRun && !mayAcquire(group.name) {
                actions += await abandon(group, dryRun: false, reason: "no longer wanted here, or no longer proven to be in the quorate ring")
                return actions
            }
            if missing.contains(vip) {
                let action = await addVIP(vip, group: group.name, dryRun: dryRun)
                actions.append(action)
                if !dryRun && token != generation {
                    // Released while adding: take it back off at once.
                    actions.append(await removeVIP(vip, group: group.name, dryRun: false))
                    return actions
                }
                if case .failed(let why) = action.outcome {
                    // No services without their VIPs: give back what was added, and fail the group here (it moves;
                    // nothing retries it every second).
                    actions += await abandon(group, dryRun: dryRun)
                    actions += recordVIPFailure(group: group.name, vip: vip, reason: why)
                    return actions
                }
            }
            // Announce added and adopted VIPs alike (a restarted daemon re-asserts the address).
            if !dryRun { leased.insert(vip) }
            actions.append(await announce(vip, group: group.name, dryRun: dryRun))
        }
        actions += await startServices(group, already: [], token: token, dryRun: dryRun)
        return actions
    }

    /// A held group: add VIPs that went missing, drop resources removed from its definition, start new services.
    private func repair(_ group: ResourceGroup, present: [String: [InterfaceAddress]], token: UInt64, dryRun: Bool) async
        -> [ReconcileAction]
    {
        guard let index = held.firstIndex(where: { $0.name == group.name }) else { return [] }
        let old = held[index]
        var actions: [ReconcileAction] = []
        let dropped = old.definition.vips.filter { vip in !group.vips.contains { $0.address == vip.address && $0.interface == vip.interface } }
        for vip in dropped {
            if !dryRun { await effects.announcer.cancel(vip) }
            actions.append(await removeVIP(vip, group: group.name, dryRun: dryRun))
        }
        let goneServices = old.definition.services.filter { service in !group.services.contains { $0.unit == service.unit } }
        for service in goneServices.reversed() {
            actions.append(await perform(.stopService, group.name, service.unit, dryRun: dryRun) { () throws(SFHAError) in
                try await self.effects.services.stop(service.unit)
                return true
            })
        }
        if !dryRun {
            held[index].definition = group
            held[index].started = old.started.filter { name in group.services.contains { $0.name == name } }
        }
        for vip in group.vips where !isPresent(vip, in: present) {
            guard dryRun || mayAcquire(group.name) else { break }
            if !duplicateChecked.contains(vip.address) && !dryRun {
                let result = await checkDuplicates([vip])
                guard token == generation else { return actions }
                if case .success(.inUse(let owner)) = result.first?.1 {
                    actions.append(ReconcileAction(
                        kind: .duplicateCheck, group: group.name, resource: Self.describe(vip), outcome: .refused("in use by \(owner)"),
                        duration: result.first?.2 ?? .zero))
                    continue
                }
                duplicateChecked.insert(vip.address)
            }
            let action = await addVIP(vip, group: group.name, dryRun: dryRun)
            actions.append(action)
            if !dryRun && token != generation {
                actions.append(await removeVIP(vip, group: group.name, dryRun: false))
                return actions
            }
            if case .failed(let why) = action.outcome, !dryRun {
                // A VIP added to a held group that cannot be applied here: the group fails here and moves.
                actions += recordVIPFailure(group: group.name, vip: vip, reason: why)
                return actions
            }
            if action.outcome == .done { actions.append(await announce(vip, group: group.name, dryRun: dryRun)) }
        }
        let started = dryRun ? old.started : (held.first { $0.name == group.name }?.started ?? [])
        actions += await startServices(group, already: started, token: token, dryRun: dryRun)
        return actions
    }

    private func startServices(_ group: ResourceGroup, already: [String], token: UInt64, dryRun: Bool) async -> [ReconcileAction] {
        var actions: [ReconcileAction] = []
        for service in group.services where !already.contains(service.name) {
            // A unit is started only while the group is still wanted here (a release may be under way).
            guard dryRun || mayAcquire(group.name) else { return actions }
            let action = await perform(.startService, group.name, service.unit, dryRun: dryRun) { () throws(SFHAError) in
                try await self.effects.services.start(service.unit)
                return true
            }
            actions.append(action)
            if dryRun { continue }
            if token != generation {
                // Released meanwhile: the release stopped the group's services, but this one started after it.
                actions.append(await perform(.stopService, group.name, service.unit, dryRun: false) { () throws(SFHAError) in
                    try await self.effects.services.stop(service.unit)
                    return true
                })
                return actions
            }
            if let index = held.firstIndex(where: { $0.name == group.name }) {
                held[index].started.append(service.name)
            }
            if case .failed(let why) = action.outcome {
                actions += await recordFailure(group: group.name, service: service, reason: "start failed: \(why)", dryRun: false)
            }
        }
        return actions
    }

    /// A VIP of the group could not be added here: the group fails on this node until the failure is cleared or the
    /// VIP is changed or removed (as Pacemaker's start failures: a retry would fail the same way, every second).
    private func recordVIPFailure(group: String, vip: VirtualIP, reason: String) -> [ReconcileAction] {
        let key = FailureKey(group: group, service: vip.name)
        var state = failures[key] ?? FailureState()
        state.failures += 1
        state.lastReason = "VIP \(vip.name) (\(Self.describe(vip))) cannot be applied here: \(reason)"
        state.failed = true
        state.blockedUntil = nil
        state.vip = vip
        failures[key] = state
        return [ReconcileAction(kind: .groupFailed, group: group, resource: Self.describe(vip), outcome: .failed(state.lastReason))]
    }

    /// Drops from each held group's started list the units systemd no longer reports active (stopped by hand during
    /// maintenance), so the next repair starts them again.
    private func forgetInactiveServices() async {
        for index in held.indices {
            var stillActive: [String] = []
            for name in held[index].started {
                guard let service = held[index].definition.services.first(where: { $0.name == name }) else { continue }
                if (try? await effects.services.isActive(service.unit)) != false { stillActive.append(name) }
            }
            held[index].started = stillActive
        }
    }

    /// Gives a group back after a failed acquire: its VIPs go, nothing was started.
    private func abandon(_ group: ResourceGroup, dryRun: Bool, reason: String = "a VIP could not be added") async -> [ReconcileAction] {
        guard !dryRun else { return [] }
        held.removeAll { $0.name == group.name }
        var actions: [ReconcileAction] = []
        for vip in group.vips.reversed() {
            await effects.announcer.cancel(vip)
            let action = await removeVIP(vip, group: group.name, dryRun: false)
            if action.outcome != .unchanged { actions.append(action) }
        }
        actions.append(ReconcileAction(kind: .acquireRefused, group: group.name, resource: group.name, outcome: .refused(reason)))
        return actions
    }

    private func checkDuplicates(_ vips: [VirtualIP]) async -> [(VirtualIP, Result<DuplicateCheckResult, SFHAError>, Duration)] {
        let checker = effects.duplicates
        return await withTaskGroup(of: (Int, Result<DuplicateCheckResult, SFHAError>, Duration).self) { tasks in
            for (index, vip) in vips.enumerated() {
                tasks.addTask {
                    let start = ContinuousClock.now
                    let result: Result<DuplicateCheckResult, SFHAError>
                    do throws(SFHAError) {
                        result = .success(try await checker.check(vip))
                    } catch {
                        result = .failure(error)
                    }
                    return (index, result, ContinuousClock.now - start)
                }
            }
            var results: [(Int, Result<DuplicateCheckResult, SFHAError>, Duration)] = []
            for await result in tasks { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map { (vips[$0.0], $0.1, $0.2) }
        }
    }

    private func addVIP(_ vip: VirtualIP, group: String, dryRun: Bool) async -> ReconcileAction {
        let action = await perform(.addVIP, group, Self.describe(vip), dryRun: dryRun) { () throws(SFHAError) in
            try await self.effects.addresses.add(vip).changed
        }
        if !dryRun && (action.outcome == .done || action.outcome == .unchanged) { leased.insert(vip) }
        return action
    }

    private func removeVIP(_ vip: VirtualIP, group: String, dryRun: Bool) async -> ReconcileAction {
        let action = await perform(.removeVIP, group, Self.describe(vip), dryRun: dryRun) { () throws(SFHAError) in
            try await self.effects.addresses.remove(vip).changed
        }
        if case .failed = action.outcome, !pendingRemoval.contains(vip) { pendingRemoval.append(vip) }
        // Whoever removes it, someone else may hold it next: the next acquire here probes again.
        if !dryRun {
            duplicateChecked.remove(vip.address)
            leased.remove(vip)
        }
        return action
    }

    private func announce(_ vip: VirtualIP, group: String, dryRun: Bool) async -> ReconcileAction {
        await perform(.announce, group, Self.describe(vip), dryRun: dryRun) { () throws(SFHAError) in
            _ = try await self.effects.announcer.announce(vip)
            return true
        }
    }

    private func retryPendingRemovals(dryRun: Bool) async -> [ReconcileAction] {
        guard !pendingRemoval.isEmpty, !dryRun else { return [] }
        let vips = pendingRemoval
        pendingRemoval = []
        var actions: [ReconcileAction] = []
        for vip in vips where !held.contains(where: { group in group.definition.vips.contains(vip) }) {
            actions.append(await removeVIP(vip, group: groupName(of: vip) ?? "", dryRun: false))
        }
        return actions
    }

    /// Configured VIPs of groups not in `keeping` (and not held) that sit on the machine: removed. Addresses that
    /// are not configured VIPs are never considered.
    private func sweepStrayVIPs(keeping: Set<String>, present: inout [String: [InterfaceAddress]], dryRun: Bool) async
        -> [ReconcileAction]
    {
        var actions: [ReconcileAction] = []
        let heldNames = Set(held.map(\.name))
        for group in definitions where !keeping.contains(group.name) && !heldNames.contains(group.name) {
            for vip in group.vips where isPresent(vip, in: present) {
                // The same address may also belong to a group being kept: then it stays.
                let keptElsewhere = definitions.contains { other in
                    (keeping.contains(other.name) || heldNames.contains(other.name)) && other.vips.contains { $0.address == vip.address }
                }
                guard !keptElsewhere else { continue }
                if !dryRun { await effects.announcer.cancel(vip) }
                let action = await removeVIP(vip, group: group.name, dryRun: dryRun)
                actions.append(action)
                if !dryRun && action.outcome == .done {
                    present[vip.interface]?.removeAll { $0.address == vip.address }
                }
            }
        }
        return actions
    }

    private func listConfiguredInterfaces() async -> [String: [InterfaceAddress]] {
        var result: [String: [InterfaceAddress]] = [:]
        for interface in Set(definitions.flatMap { $0.vips.map(\.interface) }).sorted() {
            // An interface that cannot be listed (missing) counts as holding nothing; adds will report the error.
            result[interface] = (try? await effects.addresses.addresses(on: interface)) ?? []
        }
        return result
    }

    private func isPresent(_ vip: VirtualIP, in present: [String: [InterfaceAddress]]) -> Bool {
        present[vip.interface]?.contains { $0.address == vip.address } ?? false
    }

    private func groupName(of vip: VirtualIP) -> String? {
        definitions.first { $0.vips.contains(vip) }?.name
    }

    /// Runs one effect, timing it. `body` returns whether it changed anything.
    private func perform(
        _ kind: ReconcileAction.Kind, _ group: String, _ resource: String, dryRun: Bool,
        _ body: () async throws(SFHAError) -> Bool
    ) async -> ReconcileAction {
        guard !dryRun else {
            return ReconcileAction(kind: kind, group: group, resource: resource, outcome: .skipped("maintenance mode"))
        }
        let start = ContinuousClock.now
        let outcome: ReconcileAction.Outcome
        do throws(SFHAError) {
            outcome = try await body() ? .done : .unchanged
        } catch {
            outcome = .failed(error.message)
        }
        return ReconcileAction(kind: kind, group: group, resource: resource, outcome: outcome, duration: ContinuousClock.now - start)
    }

    static func describe(_ vip: VirtualIP) -> String { "\(vip.cidr) dev \(vip.interface)" }

    // MARK: - Serialization of apply-like calls (releaseEverything bypasses it)

    private func lock() async {
        if !busy {
            busy = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    private func unlock() {
        if waiters.isEmpty {
            busy = false
        } else {
            waiters.removeFirst().resume()
        }
    }
}
