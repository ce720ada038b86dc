import CorosyncKit
import Foundation
import MeshKit
import SFHABase

/// `POST /v1/node/remove` (control API): remove `name` from the cluster, run on any other member.
public struct NodeRemoveRequest: Sendable, Equatable, Codable {
    public var name: String
    public var force: Bool
    public var dryRun: Bool
    /// The node asked for its own removal (`sfha leave`): its groups are handed over, but it is not told to leave —
    /// it leaves by itself once it has the answer.
    public var leavingItself: Bool?

    public init(name: String, force: Bool = false, dryRun: Bool = false, leavingItself: Bool? = nil) {
        self.name = name
        self.force = force
        self.dryRun = dryRun
        self.leavingItself = leavingItself
    }
}

public enum RemovalPaths {
    /// A member asks another to run its own removal (`sfha leave`), from its own mesh address.
    public static let remove = "/v1/membership/remove"
}

/// The answer: the plan, the steps as they ran (none for a dry run), the warnings (members that did not acknowledge
/// and catch up later), and what corosync reports here afterwards.
public struct NodeRemoveAnswer: Sendable, Equatable, Codable {
    public var plan: NodeRemovalPlan
    public var steps: [JoinStep]
    public var warnings: [String]
    /// The membership revision that removed the node (nil: a dry run, or it was already removed).
    public var revision: UInt64?
    /// corosync's nodelist on this node after the reload (node names), to set beside the record.
    public var corosyncNodelist: [String]?
    /// The node is removed from the record, but not everywhere yet (a removal interrupted before its reload): what
    /// running the removal again completes. nil: nothing left.
    public var unfinished: String?
    /// A dry run's files that would change, per node (this one and every other online member), as unified diffs.
    public var preview: [MembershipRepairReport]?

    public init(
        plan: NodeRemovalPlan, steps: [JoinStep] = [], warnings: [String] = [], revision: UInt64? = nil, corosyncNodelist: [String]? = nil,
        unfinished: String? = nil
    ) {
        self.plan = plan
        self.steps = steps
        self.warnings = warnings
        self.revision = revision
        self.corosyncNodelist = corosyncNodelist
        self.unfinished = unfinished
    }
}

extension DaemonRuntime {
    /// How long a removal waits for corosync to report the new nodelist after the reload.
    static let runtimeNodelistWait: Duration = .seconds(5)
    /// How long a removal waits for an online node it told to leave to leave corosync's membership.
    static let departureWait: Duration = .seconds(30)

    /// An online node to remove: its groups go elsewhere first (standby, when it is not in standby yet: `--force`),
    /// then it is told to leave (it stops corosync, takes its mesh down, moves its files aside, stops sfhad), and
    /// the removal goes on once it has left corosync's membership. A node that does not answer or does not leave in
    /// time is a warning: the others stop reaching it when its peer and nodelist entry go.
    private func handOverAndTellToLeave(
        _ target: ClusterMember, plan: NodeRemovalPlan, peers: any MembershipPeers, corosyncOnly: Bool,
        log: OperationSteps, warnings: inout [String]
    ) async throws(SFHAError) {
        let clock = ContinuousClock()
        var start = clock.now
        if !plan.targetStandby {
            _ = try await setStandby(node: target.name, true)
            func handedOver() -> Bool {
                guard state.view.reports[target.name]?.holdings.isEmpty != false else { return false }
                return state.lastPlacement?.assignments.allSatisfy { assignment in
                    assignment.holder.map { state.view.reports[$0]?.running.contains(assignment.group) == true } ?? true
                } ?? true
            }
            await waitForPlacement(handedOver)
            if handedOver() {
                log.record("hand its groups over (standby)", node: target.name, since: start, "done")
            } else {
                log.record("hand its groups over (standby)", node: target.name, since: start, "warning: not done within \(Self.moveTimeout.sfhaText)")
                warnings.append("\(target.name) had not handed its groups over within \(Self.moveTimeout.sfhaText); it releases them when it leaves")
            }
        }
        start = clock.now
        do throws(SFHAError) {
            _ = try await peers.leave(LeaveRequest(coordinator: state.nodeName, corosyncOnly: corosyncOnly), on: target)
            // A node that asked to leave stops only corosync now (dropped from the nodelists while its corosync still
            // ran, it would be noticed only after a token timeout, the ring down meanwhile); it does the rest itself.
            log.record(
                corosyncOnly
                    ? "told to stop corosync (it asked to leave: it does the rest once it has this answer)"
                    : "told to leave (it stops corosync and sfhad, takes its mesh down, moves its files aside)", node: target.name, since: start, "done")
        } catch {
            log.record("told to leave", node: target.name, since: start, "warning: \(error.message)")
            warnings.append("\(target.name) could not be told to leave (\(error.message)): stop sfhad and corosync on it by hand")
            return
        }
        start = clock.now
        let deadline = clock.now + Self.departureWait
        while clock.now < deadline, state.view.members.contains(target.nodeID) { try? await Task.sleep(for: .milliseconds(100)) }
        if state.view.members.contains(target.nodeID) {
            log.record("leave corosync's membership", node: target.name, since: start, "warning: still a member after \(Self.departureWait.sfhaText)")
            warnings.append("\(target.name) was still in corosync's membership after \(Self.departureWait.sfhaText): it is cut off when its peer and nodelist entry go")
        } else {
            log.record("left corosync's membership", node: target.name, since: start, "done")
        }
    }

    /// A dry run's files: what `document` (the record without the node) would change here (unless this node is the
    /// one leaving: its files are moved aside) and on each of `others` (their own repair, as a dry run: the same code
    /// that writes them), as diffs. Changes nothing anywhere.
    func previewRemoval(
        _ document: MembershipDocument, on others: [ClusterMember], peers: (any MembershipRepairPeers)?, includingThisNode: Bool = true
    ) async -> [MembershipRepairReport] {
        let request = MembershipRepairRequest(coordinator: state.nodeName, membership: document, dryRun: true)
        var reports: [MembershipRepairReport] = []
        if includingThisNode {
            do throws(SFHAError) {
                reports = [try await repairMembership(request)]
            } catch {
                reports = [MembershipRepairReport(node: state.nodeName, error: error.message)]
            }
        }
        guard let peers else { return reports }
        return (reports + (await Self.repair(request, on: others, peers: peers))).sorted { $0.node < $1.node }
    }

    /// What corosync itself reports here after the reload: its runtime nodelist, read again until it no longer names
    /// `name` (a warning after `runtimeNodelistWait`).
    private func checkRuntimeNodelist(without name: String, log: OperationSteps, warnings: inout [String]) async -> [String]? {
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + Self.runtimeNodelistWait
        while clock.now < deadline, state.facts?.nodeNames.values.contains(name) != false {
            try? await Task.sleep(for: .milliseconds(50))
        }
        let nodelist = state.facts.map { $0.nodeNames.sorted { $0.key < $1.key }.map(\.value) }
        if let nodelist, !nodelist.contains(name) {
            log.record("corosync's runtime nodelist: \(nodelist.joined(separator: ", "))", node: state.nodeName, since: start)
        } else {
            log.record("corosync's runtime nodelist", node: state.nodeName, since: start, "warning: still names \(name)")
            warnings.append("corosync on \(state.nodeName) still lists \(name) (\(nodelist?.joined(separator: ", ") ?? "unknown")): check 'corosync-cmapctl nodelist' and run 'sfha propagate'")
        }
        return nodelist
    }

    /// What corosync reports on every other reachable member (asked over the mesh: its own repair code run dry
    /// against the committed record): its runtime nodelist is the record's and its membership is without `name` —
    /// waited for a moment (each re-reads its file on the reload), then a warning naming the member.
    private func checkCorosync(
        on others: [ClusterMember], agreeWith document: MembershipDocument, without name: String, peers: any MembershipRepairPeers,
        log: OperationSteps, warnings: inout [String]
    ) async {
        let request = MembershipRepairRequest(coordinator: state.nodeName, membership: document, dryRun: true)
        let start = ContinuousClock.now
        let reports = await Self.repair(request, on: others, peers: peers, retryFor: Self.runtimeNodelistWait) { report in
            report.error != nil || Self.agrees(report, without: name)
        }
        for report in reports {
            if let error = report.error {
                log.record("corosync's runtime nodelist and membership", node: report.node, since: start, "warning: \(error)")
                warnings.append("\(report.node) could not be asked what corosync reports (\(error)): check it with 'sfha propagate --dry-run'")
            } else if Self.agrees(report, without: name) {
                log.record(
                    "corosync's runtime nodelist: \(report.nodelistAfter.joined(separator: ", ")); membership: \(report.corosyncMembers?.joined(separator: ", ") ?? "?")",
                    node: report.node, since: start)
            } else {
                let what = "nodelist \((report.runtimeNodelistBefore ?? report.nodelistBefore).joined(separator: ", ")), membership \(report.corosyncMembers?.joined(separator: ", ") ?? "unknown")"
                log.record("corosync's runtime nodelist and membership", node: report.node, since: start, "warning: \(what)")
                warnings.append("corosync on \(report.node) does not agree with the record yet (\(what)): run 'sfha propagate'")
            }
        }
    }

    /// A member's dry repair against the committed record finds corosync in agreement: file and runtime nodelist as
    /// the record says, `name` not in its membership.
    static func agrees(_ report: MembershipRepairReport, without name: String) -> Bool {
        report.error == nil && report.nodelistBefore == report.nodelistAfter && report.runtimeNodelistBefore == nil
            && report.corosyncMembers.map { !$0.contains(name) } == true
    }

    /// Marks this node as coordinating a membership change (the caller clears it when done), or refuses a second one.
    func claimMembershipChange() throws(SFHAError) {
        guard !coordinatingMembershipChange else {
            throw SFHAError(.conflict, "\(state.nodeName) is running another membership change: nothing changed; try again in a moment")
        }
        coordinatingMembershipChange = true
    }

    /// A node the record no longer has: done, unless its removal was interrupted before the reload (its coordinator
    /// killed after the commit) — then corosync still lists it, and this completes it: this node's corosync.conf made
    /// the record's, one reload (every member re-reads its file, already right: the others wrote theirs before the
    /// commit or catch up from it).
    private func finishRemoval(of name: String, plan: NodeRemovalPlan, dryRun: Bool) async throws(SFHAError) -> NodeRemoveAnswer {
        guard let membership = state.membership, state.facts?.nodeNames.values.contains(name) == true else { return NodeRemoveAnswer(plan: plan) }
        let unfinished = "corosync on \(state.nodeName) still lists \(name): its removal was interrupted before the reload; running it again completes it (corosync.conf, one reload)"
        if dryRun { return NodeRemoveAnswer(plan: plan, unfinished: unfinished) }
        try claimMembershipChange()
        defer { coordinatingMembershipChange = false }
        let log = OperationSteps("completion of the removal of \(name)", logger: logger)
        var warnings: [String] = []
        // This node made what the record says: its file, and the reload its runtime nodelist calls for (propagate's repair).
        let start = ContinuousClock.now
        do throws(SFHAError) {
            let report = try await repairMembership(MembershipRepairRequest(coordinator: state.nodeName, membership: membership, dryRun: false))
            log.record(
                "reload corosync (libcfg: every member re-reads corosync.conf)\(report.nodelistBefore != report.nodelistAfter ? ", corosync.conf written without \(name) first" : "")",
                node: state.nodeName, since: start, report.corosync == "reloaded" ? "done" : "warning: corosync not reloaded (\(report.corosync ?? "nothing to do"))")
        } catch {
            log.record("reload corosync", node: state.nodeName, since: start, "failed: \(error.message)")
            throw SFHAError(error.code, "corosync did not reload (\(error.message)): \(name) is still in its runtime nodelist; run 'corosync-cfgtool -R' on a member")
        }
        let nodelist = await checkRuntimeNodelist(without: name, log: log, warnings: &warnings)
        return NodeRemoveAnswer(
            plan: plan, steps: log.steps, warnings: warnings, revision: membership.revision, corosyncNodelist: nodelist, unfinished: unfinished)
    }

    /// Removes a member, in the founding document's corrected order:
    ///
    /// 1. **validate** (`NodeRemoval.plan`): not this node, a member, this partition quorate and still quorate
    ///    without it, the target offline or in standby (or `force`);
    /// 2. **prepare** every other online member: it writes corosync.conf without the target and answers the file's
    ///    hash (nothing reloaded). A member that does not answer is a warning, not an error: it catches up from the
    ///    record;
    /// 3. **commit** the removal in the membership record (the target's node id, address and key tombstoned). Every
    ///    other member's WireGuard drops the target's peer on the commit; this node's is held;
    /// 4. **this node**: corosync.conf, then **one reload** (libcfg; never a restart), and only then this node's own
    ///    WireGuard peer of the target.
    ///
    /// A failure before the commit puts every prepared file back and changes nothing. Each step is logged as it
    /// happens and returned.
    public func removeMember(
        _ request: NodeRemoveRequest, peers: any MembershipPeers, previews: (any MembershipRepairPeers)? = nil
    ) async throws(SFHAError) -> NodeRemoveAnswer {
        let (answer, hold) = try await removeMember(request, peers: peers, holdingMesh: false, previews: previews)
        if let hold, let meshReconciler { await meshReconciler.release(hold) }
        return answer
    }

    /// The removal; with `holdingMesh`, this node's WireGuard keeps the target's peer until the caller releases the
    /// returned hold (the answer to a node that asked for its own removal travels through that peer).
    public func removeMember(
        _ request: NodeRemoveRequest, peers: any MembershipPeers, holdingMesh: Bool, previews: (any MembershipRepairPeers)? = nil
    ) async throws(SFHAError) -> (answer: NodeRemoveAnswer, hold: UUID?) {
        guard let nodelistApplier, let meshReconciler else {
            throw SFHAError(.unavailable, "this sfhad does not manage membership (no mesh): it cannot remove nodes")
        }
        guard let membership = state.membership else {
            throw SFHAError(.invalidState, "this cluster has no membership record (it was not built by 'sfha init')")
        }
        guard state.inProcessGroup else {
            throw SFHAError(.unavailable, "sfhad is not in the sfha process group yet (is corosync running?): nothing changed")
        }
        let plan = NodeRemoval.plan(
            record: membership.record, coordinator: state.nodeName, target: request.name, online: state.view.members,
            quorate: state.view.quorate, targetStandby: state.document.configuration.standbyNodes.contains(request.name),
            force: request.force)
        if plan.alreadyRemoved { return (try await finishRemoval(of: request.name, plan: plan, dryRun: request.dryRun), nil) }
        if let refusal = plan.refusal { throw SFHAError(plan.refusalKind?.code ?? .invalidState, refusal) }
        if request.dryRun {
            var answer = NodeRemoveAnswer(plan: plan)
            answer.preview = await previewRemoval(
                MembershipDocument(revision: membership.revision + 1, record: try membership.record.removing(request.name, at: Date())),
                on: membership.record.members.filter { plan.onlineMembers.contains($0.name) }, peers: previews)
            return (answer, nil)
        }
        try claimMembershipChange()
        defer { coordinatingMembershipChange = false }

        var warnings: [String] = []
        let clock = ContinuousClock()
        let log = OperationSteps("removal of \(request.name)", logger: logger)
        let candidate = try membership.record.removing(request.name, at: Date())
        let id = UUID().uuidString
        let prepareRequest = MembershipPrepareRequest(id: id, coordinator: state.nodeName, record: candidate)
        let others = membership.record.members.filter { plan.onlineMembers.contains($0.name) }
        var start = clock.now
        if plan.targetOnline, let target = membership.record.member(named: request.name) {
            try await handOverAndTellToLeave(
                target, plan: plan, peers: peers, corosyncOnly: request.leavingItself == true, log: log, warnings: &warnings)
        } else {
            log.record("\(request.name) is offline: nothing to tell it", node: request.name, since: start)
        }

        // 2. every other online member first.
        start = clock.now
        let answers = await Self.prepare(prepareRequest, on: others, peers: peers)
        var hashes: [String: String] = [:]
        for (member, answer) in answers {
            switch answer {
            case .success(let prepared):
                hashes[member.name] = prepared.corosyncConfHash
            case .failure(let error) where error.code == .conflict:
                log.record("prepare corosync.conf without \(request.name)", node: member.name, since: start, "busy with another membership change")
                await abortPrepared(id, on: others, peers: peers)
                throw SFHAError(.conflict, "\(member.name) is busy with another membership change: nothing changed; try again in a moment")
            case .failure(let error):
                log.record("prepare corosync.conf without \(request.name)", node: member.name, since: start, "warning: \(error.message)")
                warnings.append("\(member.name) did not acknowledge (\(error.message)): it catches up from the membership record when it answers again")
            }
        }

        // 4a. this node's file, after the others'.
        start = clock.now
        let localHash: String
        do {
            localHash = try await nodelistApplier.prepare(prepareRequest, committed: membership.record)
        } catch {
            log.record("prepare corosync.conf without \(request.name)", node: state.nodeName, since: start, "failed: \(error.message)")
            await abortPrepared(id, on: others, peers: peers)
            throw SFHAError(error.code, "\(state.nodeName) could not write corosync.conf without \(request.name): \(error.message); nothing changed")
        }
        for member in others {
            guard let hash = hashes[member.name] else { continue }
            if hash == localHash {
                log.record("remove \(request.name) from corosync.conf (\(NodeRemoval.nodeCount(candidate.members.count))), acknowledged with its hash", node: member.name, since: start)
            } else {
                log.record("remove \(request.name) from corosync.conf", node: member.name, since: start, "warning: its file differs from \(state.nodeName)'s")
                warnings.append("corosync.conf on \(member.name) differs from \(state.nodeName)'s beyond the nodelist: compare them ('sfha propagate' repairs the nodelist)")
            }
        }
        log.record("write corosync.conf without \(request.name) (\(NodeRemoval.nodeCount(candidate.members.count)), not reloaded yet)", node: state.nodeName, since: start)

        Failpoint.removalAfterPrepare.hit(logger)

        // 3. commit, holding this node's WireGuard change until after the reload.
        start = clock.now
        let hold = await meshReconciler.hold()
        // Of two, the target is gone from the ring by now (down, or told to leave): this node commits alone, by the
        // one exception the group allows for exactly this record.
        let verdict = await proposeMembership(state.propose(membership: candidate, id: id, removingAbsentPeerOfTwo: plan.twoNodeBefore), id: id)
        guard case .committed(let revision)? = verdict else {
            await meshReconciler.release(hold)
            await abortPrepared(id, on: others, peers: peers)
            log.record("commit the removal", node: state.nodeName, since: start, "failed: \(verdict.map { "\($0)" } ?? "no verdict in time")")
            throw SFHAError(.notQuorate, "the removal was not committed (\(verdict.map { "\($0)" } ?? "no verdict in time")): every prepared corosync.conf is put back and nothing changed; try again")
        }
        log.record("commit the removal (membership revision \(revision); node id, address and key of \(request.name) never reused)", node: state.nodeName, since: start)

        Failpoint.removalAfterCommit.hit(logger)

        // 4b. one reload, then this node's own WireGuard peer of the target.
        start = clock.now
        do throws(SFHAError) {
            try await nodelistApplier.reloader.reload()
            log.record("reload corosync (libcfg: every member re-reads corosync.conf)", node: state.nodeName, since: start)
        } catch {
            log.record("reload corosync", node: state.nodeName, since: start, "failed: \(error.message)")
            warnings.append("corosync did not reload (\(error.message)): \(request.name) is removed from the record and the files; run 'corosync-cfgtool -R' on a member")
        }
        if !holdingMesh {
            start = clock.now
            await meshReconciler.release(hold)
            log.record("remove \(request.name)'s WireGuard peer", node: state.nodeName, since: start)
        }
        let nodelist = await checkRuntimeNodelist(without: request.name, log: log, warnings: &warnings)
        if let previews, let committed = state.membership {
            await checkCorosync(on: others, agreeWith: committed, without: request.name, peers: previews, log: log, warnings: &warnings)
        }
        if holdingMesh {
            log.record("remove \(request.name)'s WireGuard peer (once this answer is sent)", node: state.nodeName, since: clock.now)
        }
        // The standby the handover set is the removed node's no more: a node joining later under that name must not
        // inherit it.
        if state.document.configuration.standbyNodes.contains(request.name) {
            start = clock.now
            let name = request.name
            do throws(SFHAError) {
                _ = try await change("standby off for removed node \(name)") { configuration throws(SFHAError) in try configuration.settingStandby(name, false) }
                log.record("clear \(name)'s standby from the cluster document", node: state.nodeName, since: start)
            } catch {
                log.record("clear \(name)'s standby", node: state.nodeName, since: start, "warning: \(error.message)")
                warnings.append("\(name)'s standby stays in the cluster document (\(error.message)): a node joining later as \(name) would start in standby")
            }
        }
        return (NodeRemoveAnswer(plan: plan, steps: log.steps, warnings: warnings, revision: revision, corosyncNodelist: nodelist), holdingMesh ? hold : nil)
    }
}
