import Foundation
import CorosyncKit
import Logging
import MeshKit
import P2PKit
import SFHABase
import SFHACore
import ServiceLifecycle
import Synchronization

/// The P2P API (Docs/P2P-API.md) on this node's mesh address, TCP 7777, in a cluster built by `sfha init`: only
/// members' mesh addresses may call it. Without a membership record or a P2P key there is nothing to serve: it
/// says so once and waits for the shutdown.
struct P2PService: Service {
    static let keyPath = "/etc/sfha/p2p.key"

    let runtime: DaemonRuntime
    let logger: Logger

    func run() async throws {
        guard let document = await runtime.membershipDocument, let local = document.record.member(named: await runtime.localReport.name) else {
            logger.info("no membership record: the P2P API is not started (the cluster was not built by 'sfha init')")
            try? await gracefulShutdown()
            return
        }
        let key: P2PKey
        do {
            key = try P2PKey(fileText: try AtomicFile.readText(Self.keyPath))
        } catch {
            logger.error("cannot read the P2P key \(Self.keyPath): \(error); the P2P API is not started")
            try? await gracefulShutdown()
            return
        }
        let runtime = self.runtime
        let logger = self.logger
        // Who may call, read on NIO's event loop; refreshed from the committed record every `refresh` (a new member
        // may call at once, a removed one no longer can, an invitation only while it is pending).
        let ownKey = WireGuardConfigFile.readPrivateKey(from: WireGuardConfigFile.path())
        if ownKey == nil { logger.warning("\(WireGuardConfigFile.path()) has no readable private key: join tokens issued here cannot be redeemed") }
        let callers = AllowedCallers(document.record, local: local.name)
        let peers = P2PMembershipPeers(key: key)
        var limits = P2PServer.Limits()
        // A join waits for the node admitted before it and, at worst, for a late verdict on its commit.
        limits.handlerTimeout = Self.handlerTimeout
        let server = P2PServer(
            host: "\(local.meshAddress)", limits: limits, logger: logger,
            keyFor: { source, path in
                guard case .v4(let address)? = source else { return nil }
                if path == JoinPaths.join {
                    // Only the token's holder can sign this: its key agrees with this node's WireGuard key.
                    guard let invitation = callers.invitation(at: address), let ownKey,
                        let secret = ownKey.sharedSecret(with: invitation)
                    else { return nil }
                    return P2PKey.derived(fromSharedSecret: secret, purpose: JoinPaths.redeemKeyPurpose)
                }
                return callers.isMember(address) ? key : nil
            },
            handler: { request in
                await Self.handle(request, runtime: runtime, peers: peers, logger: logger)
            })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            group.addTask {
                while !Task.isCancelled {
                    if let current = await runtime.membershipDocument { callers.set(current.record) }
                    try await Task.sleep(for: Self.refresh)
                }
            }
            // Whether each member's sfhad answers over the mesh, for `sfha status` (`sfhaRunning`).
            // A member that holds a newer membership revision than this node (this node missed a change while down,
            // or started corosync with a nodelist a later join extended) is asked for it, and corosync.conf and the
            // mesh follow it at once — over the mesh, without corosync, which may not form a ring until they do.
            group.addTask {
                while !Task.isCancelled {
                    if let current = await runtime.membershipDocument {
                        let answers = await Self.pingRevisions(current.record, key: key)
                        await runtime.p2pPinged(answers.mapValues { $0 != nil })
                        await Self.catchUp(from: answers, runtime: runtime, key: key, logger: logger)
                    }
                    try await Task.sleep(for: Self.pingInterval)
                }
            }
            // The server returns at the graceful shutdown; the refresher and the pinger go with it.
            try await group.next()
            group.cancelAll()
        }
    }

    static let refresh: Duration = .milliseconds(500)
    static let handlerTimeout: Duration = .seconds(75)

    static func handle(_ request: P2PRequest, runtime: DaemonRuntime, peers: P2PMembershipPeers, logger: Logger) async -> P2PAnswer {
        func answer(_ value: some Encodable) -> P2PAnswer {
            P2PAnswer(status: 200, body: (try? JSONEncoder().encode(value)).map(Array.init) ?? [])
        }
        func refusal(_ error: SFHAError) -> P2PAnswer {
            .error(ControlStatus.status(for: error.code), code: error.code.rawValue, error.message)
        }
        func decode<T: Decodable>(_ type: T.Type) throws(SFHAError) -> T {
            do {
                return try JSONDecoder().decode(type, from: Data(request.body))
            } catch {
                throw SFHAError(.invalidArgument, "the request body is not a valid \(type): \(error)")
            }
        }
        guard case .v4(let source)? = request.source else { return .error(403, code: "forbidden", "an IPv4 mesh address is required") }
        do throws(SFHAError) {
            switch (request.method, request.path) {
            case ("POST", "/v1/ping"):
                let document = await runtime.membershipDocument
                return answer(P2PPingAnswer(
                    node: await runtime.localReport.name, cluster: document?.record.clusterName ?? "", membershipRevision: document?.revision ?? 0))
            case ("POST", JoinPaths.membership):
                guard let document = await runtime.membershipDocument else { throw SFHAError(.notFound, "no membership record here") }
                return answer(document)
            case ("POST", JoinPaths.join):
                let join = try decode(JoinRequest.self)
                logger.notice("join request from \(source) as \(String(reflecting: join.name))")
                let (bundle, hold) = try await runtime.admit(from: source, join, peers: peers, secrets: Self.secrets)
                var reply = answer(bundle)
                if let hold, let reconciler = runtime.meshReconciler {
                    // The invitation's peer, which carries this answer, goes once it is sent.
                    reply.afterSending = { _ in Task { await reconciler.release(hold) } }
                }
                return reply
            case ("POST", JoinPaths.prepare):
                let prepare = try decode(MembershipPrepareRequest.self)
                guard await runtime.membershipDocument?.record.member(named: prepare.coordinator)?.meshAddress == source else {
                    throw SFHAError(.unauthorized, "a membership change is prepared only at its coordinator's request, from its mesh address")
                }
                return answer(try await runtime.prepareMembership(prepare))
            case ("POST", RemovalPaths.remove):
                let remove = try decode(NodeRemoveRequest.self)
                guard remove.leavingItself == true, !remove.dryRun,
                    await runtime.membershipDocument?.record.member(named: remove.name)?.meshAddress == source
                else {
                    throw SFHAError(.unauthorized, "a node asks for its own removal only, from its own mesh address")
                }
                logger.notice("\(remove.name) asks to leave the cluster: running its removal")
                let (removal, hold) = try await runtime.removeMember(remove, peers: peers, holdingMesh: true, previews: peers)
                var reply = answer(removal)
                if let hold, let reconciler = runtime.meshReconciler {
                    // The leaving node's peer, which carries this answer, goes once it is sent.
                    reply.afterSending = { _ in Task { await reconciler.release(hold) } }
                }
                return reply
            case ("POST", RepairPaths.repair):
                let repair = try decode(MembershipRepairRequest.self)
                guard await runtime.membershipDocument?.record.member(named: repair.coordinator)?.meshAddress == source else {
                    throw SFHAError(.unauthorized, "a repair is run only at its coordinator's request, from its mesh address")
                }
                return answer(try await runtime.repairMembership(repair))
            case ("POST", DeparturePaths.leave):
                let leave = try decode(LeaveRequest.self)
                let record = await runtime.membershipDocument?.record
                let local = await runtime.localReport.name
                guard let coordinator = record?.member(named: leave.coordinator), coordinator.meshAddress == source, leave.coordinator != local
                else {
                    throw SFHAError(.unauthorized, "a node is told to leave only by another member running the removal, from its mesh address")
                }
                var reply = answer(LeaveAnswer(node: local, accepted: true))
                let effects = SystemDepartureEffects(mesh: WireGuardCommandController())
                if leave.corosyncOnly == true {
                    logger.notice("\(leave.coordinator) runs this node's removal: stopping corosync")
                    reply.afterSending = { _ in
                        Task {
                            do throws(SFHAError) {
                                try await NodeDeparture.stopCorosync(effects)
                            } catch {
                                logger.error("leaving the cluster: corosync could not be stopped: \(error.message)")
                            }
                        }
                    }
                } else {
                    logger.notice("told to leave the cluster by \(leave.coordinator)")
                    // After the answer is out: the departure ends with this daemon stopping.
                    reply.afterSending = { _ in Task { await runtime.leaveCluster(toldBy: leave.coordinator, effects: effects) } }
                }
                return reply
            case ("POST", JoinPaths.abort):
                let abort = try decode(MembershipAbortRequest.self)
                await runtime.nodelistApplier?.abort(abort.id)
                return answer(["aborted": abort.id])
            default:
                return .error(404, code: "not_found", "no such P2P endpoint: \(request.method) \(request.path)")
            }
        } catch {
            logger.warning("P2P \(request.method) \(request.path) from \(source) refused: \(error.message)")
            return refusal(error)
        }
    }

    /// corosync's authkey and the P2P key, for a new member.
    static func secrets() throws(SFHAError) -> JoinSecrets {
        let authKey = Data(try AtomicFile.read(CorosyncAuthKey.defaultPath)).base64EncodedString()
        return JoinSecrets(authKey: authKey, p2pKey: try AtomicFile.readText(keyPath))
    }
    /// How often every member is pinged for `sfhaRunning` (a ping costs one TCP connection per member).
    static let pingInterval: Duration = .seconds(3)

    /// Pings every member's sfhad over the mesh at once: member name → whether it answered.
    static func ping(_ record: MembershipRecord, key: P2PKey) async -> [String: Bool] {
        await pingRevisions(record, key: key).mapValues { $0 != nil }
    }

    /// Pings every member's sfhad over the mesh at once: member name → the membership revision it answered with
    /// (nil: no answer).
    static func pingRevisions(_ record: MembershipRecord, key: P2PKey) async -> [String: UInt64?] {
        let client = P2PClient(key: key, timeout: .seconds(2))
        return await withTaskGroup(of: (String, UInt64?).self) { pings in
            for member in record.members {
                pings.addTask {
                    guard let answer = try? await client.send("POST", "/v1/ping", body: Array("{}".utf8), to: "\(member.meshAddress)"),
                        answer.status == 200, let ping = try? JSONDecoder().decode(P2PPingAnswer.self, from: Data(answer.body))
                    else { return (member.name, nil) }
                    return (member.name, ping.membershipRevision)
                }
            }
            var answers: [String: UInt64?] = [:]
            for await (name, revision) in pings { answers[name] = revision }
            return answers
        }
    }

    /// Fetches the membership from the member with the highest revision when it is newer than this node's, and
    /// applies what derives from it here (corosync.conf with a reload, the mesh peers). The record is checked like
    /// any input: its hash, its validity, and that it may follow this node's.
    static func catchUp(from answers: [String: UInt64?], runtime: DaemonRuntime, key: P2PKey, logger: Logger) async {
        guard let local = await runtime.membershipDocument,
            let (name, revision) = answers.compactMap({ name, revision in revision.map { (name, $0) } }).max(by: { $0.1 < $1.1 }),
            revision > local.revision, let member = local.record.member(named: name)
        else { return }
        do {
            let answer = try await P2PClient(key: key, timeout: .seconds(5)).send("POST", JoinPaths.membership, body: Array("{}".utf8), to: "\(member.meshAddress)")
            guard answer.status == 200 else { throw answer.failure(at: name) }
            let document = try JSONDecoder().decode(MembershipDocument.self, from: Data(answer.body))
            guard document.contentHash == MembershipDocument.contentHash(of: document.record) else {
                throw SFHAError(.invalidArgument, "its membership document does not match its hash")
            }
            guard document.revision > local.revision else {
                throw SFHAError(.invalidArgument, "it answered revision \(document.revision), not newer than this node's \(local.revision)")
            }
            if let problem = document.record.successionProblem(after: local.record) { throw SFHAError(.invalidArgument, problem) }
            logger.notice("membership revision \(document.revision) fetched from \(name) (this node had \(local.revision)): corosync.conf and the mesh follow it")
            await runtime.adoptMembershipEffects(document.record)
        } catch {
            logger.warning("could not catch up with \(name)'s membership revision \(revision): \(error)")
        }
    }

    /// The cluster's P2P key (nil: none readable — not a cluster built by 'sfha init').
    static func loadKey() -> P2PKey? {
        (try? AtomicFile.readText(keyPath)).flatMap { try? P2PKey(fileText: $0) }
    }
}

/// Who may call the P2P API now: members' mesh addresses, and the invitations this node issued (address → one-time
/// public key) for the redeem call. Read on NIO's event loop, written by the refresher.
final class AllowedCallers: Sendable {
    private let state: Mutex<(members: Set<IPv4Address>, invitations: [IPv4Address: WireGuardPublicKey])>
    private let local: String

    init(_ record: MembershipRecord, local: String) {
        self.local = local
        state = Mutex(Self.callers(record, local: local))
    }

    private static func callers(_ record: MembershipRecord, local: String) -> (Set<IPv4Address>, [IPv4Address: WireGuardPublicKey]) {
        let pending = record.expiringInvitations(at: Date()).invitations.filter { $0.issuer == local }
        return (Set(record.members.map(\.meshAddress)), Dictionary(pending.map { ($0.meshAddress, $0.publicKey) }, uniquingKeysWith: { first, _ in first }))
    }

    func isMember(_ address: IPv4Address) -> Bool { state.withLock { $0.members.contains(address) } }

    func invitation(at address: IPv4Address) -> WireGuardPublicKey? { state.withLock { $0.invitations[address] } }

    func set(_ record: MembershipRecord) {
        let callers = Self.callers(record, local: local)
        state.withLock { $0 = callers }
    }
}

/// A join coordinator's calls to the other members, over the P2P API.
struct P2PMembershipPeers: MembershipPeers, MembershipRepairPeers {
    let key: P2PKey

    func revisions(of record: MembershipRecord) async -> [String: UInt64?] {
        await P2PService.pingRevisions(record, key: key)
    }

    func fetch(from member: SFHACore.ClusterMember) async throws(SFHAError) -> MembershipDocument {
        try await call(JoinPaths.membership, [String: String](), on: member, what: "the membership request")
    }

    func repair(_ request: MembershipRepairRequest, on member: SFHACore.ClusterMember) async throws(SFHAError) -> MembershipRepairReport {
        try await call(RepairPaths.repair, request, on: member, what: "the repair")
    }

    func prepare(_ request: MembershipPrepareRequest, on member: SFHACore.ClusterMember) async throws(SFHAError) -> MembershipPrepareAnswer {
        try await call(JoinPaths.prepare, request, on: member, what: "the prepare")
    }

    func leave(_ request: LeaveRequest, on member: SFHACore.ClusterMember) async throws(SFHAError) -> LeaveAnswer {
        try await call(DeparturePaths.leave, request, on: member, what: "the leave request")
    }

    func remove(_ request: NodeRemoveRequest, on member: SFHACore.ClusterMember) async throws(SFHAError) -> NodeRemoveAnswer {
        // The removal hands this node's groups over first and commits with the others: longer than one exchange.
        try await call(RemovalPaths.remove, request, on: member, what: "the removal request", timeout: P2PService.handlerTimeout)
    }

    /// A signed POST of `request` to `member`'s P2P API (10 s), its answer decoded.
    private func call<Request: Encodable, Answer: Decodable>(
        _ path: String, _ request: Request, on member: SFHACore.ClusterMember, what: String, timeout: Duration = .seconds(10)
    ) async throws(SFHAError) -> Answer {
        let body: [UInt8]
        do {
            body = Array(try JSONEncoder().encode(request))
        } catch {
            throw SFHAError(.internalError, "cannot encode \(what): \(error)")
        }
        let answer = try await P2PClient(key: key, timeout: timeout).send("POST", path, body: body, to: "\(member.meshAddress)")
        guard answer.status == 200 else { throw answer.failure(at: member.name) }
        do {
            return try JSONDecoder().decode(Answer.self, from: Data(answer.body))
        } catch {
            throw SFHAError(.invalidState, "\(member.name) answered \(what) with something else: \(error)")
        }
    }

    func abort(_ id: String, on member: SFHACore.ClusterMember) async {
        guard let body = try? JSONEncoder().encode(MembershipAbortRequest(id: id)) else { return }
        _ = try? await P2PClient(key: key, timeout: .seconds(5)).send("POST", JoinPaths.abort, body: Array(body), to: "\(member.meshAddress)")
    }
}
