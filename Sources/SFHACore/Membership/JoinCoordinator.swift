import CorosyncKit
import Foundation
import MeshKit
import SFHABase

/// How a join's coordinator reaches the other members (P2P over the mesh in sfhad; a fake in tests).
public protocol MembershipPeers: Sendable {
    func prepare(_ request: MembershipPrepareRequest, on member: ClusterMember) async throws(SFHAError) -> MembershipPrepareAnswer
    func abort(_ id: String, on member: ClusterMember) async
    /// Tells `member` to leave the cluster (a removal's coordinator, when the node to remove is online).
    func leave(_ request: LeaveRequest, on member: ClusterMember) async throws(SFHAError) -> LeaveAnswer
    /// Asks `member` to run this node's own removal (`sfha leave`).
    func remove(_ request: NodeRemoveRequest, on member: ClusterMember) async throws(SFHAError) -> NodeRemoveAnswer
}

/// What the issuer hands the joiner besides the membership: read from this node's files.
public struct JoinSecrets: Sendable {
    public var authKey: String
    public var p2pKey: String
    public init(authKey: String, p2pKey: String) {
        self.authKey = authKey
        self.p2pKey = p2pKey
    }
}

extension DaemonRuntime {
    /// How often a join that met another membership change in progress is tried again, and the pause between.
    static let joinAttempts = 8
    static let joinRetryPause: ClosedRange<Double> = 0.2...1.0
    /// A member committed less than this long ago and not yet in corosync's membership is still joining.
    static let joinSettling: TimeInterval = 60
    /// How long a join waits for the previous one to finish (its node online) before going ahead anyway.
    static let previousJoinWait: Duration = .seconds(15)
    /// How long a commit that got no verdict in time is still watched for.
    static let lateVerdictWait: Duration = .seconds(30)

    /// The members committed within `joinSettling` whose corosync has not been in the membership yet: joins still
    /// under way. A join admitted meanwhile would give that node a corosync.conf without the next one. (A member seen
    /// online since and down now catches up from the record when it returns: nothing to wait for.)
    func joinsUnderWay(at now: Date) -> [String] {
        guard let record = state.membership?.record else { return [] }
        let online = state.view.members.union(seenOnline)
        return record.members.filter { !online.contains($0.nodeID) && now.timeIntervalSince($0.joinedAt) < Self.joinSettling }.map(\.name)
    }

    /// Admits the holder of a pending invitation this node issued (its mesh address is `source`) as a new member:
    ///
    /// 1. checks: membership record, this node in the group and quorate, the invitation pending, not expired, issued here;
    /// 2. **prepare**: every online member (this one included) writes corosync.conf for the new record and answers the
    ///    file's hash — nothing is reloaded; every hash must be this node's;
    /// 3. **commit** the new record over the process group, with quorum (the invitation is gone: single use);
    /// 4. **one reload** of corosync (libcfg), now that every online member's file names the new node;
    /// 5. the bundle for the joiner. The issuer's WireGuard keeps the invitation's peer until the bundle is sent
    ///    (`release` receives the hold to end then).
    ///
    /// A failure before the commit aborts every prepare (each member puts its file back) and changes nothing; members
    /// that were down catch up from the committed record when they come back. Each step is logged as it happens.
    public func admit(
        from source: IPv4Address, _ request: JoinRequest, peers: any MembershipPeers, secrets: () throws(SFHAError) -> JoinSecrets
    ) async throws(SFHAError) -> (bundle: JoinBundle, hold: UUID?) {
        guard let nodelistApplier, let meshReconciler else {
            throw SFHAError(.unavailable, "this sfhad does not manage membership (no mesh): joins are not possible here")
        }
        let log = OperationSteps("join of \(request.name)", logger: logger)
        let clock = ContinuousClock()
        // One join at a time: the node admitted before must be online first (it started corosync with the nodelist
        // it received; a later join would leave it out). Not forever: a node that never comes is caught up later.
        let waitStart = clock.now
        for attempt in 1...Self.joinAttempts {
            let waited = clock.now
            while !joinsUnderWay(at: Date()).isEmpty, clock.now - waitStart < Self.previousJoinWait {
                try? await Task.sleep(for: .milliseconds(250))
            }
            if clock.now - waited > .milliseconds(250) {
                log.record("wait for the previous join to finish", node: state.nodeName, since: waited)
            }
            guard let membership = state.membership else {
                throw SFHAError(.invalidState, "this cluster has no membership record (it was not built by 'sfha init')")
            }
            guard state.inProcessGroup, state.view.quorate else {
                throw SFHAError(.notQuorate, "\(state.nodeName), which issued this token, has no quorum or is not in the sfha group: the join is refused and nothing changed; try again when the cluster is healthy ('sfha status')")
            }
            let now = Date()
            guard let invitation = membership.record.invitations.first(where: { $0.meshAddress == source }), invitation.issuer == state.nodeName else {
                throw SFHAError(.notFound, "no pending join token for \(source) issued by \(state.nodeName): it was used, or never existed; ask a member for a new one ('sfha token')")
            }
            let (candidate, member) = try membership.record.redeeming(
                invitation.publicKey, name: request.name, publicKey: request.publicKey, endpoint: request.endpoint, at: now)
            let id = UUID().uuidString
            let online = state.view.members
            let targets = membership.record.members.filter { online.contains($0.nodeID) && $0.name != state.nodeName }
            try Self.checkQuorumAfterJoin(of: request.name, members: membership.record.members.map { ($0.name, online.contains($0.nodeID)) })
            let prepareRequest = MembershipPrepareRequest(id: id, coordinator: state.nodeName, record: candidate)
            if coordinatingMembershipChange {
                guard attempt < Self.joinAttempts else {
                    throw SFHAError(.conflict, "\(state.nodeName) is running another membership change: the join is refused and nothing changed; try again in a moment")
                }
                log.record("wait: \(state.nodeName) is running another membership change", node: state.nodeName, since: clock.now, "busy: retrying")
                try? await Task.sleep(for: .milliseconds(Int64(Double.random(in: Self.joinRetryPause) * 1000)))
                continue
            }
            coordinatingMembershipChange = true
            defer { coordinatingMembershipChange = false }

            // 2. prepare: here first, then every other online member at once.
            var start = clock.now
            let localHash: String
            do {
                localHash = try await nodelistApplier.prepare(prepareRequest, committed: membership.record)
            } catch where error.code == .conflict && attempt < Self.joinAttempts {
                log.record("prepare corosync.conf", node: state.nodeName, since: start, "busy with another change: retrying")
                try? await Task.sleep(for: .milliseconds(Int64(Double.random(in: Self.joinRetryPause) * 1000)))
                continue
            }
            log.record("prepare corosync.conf (\(NodeRemoval.nodeCount(candidate.members.count)), not reloaded)", node: state.nodeName, since: start)
            let answers = await Self.prepare(prepareRequest, on: targets, peers: peers)
            var failure: SFHAError?
            var busy = false
            for (target, answer) in answers {
                switch answer {
                case .success(let prepared) where prepared.corosyncConfHash == localHash:
                    log.record("prepare corosync.conf, acknowledged with its hash", node: target.name, since: start)
                case .success:
                    log.record("prepare corosync.conf", node: target.name, since: start, "failed: its file differs from \(state.nodeName)'s")
                    failure = failure ?? SFHAError(.invalidState, "corosync.conf on \(target.name) differs from \(state.nodeName)'s beyond the nodelist: make them equal (copy it from \(state.nodeName)), then join again")
                case .failure(let error):
                    log.record("prepare corosync.conf", node: target.name, since: start, "failed: \(error.message)")
                    if error.code == .conflict { busy = true }
                    failure = failure ?? SFHAError(error.code, "\(target.name) could not prepare the change: \(error.message)")
                }
            }
            if let failure {
                start = clock.now
                await abortPrepared(id, on: targets, peers: peers)
                log.record("abort: every prepared corosync.conf put back", node: "all", since: start)
                if busy, attempt < Self.joinAttempts {
                    try? await Task.sleep(for: .milliseconds(Int64(Double.random(in: Self.joinRetryPause) * 1000)))
                    continue
                }
                throw SFHAError(failure.code, "the join was refused and nothing changed: \(failure.message)")
            }

            // 3. commit, holding this node's WireGuard change until the joiner has its answer.
            start = clock.now
            let hold = await meshReconciler.hold()
            var verdict = await proposeMembership(state.propose(membership: candidate, id: id), id: id)
            if verdict == nil {
                // Not delivered in time (the ring may be synchronising a membership change): it may still be
                // committed, so the outcome is awaited, never guessed — aborting a change the group commits later
                // would leave a member that never starts.
                let deadline = clock.now + Self.lateVerdictWait
                while verdict == nil, clock.now < deadline {
                    if let current = state.membership, current.revision > membership.revision {
                        verdict = current.record.members.contains(where: { $0.publicKey == request.publicKey })
                            ? .committed(revision: current.revision) : .conflict(base: membership.revision, current: current.revision)
                    } else {
                        try? await Task.sleep(for: .milliseconds(200))
                    }
                }
            }
            guard case .committed(let revision)? = verdict else {
                await meshReconciler.release(hold)
                await abortPrepared(id, on: targets, peers: peers)
                log.record("commit the new member", node: state.nodeName, since: start, "failed: \(verdict.map { "\($0)" } ?? "no verdict")")
                if case .conflict? = verdict, attempt < Self.joinAttempts { continue }
                throw SFHAError(.notQuorate, "the membership change was not committed (\(verdict.map { "\($0)" } ?? "no verdict in time")): the join was refused and nothing changed; try again")
            }
            log.record("commit \(request.name) = node id \(member.nodeID) at \(member.meshAddress) (membership revision \(revision))", node: state.nodeName, since: start)
            if let peer = candidate.meshPeers(for: state.nodeName).first(where: { $0.publicKey == member.publicKey }) {
                await meshReconciler.admit(peer)
            }

            // 4. one reload, cluster-wide.
            start = clock.now
            do throws(SFHAError) {
                try await nodelistApplier.reloader.reload()
            } catch {
                log.record("reload corosync (libcfg)", node: state.nodeName, since: start, "failed: \(error.message)")
                await meshReconciler.release(hold)
                throw SFHAError(error.code, "\(request.name) is committed as a member but corosync did not reload: \(error.message); fix the cause and run 'corosync-cfgtool -R' on a member, then 'sfha join' is not needed again — start corosync on the new node")
            }
            log.record("reload corosync (libcfg: every member re-reads corosync.conf)", node: state.nodeName, since: start)

            let conf: String
            let keys: JoinSecrets
            do throws(SFHAError) {
                conf = try AtomicFile.readText(nodelistApplier.path)
                keys = try secrets()
            } catch {
                await meshReconciler.release(hold)
                throw SFHAError(error.code, "\(request.name) is committed but its files could not be read here: \(error.message)")
            }
            let committed = state.membership ?? MembershipDocument(revision: revision, record: candidate)
            let bundle = JoinBundle(
                membership: committed, member: member, corosyncConf: conf, authKey: keys.authKey, p2pKey: keys.p2pKey, document: state.document,
                steps: log.steps, onlineMembers: [state.nodeName] + targets.map(\.name))
            return (bundle, hold)
        }
        throw SFHAError(.conflict, "the join kept meeting other membership changes; nothing changed, try again")
    }

    /// A join raises corosync's expected votes at the reload, before the new node runs: the members online now must
    /// hold the quorum of the larger cluster on their own (one vote each; two_node only for exactly two members), or
    /// the cluster loses quorum until the joiner is up — and keeps it lost if the joiner never comes.
    static func checkQuorumAfterJoin(of name: String, members: [(name: String, online: Bool)]) throws(SFHAError) {
        let after = members.count + 1
        let quorumAfter = NodeRemoval.quorum(of: after)
        let up = members.filter(\.online).count
        guard up < quorumAfter else { return }
        let down = members.filter { !$0.online }.map(\.name)
        throw SFHAError(
            .notQuorate,
            "\(down.joined(separator: ", ")) \(down.count == 1 ? "is" : "are") down: with \(name) the cluster would have \(after) members and need \(quorumAfter) votes, "
                + "but only \(up) members are online, so it would lose quorum until \(name) runs. The join is refused and nothing changed: "
                + "bring \(down.count == 1 ? "it" : "them") back (or remove \(down.count == 1 ? "it" : "them") from the cluster) first")
    }

    /// Asks every member of `targets` at once to prepare `request`; their answers, in node id order.
    static func prepare(
        _ request: MembershipPrepareRequest, on targets: [ClusterMember], peers: any MembershipPeers
    ) async -> [(ClusterMember, Result<MembershipPrepareAnswer, SFHAError>)] {
        let answers = await withTaskGroup(of: (ClusterMember, Result<MembershipPrepareAnswer, SFHAError>).self) { group in
            for target in targets {
                group.addTask {
                    do throws(SFHAError) {
                        return (target, .success(try await peers.prepare(request, on: target)))
                    } catch {
                        return (target, .failure(error))
                    }
                }
            }
            var all: [(ClusterMember, Result<MembershipPrepareAnswer, SFHAError>)] = []
            for await answer in group { all.append(answer) }
            return all
        }
        return answers.sorted { $0.0.nodeID < $1.0.nodeID }
    }

    func abortPrepared(_ id: String, on targets: [ClusterMember], peers: any MembershipPeers) async {
        await nodelistApplier?.abort(id)
        await withTaskGroup(of: Void.self) { group in
            for target in targets { group.addTask { await peers.abort(id, on: target) } }
        }
    }

    /// A newer membership fetched from a member over the mesh: this node's corosync.conf (reloaded when it changed)
    /// and WireGuard peers follow it now; the record itself comes through the process group once the ring forms.
    public func adoptMembershipEffects(_ record: MembershipRecord) async {
        if let meshReconciler { await meshReconciler.apply(record) }
        if let nodelistApplier { await nodelistApplier.apply(record) }
    }

    /// A member's side of `POST /v1/membership/prepare`.
    public func prepareMembership(_ request: MembershipPrepareRequest) async throws(SFHAError) -> MembershipPrepareAnswer {
        guard let nodelistApplier else { throw SFHAError(.unavailable, "this sfhad does not manage membership") }
        guard let committed = state.membership else { throw SFHAError(.invalidState, "\(state.nodeName) has no membership record") }
        guard committed.record.member(named: request.coordinator) != nil else {
            throw SFHAError(.invalidArgument, "\(request.coordinator) is not a member")
        }
        let hash = try await nodelistApplier.prepare(request, committed: committed.record)
        return MembershipPrepareAnswer(node: state.nodeName, corosyncConfHash: hash)
    }
}
