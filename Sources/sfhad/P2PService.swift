import Foundation
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
        // The sources allowed, read on NIO's event loop; refreshed from the committed record every second (a new
        // member may call at once, a removed one no longer can).
        let members = AllowedSources(document.record.members.map { IPAddress.v4($0.meshAddress) })
        let server = P2PServer(
            host: "\(local.meshAddress)", key: key, logger: logger,
            isAllowed: { source, _ in source.map(members.contains) ?? false },
            handler: { request in
                switch (request.method, request.path) {
                case ("POST", "/v1/ping"):
                    let document = await runtime.membershipDocument
                    let answer = P2PPingAnswer(
                        node: await runtime.localReport.name, cluster: document?.record.clusterName ?? "", membershipRevision: document?.revision ?? 0)
                    return P2PAnswer(status: 200, body: (try? JSONEncoder().encode(answer)).map(Array.init) ?? [])
                default:
                    return .error(404, code: "not_found", "no such P2P endpoint: \(request.method) \(request.path)")
                }
            })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            group.addTask {
                while !Task.isCancelled {
                    if let current = await runtime.membershipDocument {
                        members.set(current.record.members.map { IPAddress.v4($0.meshAddress) })
                    }
                    try await Task.sleep(for: Self.refresh)
                }
            }
            // Whether each member's sfhad answers over the mesh, for `sfha status` (`sfhaRunning`).
            group.addTask {
                while !Task.isCancelled {
                    if let current = await runtime.membershipDocument {
                        await runtime.p2pPinged(await Self.ping(current.record, key: key))
                    }
                    try await Task.sleep(for: Self.pingInterval)
                }
            }
            // The server returns at the graceful shutdown; the refresher and the pinger go with it.
            try await group.next()
            group.cancelAll()
        }
    }

    static let refresh: Duration = .seconds(1)
    /// How often every member is pinged for `sfhaRunning` (a ping costs one TCP connection per member).
    static let pingInterval: Duration = .seconds(5)

    /// Pings every member's sfhad over the mesh at once: member name → whether it answered.
    static func ping(_ record: MembershipRecord, key: P2PKey) async -> [String: Bool] {
        let client = P2PClient(key: key, timeout: .seconds(2))
        return await withTaskGroup(of: (String, Bool).self) { pings in
            for member in record.members {
                pings.addTask {
                    let answer = try? await client.send("POST", "/v1/ping", body: Array("{}".utf8), to: "\(member.meshAddress)")
                    return (member.name, answer?.status == 200)
                }
            }
            var answers: [String: Bool] = [:]
            for await (name, answered) in pings { answers[name] = answered }
            return answers
        }
    }

    /// The cluster's P2P key (nil: none readable — not a cluster built by 'sfha init').
    static func loadKey() -> P2PKey? {
        (try? AtomicFile.readText(keyPath)).flatMap { try? P2PKey(fileText: $0) }
    }
}

/// The mesh addresses that may call the P2P API now (read on NIO's event loop, written by the refresher).
final class AllowedSources: Sendable {
    private let addresses: Mutex<Set<IPAddress>>

    init(_ addresses: [IPAddress]) { self.addresses = Mutex(Set(addresses)) }

    func contains(_ address: IPAddress) -> Bool { addresses.withLock { $0.contains(address) } }

    func set(_ new: [IPAddress]) { addresses.withLock { $0 = Set(new) } }
}
