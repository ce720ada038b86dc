import CorosyncKit
import Foundation
import SFHABase

/// The outcome of an operator change to the replicated configuration.
public struct ChangeResult: Sendable, Equatable, Codable {
    public var changed: Bool
    public var revision: UInt64
    public var message: String
    /// False when the change is committed but this node could not write it to disk (it lives in memory only).
    public var persisted: Bool

    public init(changed: Bool, revision: UInt64, message: String, persisted: Bool = true) {
        self.changed = changed
        self.revision = revision
        self.message = message
        self.persisted = persisted
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        changed = try container.decode(Bool.self, forKey: .changed)
        revision = try container.decode(UInt64.self, forKey: .revision)
        message = try container.decode(String.self, forKey: .message)
        persisted = try container.decodeIfPresent(Bool.self, forKey: .persisted) ?? true
    }
}

/// Operator operations (the control API's handlers call these). None of them touches corosync: configuration
/// edits become a committed revision of the cluster document (CPG, in order), runtime requests become replicated
/// commands, and every daemon applies them itself.
extension DaemonRuntime {
    /// How long an operator waits for the process group to deliver a proposal back.
    static let proposalTimeout: Duration = .seconds(5)
    /// How long `failover` waits for placement to honour the request before cancelling it.
    static let moveTimeout: Duration = .seconds(10)

    // MARK: - Configuration changes

    /// Applies `edit` to the committed configuration and commits the result cluster-wide. A change that lost a race
    /// with another one is re-applied on the newer revision (up to three times) and the answer says so; without
    /// quorum it is refused and nothing changes.
    public func change(
        _ what: String, _ edit: @Sendable (ClusterConfiguration) throws(SFHAError) -> ClusterConfiguration
    ) async throws(SFHAError) -> ChangeResult {
        var merged: [UInt64] = []
        for _ in 1...3 {
            guard state.inProcessGroup else {
                throw SFHAError(.unavailable, "sfhad is not in the sfha process group yet (is corosync running?); \(what) was not applied")
            }
            guard state.view.quorate else {
                throw SFHAError(.notQuorate, "this node's partition has no quorum: \(what) is refused until it has; nothing was changed")
            }
            let base = state.document
            let edited = try edit(base.configuration)
            guard ClusterDocument.contentHash(of: edited) != base.contentHash else {
                return ChangeResult(changed: false, revision: base.revision, message: "\(what): nothing to change (revision \(base.revision))")
            }
            let id = UUID().uuidString
            let verdict = await propose(state.propose(edited, id: id), id: id)
            switch verdict {
            case .committed(let revision)?:
                let note = merged.isEmpty ? "" : " (re-applied on top of revision \(merged.map(String.init).joined(separator: ", ")) committed concurrently)"
                if let problem = await documents.ensureWritten(state.document) {
                    return ChangeResult(
                        changed: true, revision: revision,
                        message: "\(what): committed as revision \(revision)\(note) cluster-wide, but NOT saved on this node: \(problem)",
                        persisted: false)
                }
                return ChangeResult(changed: true, revision: revision, message: "\(what): committed as revision \(revision)\(note)")
            case .unchanged(let revision)?:
                return ChangeResult(changed: false, revision: revision, message: "\(what): nothing to change (revision \(revision))")
            case .conflict(_, let current)?:
                merged.append(current)
                continue
            case .noQuorum?:
                throw SFHAError(.notQuorate, "the partition lost quorum before \(what) was committed; nothing was changed")
            case .twoNodeIncomplete?:
                throw SFHAError(
                    .notQuorate,
                    "\(what) refused: this two-node cluster has one node present, and a change made on each side of a partition "
                        + "would be lost when it heals; nothing was changed — try again when both nodes are up")
            case .invalid(let why)?:
                throw SFHAError(.invalidArgument, "\(what) refused by the cluster: \(why); nothing was changed")
            case nil:
                throw SFHAError(
                    .timeout,
                    "no verdict for \(what) within \(Self.proposalTimeout.sfhaText) (the process group did not deliver it); run 'sfha status' "
                        + "to see whether the revision changed before trying again")
            }
        }
        throw SFHAError(.conflict, "\(what) kept conflicting with concurrent changes; nothing was changed, try again")
    }

    /// Sends a membership proposal and waits for its verdict (nil: not delivered in time).
    func proposeMembership(_ message: ClusterMessage, id: String) async -> DaemonState.ProposalVerdict? {
        await propose(message, id: id)
    }

    /// Sends a proposal and waits for its verdict (nil: not delivered in time).
    private func propose(_ message: ClusterMessage, id: String) async -> DaemonState.ProposalVerdict? {
        await withCheckedContinuation { (continuation: CheckedContinuation<DaemonState.ProposalVerdict?, Never>) in
            pendingProposals[id] = continuation
            send(message)
            Task {
                try? await Task.sleep(for: Self.proposalTimeout)
                self.expireProposal(id)
            }
        }
    }

    private func expireProposal(_ id: String) {
        pendingProposals.removeValue(forKey: id)?.resume(returning: nil)
    }

    public func addVIP(name: String, cidr: String, interface: String?, group: String?) async throws(SFHAError) -> ChangeResult {
        let device = interface ?? VirtualIP.defaultInterface
        if Validators.interfaceName(device) == nil {
            // Checked where it can be: this node. A VIP on a device it lacks would fail here at run time.
            do throws(SFHAError) {
                _ = try await effects.addresses.addresses(on: device)
            } catch {
                throw SFHAError(
                    .invalidArgument,
                    "VIP \(name) refused: interface \(device) cannot be used on \(state.nodeName) (\(error.message)); name an interface "
                        + "that exists on every node that may hold the group (see 'ip link'); nothing was changed")
            }
        }
        // And on every node that said which interfaces it has: the group may go to any of them.
        let banned = Set(state.document.configuration.bannedNodes[group ?? ResourceGroup.defaultName] ?? [])
        let lacking = state.view.reports.values.filter { report in
            !banned.contains(report.name) && report.interfaces.map { !$0.contains(device) } ?? false
        }.map(\.name).sorted()
        if !lacking.isEmpty {
            throw SFHAError(
                .invalidArgument,
                "VIP \(name) refused: \(lacking.joined(separator: ", ")) \(lacking.count == 1 ? "has" : "have") no interface \(device); name an "
                    + "interface that exists on every node that may hold the group (see 'ip link' there), or ban those nodes from the "
                    + "group first ('sfha failover GROUP --ban NODE'); nothing was changed")
        }
        return try await change("adding VIP \(name)") { configuration throws(SFHAError) in
            try configuration.addingVIP(
                name: name, cidr: cidr, interface: interface ?? VirtualIP.defaultInterface, group: group ?? ResourceGroup.defaultName)
        }
    }

    public func removeVIP(name: String) async throws(SFHAError) -> ChangeResult {
        try await change("removing VIP \(name)") { configuration throws(SFHAError) in try configuration.removingVIP(named: name) }
    }

    public func addService(_ request: ServiceAddRequest) async throws(SFHAError) -> ChangeResult {
        var check: HealthCheck?
        if let text = request.check {
            check = try HealthCheck.parseShortForm(
                text, service: request.name, interval: request.checkInterval, timeout: request.checkTimeout,
                critical: request.critical ?? false)
        } else if request.checkInterval != nil || request.checkTimeout != nil {
            throw SFHAError(.invalidArgument, "--check-interval and --check-timeout need --check; nothing was changed")
        }
        let unit = request.unit ?? request.name
        // Checked where it can be: this node. An answer that cannot be had (systemd busy) refuses nothing.
        if Validators.unitName(unit) == nil, (try? await effects.services.exists(unit)) == false {
            throw SFHAError(
                .invalidArgument,
                "service \(request.name) refused: systemd on \(state.nodeName) has no unit \(unit) (install its unit file on every "
                    + "node that may hold the group, then add it again); nothing was changed")
        }
        return try await change("adding service \(request.name)") { [check] configuration throws(SFHAError) in
            try configuration.addingService(
                name: request.name, unit: request.unit, group: request.group ?? ResourceGroup.defaultName,
                critical: request.critical ?? false, restart: request.restart ?? false, healthCheck: check)
        }
    }

    public func removeService(name: String) async throws(SFHAError) -> ChangeResult {
        try await change("removing service \(name)") { configuration throws(SFHAError) in
            try configuration.removingService(named: name)
        }
    }

    /// Puts `node` (this node when nil) in standby or takes it out, cluster-wide and persistently (a new revision:
    /// it survives a daemon restart and a reboot). The node must be one corosync knows.
    public func setStandby(node requested: String?, _ on: Bool) async throws(SFHAError) -> ChangeResult {
        let node = requested ?? state.nodeName
        try checkKnownNode(node)
        return try await change(on ? "standby on for \(node)" : "standby off for \(node)") { configuration throws(SFHAError) in
            try configuration.settingStandby(node, on)
        }
    }

    /// Nodes corosync or the process group know of (a name outside them is a typo, refused).
    private func checkKnownNode(_ node: String) throws(SFHAError) {
        let known = Set(state.view.reports.keys).union(state.facts?.nodeNames.values.map { $0 } ?? []).union([state.nodeName])
        guard known.contains(node) else {
            throw SFHAError(.notFound, "there is no node named '\(node)' in this cluster (nodes: \(known.sorted().joined(separator: ", ")))")
        }
    }

    /// Bans `node` from `group`, cluster-wide and persistently (`cluster.banned_nodes`), then waits (at most
    /// `moveTimeout`) until the group has left that node and says where it went, or why it has no holder.
    public func ban(group: String, node: String) async throws(SFHAError) -> ChangeResult {
        try checkKnownNode(node)
        var result = try await change("ban of \(node) from group \(group)") { configuration throws(SFHAError) in
            try configuration.settingBan(group: group, node: node, true)
        }
        func left() -> Bool { state.view.reports[node]?.holdings.contains(group) != true }
        func settled() -> Bool {
            guard left(), let assignment = state.lastPlacement?.assignment(of: group) else { return false }
            guard let holder = assignment.holder else { return true }
            return state.view.reports[holder]?.running.contains(group) == true
        }
        await waitForPlacement(settled)
        let assignment = state.lastPlacement?.assignment(of: group)
        if !left() {
            result.message += "; \(node) still holds \(group) (\(assignment?.reason.description ?? "not decided"))"
        } else if let holder = assignment?.holder, state.view.reports[holder]?.running.contains(group) == true {
            result.message += "; \(group) is on \(holder)"
        } else {
            result.message += "; \(group) has no holder: \(assignment?.reason.description ?? "not decided")"
        }
        return result
    }

    /// Lifts the bans of `group` (of every group when nil).
    public func clearBans(group: String?) async throws(SFHAError) -> ChangeResult {
        try await change("clearing the bans of \(group.map { "group \($0)" } ?? "every group")") { configuration throws(SFHAError) in
            try configuration.clearingBans(group: group)
        }
    }

    public func setMaintenance(_ on: Bool) async throws(SFHAError) -> ChangeResult {
        try await change(on ? "maintenance on" : "maintenance off") { $0.settingMaintenance(on) }
    }

    // MARK: - Runtime requests

    /// Moves `group` (every group when nil) to `target`, or away from its holder when `target` is nil, and waits
    /// until placement honours it. A request that cannot be honoured is cancelled and the reason returned as an error.
    public func failover(group requested: String?, to target: String?) async throws(SFHAError) -> ChangeResult {
        let configuration = state.document.configuration
        let groups: [String]
        if let requested {
            guard configuration.group(named: requested) != nil else {
                throw SFHAError(.notFound, "there is no group named '\(requested)' (groups: \(configuration.groups.map(\.name).joined(separator: ", ")))")
            }
            groups = [requested]
        } else {
            groups = configuration.groups.map(\.name)
        }
        guard !groups.isEmpty else { throw SFHAError(.invalidState, "the configuration has no group to move") }
        guard state.view.quorate || !configuration.quorumRequired else {
            throw SFHAError(.notQuorate, "this node's partition has no quorum: nothing can move")
        }
        guard !configuration.maintenance else {
            throw SFHAError(.invalidState, "maintenance mode is on: placement is frozen ('sfha maintenance off' first)")
        }
        if let target { try checkTarget(target, for: groups) }
        var requests: [String: MoveRequest] = [:]
        var already: [String] = []
        for name in groups {
            if let target {
                // Nothing to move: say so rather than "moved".
                if state.view.reports[target]?.running.contains(name) == true, state.lastPlacement?.holder(of: name) == target {
                    already.append(name)
                    continue
                }
                requests[name] = .to(target)
            } else if let holder = state.lastPlacement?.holder(of: name) {
                requests[name] = .awayFrom(holder)
            }
        }
        if requests.isEmpty, let target, !already.isEmpty {
            return ChangeResult(
                changed: false, revision: state.document.revision,
                message: "\(already.joined(separator: ", ")) \(already.count == 1 ? "is" : "are") already on \(target): nothing moved")
        }
        guard !requests.isEmpty else { throw SFHAError(.invalidState, "no group is held by any node: there is nothing to move") }
        for (name, request) in requests.sorted(by: { $0.key < $1.key }) { send(.command(.move(group: name, request: request))) }

        // Done once placement honours the request and the new holder reports the group up (VIPs added, services
        // started) — not merely claimed.
        func done(_ name: String) -> Bool {
            guard state.view.moveRequests[name] == nil, state.view.moveSatisfied(name, requests[name]!) else { return false }
            return state.view.reports.values.contains { $0.running.contains(name) && state.lastPlacement?.holder(of: name) == $0.name }
        }
        await waitForPlacement { requests.keys.allSatisfy(done) }
        var moved: [String] = []
        var stuck: [String] = []
        for name in requests.keys.sorted() {
            if done(name) {
                moved.append("\(name) → \(state.view.reports.values.first { $0.running.contains(name) }?.name ?? "?")")
            } else {
                stuck.append("\(name): \(whyNotMoved(name, request: requests[name]!))")
                send(.command(.move(group: name, request: nil)))
            }
        }
        guard stuck.isEmpty else {
            throw SFHAError(.invalidState, "could not move \(stuck.joined(separator: "; ")); the request was cancelled\(moved.isEmpty ? "" : " (moved: \(moved.joined(separator: ", ")))")")
        }
        return ChangeResult(changed: true, revision: state.document.revision, message: "moved \(moved.joined(separator: ", "))")
    }

    /// Waits (at most `moveTimeout`) until `condition` holds on this node's view; the core loop runs meanwhile.
    func waitForPlacement(_ condition: () -> Bool) async {
        let clock = ContinuousClock()
        let deadline = clock.now + Self.moveTimeout
        while clock.now < deadline, !condition() { try? await Task.sleep(for: .milliseconds(20)) }
    }

    private func checkTarget(_ target: String, for groups: [String]) throws(SFHAError) {
        let view = state.view
        guard let report = view.reports[target] else {
            let known = view.reports.keys.sorted().joined(separator: ", ")
            throw SFHAError(.notFound, "'\(target)' is not a node whose sfhad runs in this partition (alive: \(known))")
        }
        if report.standby { throw SFHAError(.invalidState, "\(target) is in standby: run 'sfha unstandby' on it first") }
        if !report.healthy { throw SFHAError(.invalidState, "\(target)'s node health checks are failing: see 'sfha health' on it") }
        if !report.proven { throw SFHAError(.invalidState, "\(target) is not proven to be in the quorate ring now; try again in a moment") }
        let blocked = groups.filter(report.blockedGroups.contains)
        if !blocked.isEmpty {
            throw SFHAError(
                .invalidState,
                "\(target) may not hold \(blocked.joined(separator: ", ")): over its failure limit there (see 'sfha health' on it); "
                    + "'sfha resource cleanup \(blocked[0]) --node \(target)' first")
        }
    }

    /// Why a move did not happen: the target's own reason first (what the operator can fix), else placement's.
    private func whyNotMoved(_ group: String, request: MoveRequest) -> String {
        if case .to(let target) = request, let report = state.view.reports[target] {
            if report.blockedGroups.contains(group) { return "\(target) is over its failure limit for it ('sfha resource cleanup \(group) --node \(target)')" }
            if report.standby { return "\(target) went into standby" }
            if !report.healthy { return "\(target)'s node health checks are failing" }
            if report.holdings.contains(group) && !report.running.contains(group) { return "\(target) holds it but has not brought it up yet" }
        }
        return state.lastPlacement?.assignment(of: group)?.reason.description ?? "not decided"
    }

    /// Forgets failures (of one group, or all) on one node or every node, so blocked groups may run there again.
    public func cleanup(group: String?, node: String?) async throws(SFHAError) -> ChangeResult {
        if let group, state.document.configuration.group(named: group) == nil {
            throw SFHAError(.notFound, "there is no group named '\(group)'")
        }
        guard state.inProcessGroup else { throw SFHAError(.unavailable, "sfhad is not in the sfha process group yet") }
        send(.command(.cleanup(group: group, node: node)))
        return ChangeResult(
            changed: true, revision: state.document.revision,
            message: "failures of \(group.map { "group \($0)" } ?? "every group") cleared on \(node ?? "every node")")
    }

    // MARK: - Reload

    /// Re-reads config.yml: node settings (priority, log level) apply here at once; when the file's cluster part
    /// changed since it was last read, it is committed as the next revision. An invalid file changes nothing. The
    /// file is read and parsed beside the core loop (a huge or hostile file never stalls it).
    /// Re-reads config.yml (`sfha reload`, SIGHUP). Node settings apply at once. The cluster part is committed
    /// when it changed since sfhad last read it; when that would remove anything from the live document, the
    /// removals must be exactly `confirmedRemovals` (what `sfha reload` showed and the operator confirmed) or
    /// nothing is changed — SIGHUP confirms nothing, so a stale file can never silently drop what `vip add` added.
    public nonisolated func reload(
        path: String, confirmedRemovals: [String]? = nil, applyLogLevel: @Sendable (LogLevel) -> Void
    ) async throws(SFHAError) -> ChangeResult {
        let loaded = try await loadForReload(path: path)
        return try await apply(reloaded: loaded, path: path, confirmedRemovals: confirmedRemovals, applyLogLevel: applyLogLevel)
    }

    /// What `reload` would do with config.yml as it is now, changing nothing (`sfha reload --dry-run`).
    public nonisolated func reloadPlan(path: String) async throws(SFHAError) -> ReloadPlan {
        let loaded = try await loadForReload(path: path)
        return await plan(for: loaded, path: path)
    }

    private nonisolated func loadForReload(path: String) async throws(SFHAError) -> SFHAConfiguration {
        do {
            return try await Self.loadConfiguration(path: path)
        } catch {
            let failure = SFHAError(.invalidConfiguration, "\(path) is invalid, the running configuration is kept: \(error)")
            await logReloadRefusal(failure)
            throw failure
        }
    }

    /// Reads and parses config.yml on a thread of its own.
    static func loadConfiguration(path: String) async throws(ConfigurationError) -> SFHAConfiguration {
        let result: Result<SFHAConfiguration, ConfigurationError> = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                do throws(ConfigurationError) {
                    continuation.resume(returning: .success(try SFHAConfiguration.load(path: path)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    private func logReloadRefusal(_ error: SFHAError) { logger.error("reload refused: \(error.message)") }

    private func plan(for loaded: SFHAConfiguration, path: String) -> ReloadPlan {
        var settings: [String] = []
        if loaded.node.name != nodeConfiguration.name {
            settings.append("node.name \(nodeConfiguration.name) → \(loaded.node.name): refused (restart sfhad for that)")
        }
        if loaded.node.priority != nodeConfiguration.priority {
            settings.append("priority \(nodeConfiguration.priority) → \(loaded.node.priority)")
        }
        if loaded.node.logLevel != nodeConfiguration.logLevel {
            settings.append("log level \(nodeConfiguration.logLevel.rawValue) → \(loaded.node.logLevel.rawValue)")
        }
        let fileHash = ClusterDocument.contentHash(of: loaded.cluster)
        let changedSinceRead = fileHash != seededClusterHash
        let diff = ConfigurationDiff(from: state.document.configuration, to: loaded.cluster)
        let note: String
        if !changedSinceRead && !diff.isEmpty {
            note = "the cluster part of \(path) has not changed since sfhad last read it, so reloading commits nothing; it differs "
                + "from the live document (revision \(state.document.revision)) as listed — 'sfha config export' shows the live one"
        } else if diff.isEmpty {
            note = "the cluster part of \(path) equals the live document (revision \(state.document.revision))"
        } else {
            note = "reloading commits these changes cluster-wide as revision \(state.document.revision + 1)"
                + (diff.removals.isEmpty ? "" : "; the removals must be confirmed")
        }
        return ReloadPlan(
            path: path, liveRevision: state.document.revision, changedSinceRead: changedSinceRead,
            commits: changedSinceRead && !diff.isEmpty, diff: diff, nodeSettings: settings, warnings: loaded.warnings.map { "\($0)" }, note: note)
    }

    private func apply(
        reloaded loaded: SFHAConfiguration, path: String, confirmedRemovals: [String]?, applyLogLevel: @Sendable (LogLevel) -> Void
    ) async throws(SFHAError) -> ChangeResult {
        guard loaded.node.name == nodeConfiguration.name else {
            let failure = SFHAError(
                .invalidArgument, "node.name changed from \(nodeConfiguration.name) to \(loaded.node.name) in \(path): restart sfhad for that")
            logReloadRefusal(failure)
            throw failure
        }
        let plan = plan(for: loaded, path: path)
        if plan.commits, !plan.diff.removals.isEmpty, Set(confirmedRemovals ?? []) != Set(plan.diff.removals) {
            let failure = SFHAError(
                .conflict,
                "reloading \(path) would remove \(plan.diff.removals.joined(separator: ", ")) cluster-wide, and that was not confirmed"
                    + (confirmedRemovals == nil ? "" : " (the file changed since it was shown)")
                    + "; nothing was changed. See 'sfha reload --dry-run', then run 'sfha reload' and confirm (or 'sfha reload --yes')")
            logReloadRefusal(failure)
            throw failure
        }
        var notes: [String] = []
        if loaded.node.priority != nodeConfiguration.priority {
            handle(.setPriority(loaded.node.priority))
            notes.append("priority \(nodeConfiguration.priority) → \(loaded.node.priority)")
        }
        if loaded.node.logLevel != nodeConfiguration.logLevel {
            applyLogLevel(loaded.node.logLevel)
            notes.append("log level \(loaded.node.logLevel.rawValue)")
        }
        nodeConfiguration = loaded.node
        let fileHash = ClusterDocument.contentHash(of: loaded.cluster)
        var revision = state.document.revision
        if plan.changedSinceRead {
            let summary = plan.diff.summary
            let result: ChangeResult
            do {
                result = try await change("the cluster configuration from \(path)\(summary.isEmpty ? "" : " (\(summary))")") { _ in loaded.cluster }
            } catch {
                logReloadRefusal(error)
                throw error
            }
            seededClusterHash = fileHash
            revision = result.revision
            notes.append(result.message)
        } else {
            notes.append("cluster part of \(path) unchanged since it was last read (revision \(revision) kept)")
        }
        for warning in loaded.warnings { logger.warning("\(warning)") }
        logger.notice("configuration reloaded: \(notes.joined(separator: "; "))")
        logDriftIfAny(force: true)
        return ChangeResult(changed: true, revision: revision, message: "reloaded: \(notes.joined(separator: "; "))")
    }

    /// When this node's config.yml (its cluster part as last read) is not the live document: which one won and
    /// why, and what to do. Nil when they agree.
    var configurationDrift: String? {
        guard seededClusterHash != state.document.contentHash else { return nil }
        let revision = state.document.revision
        let why = revision == 1
            ? "another node's config.yml seeded the cluster (nodes that start from different files all adopt the one with the "
                + "smallest content hash)"
            : "the live document is revision \(revision): changes committed since (sfha vip/service/maintenance commands, a "
                + "reload on another node) win over a file"
        return "this node's config.yml differs from the live cluster document, which won: \(why). 'sfha config export' shows "
            + "the live document; 'sfha reload --dry-run' shows what reloading this file would change"
    }

    // MARK: - Read-only views

    /// This node's view of every resource: configured, and present/active here (asked of the system beside the core
    /// loop).
    public nonisolated func resources() async -> ResourcesReport {
        let (configuration, placement, node) = await resourcesContext()
        var vips: [ResourcesReport.VIP] = []
        var services: [ResourcesReport.Service] = []
        for group in configuration.groups {
            let holder = placement?.holder(of: group.name)
            for vip in group.vips {
                let present = (try? await effects.addresses.isPresent(vip)) ?? false
                vips.append(.init(name: vip.name, address: vip.cidr, interface: vip.interface, group: group.name, holder: holder, presentHere: present))
            }
            for service in group.services {
                let active = (try? await effects.services.isActive(service.unit)) ?? false
                services.append(.init(name: service.name, unit: service.systemdUnitName, group: group.name, holder: holder, activeHere: active))
            }
        }
        return ResourcesReport(node: node, vips: vips, services: services)
    }

    private func resourcesContext() -> (ClusterConfiguration, Placement?, String) {
        (state.document.configuration, state.lastPlacement, state.nodeName)
    }

    /// Health checks running here, and the failures the reconciler counts.
    public func healthReport() async -> HealthReport {
        let live = await healthMonitor?.statuses ?? [:]
        let checks = activeChecks.map(\.name).map { name in
            let status = live[name] ?? checkStatuses[name]
            return HealthReport.Check(
                name: name, healthy: status?.healthy ?? true, probes: status?.probes ?? 0,
                consecutiveFailures: status?.consecutiveFailures ?? 0, consecutiveSuccesses: status?.consecutiveSuccesses ?? 0,
                lastResult: status?.lastResult.map { "\($0)" })
        }
        let failures = await reconciler.failureRecords.map { record in
            HealthReport.Failure(
                group: record.group, service: record.service, unit: record.unit, failures: record.failures,
                restartsInWindow: record.restartsInWindow, failed: record.failed, lastReason: record.lastReason)
        }
        return HealthReport(node: state.nodeName, nodeHealthy: state.report.healthy, checks: checks, failures: failures)
    }

    /// Groups and the rules between them, as the daemon applies them.
    public func constraintsReport() -> ConstraintsReport {
        let configuration = state.document.configuration
        return ConstraintsReport(
            constraints: configuration.constraints.map(\.description),
            groups: configuration.groups.map {
                .init(name: $0.name, resources: $0.resourceNames, colocatedWith: $0.colocatedWith, startAfter: $0.startAfter,
                      requiredChecks: $0.requiredChecks)
            })
    }
}

/// `POST /v1/reload`: the removals the operator confirmed (exactly those `GET /v1/reload/plan` listed).
public struct ReloadRequest: Sendable, Equatable, Codable {
    public var confirmedRemovals: [String]?

    public init(confirmedRemovals: [String]? = nil) { self.confirmedRemovals = confirmedRemovals }
}

/// `GET /v1/reload/plan` (`sfha reload --dry-run`): what reloading config.yml now would do; nothing changes.
public struct ReloadPlan: Sendable, Equatable, Codable {
    public var path: String
    public var liveRevision: UInt64
    /// The file's cluster part changed since sfhad last read it (only then does a reload commit it).
    public var changedSinceRead: Bool
    /// A reload would commit `diff` as the next revision.
    public var commits: Bool
    /// From the live document to the file's cluster part.
    public var diff: ConfigurationDiff
    /// Node settings that would change (priority, log level).
    public var nodeSettings: [String]
    public var warnings: [String]
    public var note: String

    public init(
        path: String, liveRevision: UInt64, changedSinceRead: Bool, commits: Bool, diff: ConfigurationDiff, nodeSettings: [String],
        warnings: [String], note: String
    ) {
        self.path = path
        self.liveRevision = liveRevision
        self.changedSinceRead = changedSinceRead
        self.commits = commits
        self.diff = diff
        self.nodeSettings = nodeSettings
        self.warnings = warnings
        self.note = note
    }
}

/// `POST /v1/ban`: keep `group` off `node`.
public struct BanRequest: Sendable, Equatable, Codable {
    public var group: String
    public var node: String

    public init(group: String, node: String) {
        self.group = group
        self.node = node
    }
}

/// `POST /v1/unban`: lift the bans of `group` (every group when absent).
public struct ClearBansRequest: Sendable, Equatable, Codable {
    public var group: String?

    public init(group: String? = nil) { self.group = group }
}

/// `POST /v1/standby`, `/v1/unstandby`: the node (this one when absent).
public struct StandbyRequest: Sendable, Equatable, Codable {
    public var node: String?

    public init(node: String? = nil) { self.node = node }
}

public struct ServiceAddRequest: Sendable, Equatable, Codable {
    public var name: String
    public var unit: String?
    public var group: String?
    public var critical: Bool?
    public var restart: Bool?
    /// A health check in `HealthCheck.parseShortForm`'s form, with its interval and timeout as durations.
    public var check: String?
    public var checkInterval: String?
    public var checkTimeout: String?

    public init(
        name: String, unit: String? = nil, group: String? = nil, critical: Bool? = nil, restart: Bool? = nil,
        check: String? = nil, checkInterval: String? = nil, checkTimeout: String? = nil
    ) {
        self.name = name
        self.unit = unit
        self.group = group
        self.critical = critical
        self.restart = restart
        self.check = check
        self.checkInterval = checkInterval
        self.checkTimeout = checkTimeout
    }
}

public struct ResourcesReport: Sendable, Equatable, Codable {
    public struct VIP: Sendable, Equatable, Codable {
        public var name: String
        public var address: String
        public var interface: String
        public var group: String
        public var holder: String?
        public var presentHere: Bool
    }
    public struct Service: Sendable, Equatable, Codable {
        public var name: String
        public var unit: String
        public var group: String
        public var holder: String?
        public var activeHere: Bool
    }
    public var node: String
    public var vips: [VIP]
    public var services: [Service]
}

public struct HealthReport: Sendable, Equatable, Codable {
    public struct Check: Sendable, Equatable, Codable {
        public var name: String
        public var healthy: Bool
        public var probes: Int
        public var consecutiveFailures: Int
        public var consecutiveSuccesses: Int
        public var lastResult: String?
    }
    public struct Failure: Sendable, Equatable, Codable {
        public var group: String
        public var service: String
        public var unit: String
        public var failures: Int
        public var restartsInWindow: Int
        public var failed: Bool
        public var lastReason: String
    }
    public var node: String
    public var nodeHealthy: Bool
    public var checks: [Check]
    public var failures: [Failure]
}

public struct ConstraintsReport: Sendable, Equatable, Codable {
    public struct Group: Sendable, Equatable, Codable {
        public var name: String
        public var resources: [String]
        public var colocatedWith: [String]
        public var startAfter: [String]
        public var requiredChecks: [String]
    }
    public var constraints: [String]
    public var groups: [Group]
}

/// `GET /v1/config` (`sfha config export`): the live cluster document as a loadable config.yml (with this node's
/// `node:` and `logging:` sections), and as JSON. Secrets are replaced by `<redacted>` unless asked for.
public struct ConfigurationExport: Sendable, Equatable, Codable {
    public var revision: UInt64
    public var hash: String
    public var secretsIncluded: Bool
    public var yaml: String
    public var configuration: ClusterConfiguration
}

extension ClusterConfiguration {
    /// The same configuration with every secret (STONITH token secret, webhook headers and body) replaced by
    /// `<redacted>`: what may be shown to an operator's terminal.
    public func redactingSecrets() -> ClusterConfiguration {
        var copy = self
        if copy.stonith?.proxmox?.tokenSecret != nil { copy.stonith?.proxmox?.tokenSecret = redacted }
        if let headers = copy.stonith?.webhook?.headers {
            copy.stonith?.webhook?.headers = headers.mapValues { _ in redacted }
        }
        if copy.stonith?.webhook?.bodyTemplate != nil { copy.stonith?.webhook?.bodyTemplate = redacted }
        return copy
    }
}

extension DaemonRuntime {
    public func exportConfiguration(includeSecrets: Bool) -> ConfigurationExport {
        let live = state.document.configuration
        let shown = includeSecrets ? live : live.redactingSecrets()
        let header = "# sfha cluster document revision \(state.document.revision) (hash \(state.document.contentHash.prefix(12))), "
            + "exported from \(state.nodeName)" + (includeSecrets || shown == live ? "" : "; secrets are <redacted>") + "\n"
        let yaml = header + SFHAConfiguration(cluster: shown, node: nodeConfiguration).renderedYAML()
        return ConfigurationExport(
            revision: state.document.revision, hash: state.document.contentHash, secretsIncluded: includeSecrets, yaml: yaml,
            configuration: shown)
    }
}
