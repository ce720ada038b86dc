import Logging

/// Reads a `ClusterSnapshot` from live connections.
enum SnapshotReader {
    struct NodeListEntry {
        var nodeID: UInt32
        var name: String?
        var addresses: [String]
    }

    /// The nodelist corosync loaded (cmap `nodelist.node.N.*`), in nodelist order.
    static func nodeList(_ cmap: CMap) async throws(CorosyncError) -> [NodeListEntry] {
        var byIndex: [Int: (nodeID: UInt32?, name: String?, rings: [Int: String])] = [:]
        for (key, value) in try await cmap.entries(prefix: "nodelist.node.") {
            // nodelist.node.<index>.<field>
            let parts = key.split(separator: ".", maxSplits: 3)
            guard parts.count == 4, let index = Int(parts[2]) else { continue }
            var entry = byIndex[index] ?? (nil, nil, [:])
            let field = String(parts[3])
            if field == "nodeid" {
                entry.nodeID = value.unsignedValue.flatMap { UInt32(exactly: $0) }
            } else if field == "name" {
                entry.name = value.stringValue
            } else if field.hasPrefix("ring"), field.hasSuffix("_addr"),
                let ring = Int(field.dropFirst(4).dropLast(5)), let address = value.stringValue
            {
                entry.rings[ring] = address
            }
            byIndex[index] = entry
        }
        return byIndex.keys.sorted().compactMap { index in
            let entry = byIndex[index]!
            // corosync derives a missing nodeid from ring0_addr for IPv4 only; without one the entry is unusable.
            guard let nodeID = entry.nodeID else { return nil }
            return NodeListEntry(nodeID: nodeID, name: entry.name, addresses: entry.rings.keys.sorted().map { entry.rings[$0]! })
        }
    }

    /// What a snapshot takes from cmap: it changes only when corosync reloads its configuration.
    struct Configuration {
        var clusterName: String?
        var nodeList: [NodeListEntry]
    }

    static func configuration(_ cmap: CMap) async throws(CorosyncError) -> Configuration {
        Configuration(clusterName: try await cmap.get("totem.cluster_name")?.stringValue, nodeList: try await nodeList(cmap))
    }

    /// A snapshot from votequorum and `configuration`. It asks only votequorum, the one service corosync keeps serving
    /// while it synchronises a membership change (a cmap request then waits, and corosync spins on it until the end).
    static func read(
        configuration: Configuration, voteQuorum: VoteQuorumConnection, quorate: Bool, quorumRing: RingID?, ring: RingID?,
        ringMembers: [UInt32]
    ) async throws(CorosyncError) -> ClusterSnapshot {
        let local = try await voteQuorum.info(nodeID: 0)
        var members: [ClusterMember] = []
        var seen = Set<UInt32>()
        let online = Set(ringMembers)
        for entry in configuration.nodeList where seen.insert(entry.nodeID).inserted {
            members.append(ClusterMember(
                nodeID: entry.nodeID, name: entry.name, addresses: entry.addresses, online: online.contains(entry.nodeID),
                votes: nil, isLocal: entry.nodeID == local.nodeID))
        }
        for nodeID in ringMembers where seen.insert(nodeID).inserted {
            members.append(ClusterMember(nodeID: nodeID, name: nil, addresses: [], online: true, votes: nil, isLocal: nodeID == local.nodeID))
        }
        members.sort { $0.nodeID < $1.nodeID }
        for index in members.indices {
            // votequorum knows every node it has seen; a node never seen has no votes to report.
            if let info = try? await voteQuorum.info(nodeID: members[index].nodeID), info.state != .unknown {
                members[index].votes = info.votes
            }
        }
        return ClusterSnapshot(
            clusterName: configuration.clusterName, localNodeID: local.nodeID, ring: ring, quorate: quorate, quorumRing: quorumRing,
            expectedVotes: local.expectedVotes, highestExpected: local.highestExpected, totalVotes: local.totalVotes,
            quorum: local.quorum, flags: local.flags, members: members)
    }
}

/// The live cluster as seen from this node: connects to corosync (cmap, quorum, votequorum), reports every
/// membership, quorum and vote change as a `ClusterEvent` with a fresh snapshot, and when corosync goes away says
/// so at once and reconnects by itself with exponential backoff.
///
/// Driven entirely by corosync's callbacks: no polling.
public actor ClusterMonitor {
    public struct Backoff: Sendable {
        public var initial: Duration
        public var maximum: Duration
        public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5)) {
            self.initial = initial
            self.maximum = maximum
        }
    }

    public nonisolated let events: AsyncStream<ClusterEvent>
    private let continuation: AsyncStream<ClusterEvent>.Continuation
    private let backoff: Backoff
    /// How long a fresh connection may wait for corosync's current quorum state before it is retried (nil: for
    /// ever). corosync answers at once unless a membership change is being synchronised, which can take longer than
    /// a token timeout: a daemon must not treat that as a lost connection, an observer may.
    private let firstEventTimeout: Duration?
    private let logger: Logger
    private(set) public var snapshot: ClusterSnapshot?

    public nonisolated let endpoint: CorosyncEndpoint

    public init(
        endpoint: CorosyncEndpoint = .local, backoff: Backoff = Backoff(), firstEventTimeout: Duration? = nil,
        logger: Logger = Logger(label: "sfha.corosync.monitor")
    ) {
        self.firstEventTimeout = firstEventTimeout
        self.endpoint = endpoint
        (events, continuation) = AsyncStream.makeStream(of: ClusterEvent.self, bufferingPolicy: .unbounded)
        self.backoff = backoff
        self.logger = logger
    }

    /// Runs until cancelled: connect, follow events, reconnect after a loss. Finishes `events` on return.
    public func run() async {
        defer { continuation.finish() }
        var pause = backoff.initial
        var reportedLoss = false
        while !Task.isCancelled {
            do throws(CorosyncError) {
                try await followOneConnection {
                    pause = self.backoff.initial
                    reportedLoss = false
                }
                return  // cancelled while connected
            } catch {
                snapshot = nil
                if !reportedLoss {
                    // Say it once per outage, at once; then keep retrying quietly.
                    reportedLoss = true
                    logger.warning("corosync connection lost", metadata: ["error": "\(error)"])
                    continuation.yield(.connectionLost(error))
                }
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, backoff.maximum)
            }
        }
    }

    private enum Trigger: Sendable {
        case quorum(QuorumEvent)
        case votes(VoteQuorumEvent)
        case nodeList
        case ended(CorosyncError)
    }

    /// Connects and follows events until the connection fails (throws) or the task is cancelled (returns).
    private func followOneConnection(onConnected: () -> Void) async throws(CorosyncError) {
        let cmap = try CMap(endpoint: endpoint)
        let quorum: QuorumConnection
        let voteQuorum: VoteQuorumConnection
        do {
            quorum = try QuorumConnection(endpoint: endpoint)
            voteQuorum = try VoteQuorumConnection(endpoint: endpoint)
        } catch {
            cmap.close()
            throw error
        }
        defer {
            cmap.close()
            quorum.close()
            voteQuorum.close()
        }
        let nodeListChanges = try cmap.track("nodelist.", prefix: true)
        let (triggers, sink) = AsyncStream.makeStream(of: Trigger.self, bufferingPolicy: .unbounded)

        func forward<S: AsyncSequence & Sendable>(_ stream: S, _ wrap: @escaping @Sendable (S.Element) -> Trigger, name: String) -> Task<Void, Never> where S.Element: Sendable {
            Task {
                do {
                    for try await element in stream { sink.yield(wrap(element)) }
                    sink.yield(.ended(CorosyncError(code: .library, function: name)))
                } catch let error as CorosyncError {
                    sink.yield(.ended(error))
                } catch {
                    sink.yield(.ended(CorosyncError(code: .library, function: name)))
                }
            }
        }
        let tasks = [
            forward(quorum.events, { .quorum($0) }, name: "quorum_dispatch"),
            forward(voteQuorum.events, { .votes($0) }, name: "votequorum_dispatch"),
            forward(nodeListChanges, { _ in .nodeList }, name: "cmap_dispatch"),
        ]
        // A connection made while corosync starts or stops can stay silent for good: with a first-event timeout, a
        // first quorum event that does not come in time counts as a lost connection.
        let firstEventTimeout = self.firstEventTimeout
        let firstEventDeadline = Task {
            guard let firstEventTimeout else { return }
            try await Task.sleep(for: firstEventTimeout)
            sink.yield(.ended(CorosyncError(code: .timeout, function: "quorum_trackstart", subject: "no current quorum state")))
        }
        defer {
            tasks.forEach { $0.cancel() }
            firstEventDeadline.cancel()
        }

        var quorate = false
        var quorumRing: RingID?
        var ring: RingID?
        var ringMembers: [UInt32] = []
        var connected = false
        // Read from cmap once connected and again only when the nodelist changes (a reload): see SnapshotReader.read.
        var configuration = SnapshotReader.Configuration(clusterName: nil, nodeList: [])

        for await trigger in triggers {
            switch trigger {
            case .ended(let error):
                throw error
            case .quorum(.nodeList(let newRing, let members, let joined, let left)):
                ring = newRing
                ringMembers = members
                guard connected else { continue }
                let fresh = try await refresh(configuration, voteQuorum, quorate, quorumRing, ring, ringMembers)
                continuation.yield(.membershipChanged(MembershipChange(ring: newRing, members: members, joined: joined, left: left), fresh))
            case .quorum(.quorum(let isQuorate, let newRing, let members)):
                // A new ring's quorum is news even when the flag is the same: until it arrives, the flag that came
                // with the membership change belonged to the previous ring.
                let changed = isQuorate != quorate || newRing != quorumRing
                quorate = isQuorate
                quorumRing = newRing
                ring = newRing
                ringMembers = members
                if !connected {
                    connected = true
                    firstEventDeadline.cancel()
                    onConnected()
                    configuration = try await SnapshotReader.configuration(cmap)
                    continuation.yield(.connected(try await refresh(configuration, voteQuorum, quorate, quorumRing, ring, ringMembers)))
                } else if changed {
                    continuation.yield(.quorumChanged(quorate: isQuorate, try await refresh(configuration, voteQuorum, quorate, quorumRing, ring, ringMembers)))
                }
            case .votes:
                guard connected else { continue }
                let previous = snapshot
                let fresh = try await refresh(configuration, voteQuorum, quorate, quorumRing, ring, ringMembers)
                if let previous, previous.expectedVotes != fresh.expectedVotes || previous.totalVotes != fresh.totalVotes
                    || previous.quorum != fresh.quorum || previous.flags != fresh.flags
                    || previous.members.map(\.votes) != fresh.members.map(\.votes)
                {
                    continuation.yield(.votesChanged(fresh))
                }
            case .nodeList:
                guard connected else { continue }
                configuration = try await SnapshotReader.configuration(cmap)
                continuation.yield(.nodeListChanged(try await refresh(configuration, voteQuorum, quorate, quorumRing, ring, ringMembers)))
            }
        }
    }

    private func refresh(
        _ configuration: SnapshotReader.Configuration, _ voteQuorum: VoteQuorumConnection, _ quorate: Bool,
        _ quorumRing: RingID?, _ ring: RingID?, _ ringMembers: [UInt32]
    ) async throws(CorosyncError) -> ClusterSnapshot {
        let fresh = try await SnapshotReader.read(
            configuration: configuration, voteQuorum: voteQuorum, quorate: quorate, quorumRing: quorumRing, ring: ring,
            ringMembers: ringMembers)
        snapshot = fresh
        return fresh
    }

    /// Reads one snapshot with short-lived connections (for one-shot tools such as `sfha status`).
    public static func readSnapshot(endpoint: CorosyncEndpoint = .local) async throws(CorosyncError) -> ClusterSnapshot {
        let cmap = try CMap(endpoint: endpoint)
        defer { cmap.close() }
        let quorum = try QuorumConnection(endpoint: endpoint)
        defer { quorum.close() }
        let voteQuorum = try VoteQuorumConnection(endpoint: endpoint)
        defer { voteQuorum.close() }
        // CS_TRACK_CURRENT delivers the current quorum state (with the ring's members) right away.
        var quorate = false
        var ring: RingID?
        var members: [UInt32] = []
        do {
            for try await event in quorum.events {
                if case .quorum(let q, let r, let m) = event {
                    (quorate, ring, members) = (q, r, m)
                    break
                }
            }
        } catch let error as CorosyncError {
            throw error
        } catch {
            throw CorosyncError(code: .library, function: "quorum_dispatch")
        }
        return try await SnapshotReader.read(
            configuration: try await SnapshotReader.configuration(cmap), voteQuorum: voteQuorum, quorate: quorate,
            quorumRing: ring, ring: ring, ringMembers: members)
    }
}
