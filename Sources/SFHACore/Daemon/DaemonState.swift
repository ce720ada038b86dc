import CorosyncKit

/// What corosync says about this node's cluster, as the daemon's decisions need it.
public struct CorosyncFacts: Sendable, Equatable {
    /// Node ids of the current ring.
    public var members: Set<UInt32>
    public var ring: RingID?
    /// Quorate in the current ring. Only meaningful when `quorumKnown`.
    public var quorate: Bool
    /// corosync has reported the current ring's quorum (it announces a new ring's members first).
    public var quorumKnown: Bool
    /// votequorum's `two_node`: each half of a partition stays quorate.
    public var twoNode: Bool
    /// Node id → name from corosync's nodelist.
    public var nodeNames: [UInt32: String]
    /// Nodes in corosync's nodelist.
    public var nodeCount: Int
    /// corosync's effective token timeout.
    public var tokenTimeout: Duration
    /// Votes present, expected, and the quorum (for `sfha status`).
    public var votes: DaemonStatus.Votes?

    public init(
        members: Set<UInt32>, ring: RingID? = nil, quorate: Bool, quorumKnown: Bool = true, twoNode: Bool = false,
        nodeNames: [UInt32: String] = [:], nodeCount: Int? = nil, tokenTimeout: Duration = .seconds(1)
    ) {
        self.members = members
        self.ring = ring
        self.quorate = quorate
        self.quorumKnown = quorumKnown
        self.twoNode = twoNode
        self.nodeNames = nodeNames
        self.nodeCount = nodeCount ?? max(nodeNames.count, members.count)
        self.tokenTimeout = tokenTimeout
    }

    /// From a `ClusterMonitor` snapshot (the token timeout is read separately, from cmap).
    public init(_ snapshot: ClusterSnapshot, tokenTimeout: Duration) {
        var names: [UInt32: String] = [:]
        for member in snapshot.members { if let name = member.name { names[member.nodeID] = name } }
        self.init(
            members: Set(snapshot.onlineMembers.map(\.nodeID)), ring: snapshot.ring, quorate: snapshot.quorateInCurrentRing,
            quorumKnown: snapshot.quorumIsCurrent, twoNode: snapshot.flags.contains(.twoNode), nodeNames: names,
            nodeCount: snapshot.members.count, tokenTimeout: tokenTimeout)
        votes = DaemonStatus.Votes(present: snapshot.totalVotes, expected: snapshot.expectedVotes, quorum: snapshot.quorum)
    }
}

/// sfhad's decision logic as a pure state machine: inputs (corosync membership, the sfha process group, messages
/// from the other daemons, local state from the reconciler) go in; messages to send, the groups this node must hold
/// and committed configuration come out. The daemon's services feed it and carry out its outputs; tests drive it
/// directly.
///
/// Every message from the group is validated and bound to its sender before it changes anything: a report, claim or
/// proposal counts only from the sfhad process of the node it speaks for, with values in range, and a rejected
/// message changes nothing.
public struct DaemonState: Sendable {
    public enum Input: Sendable, Equatable {
        /// What corosync says now (membership, quorum of the current ring, nodelist).
        case corosync(CorosyncFacts)
        /// corosync went away on this node.
        case corosyncLost
        /// This daemon is in the sfha process group as `member` (nil: it left or lost it).
        case groupConnected(ProcessGroupMember?)
        /// The totem ring changed (from the process group, in order with its messages).
        case ring(RingID, nodes: [UInt32])
        /// The sfha process group changed: its processes now, who joined, and who left (with why).
        case groupMembership(members: [ProcessGroupMember], joined: [ProcessGroupMember], left: [ProcessGroupDeparture])
        /// A message delivered by the process group (in total order, including this daemon's own).
        case message(from: ProcessGroupMember, ClusterMessage)
        /// What the local reconciler and health monitor report.
        case localState(holdings: Set<String>, blockedGroups: Set<String>, healthy: Bool, failures: Int = 0, running: Set<String> = [])
        /// Whether this node is proven to be in its quorate ring now (`RingEvidence`).
        case proven(Bool)
        /// A reading of corosync's counters that started after this daemon learnt of its current ring: when it left
        /// its previous ring is known (an upper bound; nil when it was in none). The ring report goes out.
        case previousRingKnown(leftAtMost: Timestamp?)
        case setStandby(Bool)
        /// This node's priority changed (configuration reload).
        case setPriority(Int)
        /// What this machine has (its interfaces) and which groups it cannot apply, read beside the core loop.
        case machine(interfaces: [String]?, cannotApply: [String: String])
        /// A low-rate timer: re-publish the report (a hung daemon stops doing this) and re-evaluate timed rules.
        case tick
        /// The moment a timed rule was waiting for (`nextDecisionTime`) has come: decide again, nothing else.
        case wakeUp
    }

    /// A process that left the group, and whether its whole node left with it.
    public struct ProcessGroupDeparture: Sendable, Equatable {
        public var member: ProcessGroupMember
        public var nodeLeft: Bool
        public init(_ member: ProcessGroupMember, nodeLeft: Bool) {
            self.member = member
            self.nodeLeft = nodeLeft
        }
    }

    public enum Output: Sendable, Equatable {
        /// This node's report, to stamp (ring evidence, ages of `previousRing`) and send.
        case publish(NodeStateReport, previousRing: PreviousRing?)
        case send(ClusterMessage)
        /// The groups this node must hold now (the reconciler makes it so).
        case assign(Set<String>, Placement)
        /// A new cluster document was committed: write it atomically and apply it.
        case commit(ClusterDocument)
        /// A new membership record was committed: write it atomically and derive the mesh and corosync from it.
        case commitMembership(MembershipDocument)
        /// The outcome of a proposal this node made (for the operator who asked).
        case proposalOutcome(id: String, verdict: ProposalVerdict)
        /// An operator cleared failures (of one group, or all) on this node: forget them.
        case clearFailures(group: String?)
        /// This daemon's own report, stamped with gather counter `base`, came back in `ring`.
        case anchorDelivered(base: UInt64, ring: RingID)
        /// A message was refused (to log, at a bounded rate): it changed nothing.
        case rejected(from: ProcessGroupMember, reason: String)
        /// Another node stopped claiming a group this node holds: announce its VIPs again (neighbours' caches).
        case reannounce
    }

    /// What every member decided about a proposal (they all decide the same).
    public enum ProposalVerdict: Sendable, Equatable, CustomStringConvertible {
        case committed(revision: UInt64)
        case unchanged(revision: UInt64)
        /// Made on `base` while `current` was committed first: re-apply the change on `current`.
        case conflict(base: UInt64, current: UInt64)
        case noQuorum
        /// A two-node cluster commits only with both nodes present (each half of a partition is quorate).
        case twoNodeIncomplete
        /// The configuration is invalid (the same rules as config.yml).
        case invalid(String)

        public var isCommitted: Bool {
            switch self {
            case .committed, .unchanged: true
            case .conflict, .noQuorum, .twoNodeIncomplete, .invalid: false
            }
        }

        public var description: String {
            switch self {
            case .committed(let revision): "committed as revision \(revision)"
            case .unchanged(let revision): "nothing changed (revision \(revision) already has this content)"
            case .conflict(let base, let current):
                "conflict: the change was made on revision \(base) but revision \(current) was committed first; "
                    + "re-read the configuration and apply the change again"
            case .noQuorum: "this partition has no quorum (the ring holds no majority of the nodes); changes are refused until it has"
            case .twoNodeIncomplete:
                "this two-node cluster has one node only: a change made on each side of a partition would be lost when it heals, "
                    + "so changes wait until both nodes are present"
            case .invalid(let why): "refused: \(why)"
            }
        }
    }

    /// How long a process that joined the group may take to report before it no longer counts as a daemon that
    /// might hold something (any process may join the group; only reporting daemons count).
    public static let reportGrace: Duration = .seconds(3)
    /// Bounds on what a report may carry.
    static let maximumListedGroups = 1024
    static let maximumListedInterfaces = 4096
    /// What a node says it is missing, per group.
    static let maximumReasonLength = 1024
    static let maximumRevision: UInt64 = UInt64(Int64.max)

    public let nodeName: String
    public let nodeID: UInt32
    public private(set) var document: ClusterDocument
    /// The committed membership record (nil: this cluster was not built by `sfha init`, or this node has none yet).
    public private(set) var membership: MembershipDocument?
    public private(set) var view: ClusterView
    public private(set) var standby = false
    /// Held groups that are up here (see `NodeReport.running`).
    public private(set) var running: Set<String> = []
    public var priority: Int
    public private(set) var holdings: Set<String> = []
    public private(set) var blockedGroups: Set<String> = []
    public private(set) var healthy = true
    public private(set) var failures = 0
    public private(set) var interfaces: [String]?
    public private(set) var cannotApply: [String: String] = [:]
    public private(set) var proven = false
    public private(set) var lastPlacement: Placement?
    public private(set) var facts: CorosyncFacts?
    /// How long after its last token a node may still hold a VIP (`DaemonTimings.holderOverhang`).
    public var holderOverhang: Duration
    /// Validates a configuration received from the group with the config.yml rules (nil: valid).
    public var validateConfiguration: @Sendable (ClusterConfiguration) -> String? = { _ in nil }
    private var sequence: UInt64 = 0
    private var upSince: Timestamp
    private var lastPublished: NodeStateReport?
    /// The sequence number of this daemon's latest published report, and the groups it says are held.
    public var publishedSequence: UInt64 { sequence }
    public var publishedHoldings: Set<String> { lastPublished?.report.holdings ?? [] }
    /// The sequence number of this daemon's latest report the group delivered back. Reports are delivered to every
    /// daemon in one order: once a report that claims a group is delivered here, every claim delivered before it —
    /// another node's claim of the same group — is known here too, and placement has decided with it. (The local
    /// view takes its own report at once; only this says it went through the group.)
    public private(set) var ownDeliveredSequence: UInt64 = 0
    /// The document revision each node's daemon last reported running.
    public private(set) var reportedRevisions: [String: UInt64] = [:]
    private var lastAssigned: Set<String>?

    // Process group: this daemon, the daemons, and processes that joined but have not reported yet.
    private var localProcess: ProcessGroupMember?
    private var groupMembers: Set<ProcessGroupMember> = []
    /// Node id → the process that is that node's sfhad (the one that reported first; one per node).
    private var daemonProcesses: [UInt32: ProcessGroupMember] = [:]
    private var joinedAt: [ProcessGroupMember: Timestamp] = [:]
    private var lastSequence: [ProcessGroupMember: UInt64] = [:]
    /// Where this daemon is in the group's order.
    private var position = StreamPosition(membership: 0, index: 0)

    // The totem ring, from the process group (in order with the messages).
    private var ring: (id: RingID, nodes: [UInt32], learntAt: Timestamp)?
    private var previousRing: (nodes: [UInt32], learntAt: Timestamp)?
    private var previousRingLeft: Timestamp?
    /// The ring report waits for `previousRingKnown`.
    private var awaitingRingSummary = false
    /// Nodes whose daemon reported in the current ring, and their previous-ring summaries.
    private var ringLive: Set<UInt32> = []
    private var ringSummaries: [UInt32: AcquisitionFence.Received] = [:]

    /// When each peer's last report arrived: a daemon still in the group but silent for `silenceLimit` *while the
    /// group kept delivering* is hung.
    private var lastHeard: [String: Timestamp] = [:]
    /// When this daemon's own last message came back from the group. While corosync is forming a new membership
    /// CPG delivers nothing to anyone, so every peer looks silent; only a peer that stays silent while our own
    /// messages keep flowing is hung.
    public private(set) var lastOwnDelivery: Timestamp?
    /// Whether this daemon is in the sfha process group now (it has seen a group membership that includes it).
    /// Until it is it cannot know which other daemons are alive, so it takes nothing.
    public private(set) var inProcessGroup = false
    /// Peers declared hung, with the point of the order where that was decided: their reports written before it
    /// count for nothing, and their claims are ignored until they report holding nothing.
    public private(set) var silentPeers: [String: StreamPosition] = [:]
    /// Heartbeats go out every `DaemonTimings.heartbeat`; a peer silent this long is hung.
    public var silenceLimit: Duration = DaemonTimings.silenceLimit

    public init(
        nodeName: String, nodeID: UInt32, priority: Int, document: ClusterDocument, membership: MembershipDocument? = nil, now: Timestamp,
        holderOverhang: Duration = DaemonTimings.holderOverhang
    ) {
        self.nodeName = nodeName
        self.nodeID = nodeID
        self.priority = priority
        self.document = document
        self.membership = membership
        self.view = ClusterView(localNode: nodeName)
        self.upSince = now
        self.holderOverhang = holderOverhang
    }

    public var report: NodeReport {
        NodeReport(
            name: nodeName, nodeID: nodeID, priority: priority,
            standby: standby || document.configuration.standbyNodes.contains(nodeName), healthy: healthy,
            blockedGroups: blockedGroups, holdings: holdings, upSince: upSince, failures: failures, proven: proven,
            running: running.intersection(holdings), interfaces: interfaces,
            cannotApply: cannotApply.filter { name, _ in document.configuration.group(named: name) != nil })
    }

    /// The ring this daemon is in, from the process group.
    public var currentRing: RingID? { ring?.id }

    /// The current ring's acquisition fence (nil: none).
    public var fence: Timestamp? { view.fence }

    /// What the fence was computed from (for the log).
    public var fenceInputs: String {
        let summaries = ringSummaries.keys.sorted().map { node -> String in
            let received = ringSummaries[node]!
            let summary = received.summary
            return "\(node): ring \(summary.members) formed \(summary.formedAgeMilliseconds) ms, left "
                + "\(summary.leftAgeMilliseconds.map { "\($0) ms" } ?? "unknown") before \(received.at)"
        }
        return "ring \(ring.map { "\($0.id) \($0.nodes) learnt \($0.learntAt)" } ?? "unknown"), live \(ringLive.sorted()), "
            + "summaries [\(summaries.joined(separator: "; "))]"
    }

    public mutating func handle(_ input: Input, now: Timestamp) -> [Output] {
        var outputs: [Output] = []
        var forcePublish = false
        switch input {
        case .corosync(let newFacts):
            facts = newFacts
            view.membershipChanged(members: newFacts.members, quorate: newFacts.quorate && newFacts.quorumKnown, at: now)
            refreshFence()
        case .corosyncLost:
            facts = nil
            view.corosyncLost(at: now)
            daemonProcesses = [:]
            groupMembers = []
            joinedAt = [:]
            inProcessGroup = false
            ring = nil
            ringLive = []
            ringSummaries = [:]
            refreshFence()
        case .groupConnected(let member):
            localProcess = member
            if member == nil {
                inProcessGroup = false
                groupMembers = []
                daemonProcesses = [:]
                joinedAt = [:]
                view.daemonsChanged([])
            }
        case .ring(let id, let nodes):
            guard id != ring?.id else { break }
            if let ring { previousRing = (ring.nodes, ring.learntAt) }
            ring = (id, nodes, now)
            previousRingLeft = nil
            awaitingRingSummary = true
            ringLive = []
            ringSummaries = [:]
            view.accountedGroups = []
            refreshFence()
        case .groupMembership(let members, let joined, let left):
            outputs += groupChanged(members: members, joined: joined, left: left, now: now)
            forcePublish = !joined.isEmpty || !left.isEmpty
        case .message(let from, let message):
            position.index += 1
            outputs += receive(message, from: from, now: now)
        case .localState(let newHoldings, let blocked, let isHealthy, let failureCount, let up):
            holdings = newHoldings
            blockedGroups = blocked
            healthy = isHealthy
            failures = failureCount
            running = up
        case .proven(let value):
            proven = value
        case .previousRingKnown(let left):
            previousRingLeft = left
            if awaitingRingSummary {
                awaitingRingSummary = false
                forcePublish = true
            }
        case .setStandby(let on):
            standby = on
        case .setPriority(let value):
            priority = value
        case .machine(let names, let groups):
            interfaces = names
            cannotApply = groups
        case .wakeUp:
            break
        case .tick:
            forcePublish = true
            detectHungPeers(now: now)
        }
        outputs += publishIfNeeded(force: forcePublish)
        // On a tick the assignment is repeated, so the reconciler can repair what changed behind its back; after a
        // commit too, so that new definitions (a VIP added to a held group, a service removed) apply at once. The
        // assignment comes after the commit in the outputs, and is the one decided with the new document.
        let committed = outputs.contains { if case .commit = $0 { true } else { false } }
        outputs += decide(now: now, repeatAssignment: input == .tick || committed)
        return outputs
    }

    /// When placement must be evaluated again although no input arrives: the end of the earliest takeover delay or
    /// fence it is waiting for, or the moment a joined process's time to report runs out.
    public var nextDecisionTime: Timestamp? {
        var times = lastPlacement?.assignments.compactMap { assignment -> Timestamp? in
            switch assignment.reason {
            case .waitingForTakeover(_, let until), .waitingForFence(let until): until
            default: nil
            }
        } ?? []
        times += joinedAt.values.map { $0 + Self.reportGrace }
        return times.min()
    }

    /// A proposal for a new cluster configuration, to send over the group (the outcome comes back in order).
    public func propose(_ configuration: ClusterConfiguration, id: String) -> ClusterMessage {
        .proposal(ConfigurationProposal(id: id, proposer: nodeName, baseRevision: document.revision, configuration: configuration))
    }

    /// A proposal for a new membership record, made on the committed one (the outcome comes back in order).
    public func propose(membership record: MembershipRecord, id: String, removingAbsentPeerOfTwo: Bool = false) -> ClusterMessage {
        .membershipProposal(MembershipProposal(
            id: id, proposer: nodeName, baseRevision: membership?.revision ?? 0, record: record,
            removesAbsentPeerOfTwo: removingAbsentPeerOfTwo ? true : nil))
    }

    // MARK: - Process group

    private mutating func groupChanged(
        members: [ProcessGroupMember], joined: [ProcessGroupMember], left: [ProcessGroupDeparture], now: Timestamp
    ) -> [Output] {
        var outputs: [Output] = []
        groupMembers = Set(members)
        inProcessGroup = localProcess.map(groupMembers.contains) ?? false
        position = StreamPosition(membership: Self.membershipKey(members: members), index: 0)
        for departure in left {
            joinedAt[departure.member] = nil
            lastSequence[departure.member] = nil
            // Only a node's own sfhad counts: any other process leaving the group changes nothing.
            guard daemonProcesses[departure.member.nodeID] == departure.member else { continue }
            daemonProcesses[departure.member.nodeID] = nil
            ringLive.remove(departure.member.nodeID)
            ringSummaries[departure.member.nodeID] = nil
            if let name = nodeName(of: departure.member.nodeID) {
                silentPeers[name] = nil
                // A daemon whose *node* left is handled by corosync's membership change; a daemon that left while
                // its node stayed may leave VIPs behind until their lease runs out.
                if !departure.nodeLeft { view.daemonLeft(name, at: now) }
            }
        }
        // Every process not known to be a node's sfhad may be one about to report (a joiner, or — for a daemon that
        // just joined — every daemon already there): placement waits for it, at most `reportGrace` from now.
        for member in members where member != localProcess && daemonProcesses[member.nodeID] != member && joinedAt[member] == nil {
            joinedAt[member] = now
        }
        if !joined.isEmpty {
            outputs.append(.send(.document(document)))
            if let membership { outputs.append(.send(.membership(membership))) }
        }
        updateDaemons(now: now)
        refreshFence()
        return outputs
    }

    /// The nodes whose daemon counts for placement: established daemons, and processes that joined lately and may
    /// be a daemon about to report (placement waits for their report, not longer than `reportGrace`).
    private mutating func updateDaemons(now: Timestamp) {
        joinedAt = joinedAt.filter { member, since in groupMembers.contains(member) && now - since < Self.reportGrace }
        var nodes = Set(daemonProcesses.filter { groupMembers.contains($0.value) }.keys)
        nodes.formUnion(joinedAt.keys.map(\.nodeID))
        // A hung daemon stays in the group but counts as gone until it comes back (see `receiveReport`).
        nodes.subtract(silentPeers.keys.compactMap { name in daemonProcesses.keys.first { nodeName(of: $0) == name } })
        if let localProcess, groupMembers.contains(localProcess) { nodes.insert(localProcess.nodeID) }
        view.daemonsChanged(nodes)
    }

    /// A stable identity for one group membership (its processes), the same on every member. (Not the ring: a
    /// daemon that just joined may learn of its ring after its own join, while the others saw no ring change.)
    static func membershipKey(members: [ProcessGroupMember]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ value: UInt64) {
            for shift in stride(from: 0, to: 64, by: 8) {
                hash ^= (value >> UInt64(shift)) & 0xFF
                hash = hash &* 0x100_0000_01b3
            }
        }
        for member in members.sorted(by: { ($0.nodeID, $0.pid) < ($1.nodeID, $1.pid) }) {
            mix(UInt64(member.nodeID) << 32 | UInt64(member.pid))
        }
        return hash
    }

    private func nodeName(of nodeID: UInt32) -> String? {
        if nodeID == self.nodeID { return nodeName }
        return facts?.nodeNames[nodeID] ?? view.reports.values.first { $0.nodeID == nodeID }?.name
    }

    /// The process speaking for `member`'s node, if `member` is it (established by its first valid report).
    private func isDaemon(_ member: ProcessGroupMember) -> Bool {
        member == localProcess || daemonProcesses[member.nodeID] == member
    }

    // MARK: - Messages

    private mutating func receive(_ message: ClusterMessage, from: ProcessGroupMember, now: Timestamp) -> [Output] {
        switch message {
        case .report(let state):
            return receiveReport(state, from: from, now: now)
        case .proposal(let proposal):
            guard isDaemon(from), proposal.proposer == nodeName(of: from.nodeID) else {
                return [.rejected(from: from, reason: "a proposal from \(from), which is not the sfhad of node '\(proposal.proposer)'")]
            }
            let verdict = verdict(on: proposal)
            var outputs: [Output] = []
            if case .committed = verdict {
                document = ClusterDocument(revision: document.revision + 1, configuration: proposal.configuration)
                outputs.append(.commit(document))
            }
            if proposal.proposer == nodeName && from == localProcess {
                outputs.append(.proposalOutcome(id: proposal.id, verdict: verdict))
            }
            return outputs
        case .document(let offered):
            guard mayOffer(from) else { return [.rejected(from: from, reason: "a document from \(from), which is not a node's sfhad")] }
            // Catch up to a higher committed revision (a node that was away); never go back. Two nodes that started
            // from different config.yml files both hold revision 1 with different content: every member adopts the
            // one with the smaller hash, so they converge on one document (deterministically, as all see the same
            // offers in the same order).
            guard (1...Self.maximumRevision).contains(offered.revision),
                offered.contentHash == ClusterDocument.contentHash(of: offered.configuration)
            else { return [.rejected(from: from, reason: "a document with revision \(offered.revision) or a wrong hash")] }
            guard Self.supersedes(offered.revision, offered.contentHash, document.revision, document.contentHash) else { return [] }
            if let problem = validateConfiguration(offered.configuration) {
                return [.rejected(from: from, reason: "an invalid document (revision \(offered.revision)): \(problem)")]
            }
            document = offered
            return [.commit(document)]
        case .membershipProposal(let proposal):
            guard isDaemon(from), proposal.proposer == nodeName(of: from.nodeID) else {
                return [.rejected(from: from, reason: "a membership proposal from \(from), which is not the sfhad of node '\(proposal.proposer)'")]
            }
            let verdict = membershipVerdict(on: proposal)
            var outputs: [Output] = []
            if case .committed(let revision) = verdict {
                membership = MembershipDocument(revision: revision, record: proposal.record)
                outputs.append(.commitMembership(membership!))
            }
            if proposal.proposer == nodeName && from == localProcess {
                outputs.append(.proposalOutcome(id: proposal.id, verdict: verdict))
            }
            return outputs
        case .membership(let offered):
            guard mayOffer(from) else { return [.rejected(from: from, reason: "a membership record from \(from), which is not a node's sfhad")] }
            guard (1...Self.maximumRevision).contains(offered.revision),
                offered.contentHash == MembershipDocument.contentHash(of: offered.record)
            else { return [.rejected(from: from, reason: "a membership record with revision \(offered.revision) or a wrong hash")] }
            // Catch up to a higher revision; never go back; equal revisions converge on the smaller hash.
            if let membership {
                guard Self.supersedes(offered.revision, offered.contentHash, membership.revision, membership.contentHash) else { return [] }
                if let problem = offered.record.successionProblem(after: membership.record), offered.revision > membership.revision {
                    return [.rejected(from: from, reason: "a membership record (revision \(offered.revision)) that cannot follow ours: \(problem)")]
                }
            }
            do {
                _ = try offered.record.validated()
            } catch {
                return [.rejected(from: from, reason: "an invalid membership record (revision \(offered.revision)): \(error.message)")]
            }
            membership = offered
            return [.commitMembership(offered)]
        case .command(let command):
            guard isDaemon(from) else { return [.rejected(from: from, reason: "a command from \(from), which is not a node's sfhad")] }
            switch command {
            case .move(let group, let request):
                guard document.configuration.group(named: group) != nil else {
                    return [.rejected(from: from, reason: "a move of unknown group '\(group)'")]
                }
                if let request {
                    let target: String
                    switch request {
                    case .to(let node), .awayFrom(let node): target = node
                    }
                    guard Validators.nodeName(target) == nil else { return [.rejected(from: from, reason: "a move naming an invalid node")] }
                }
                view.moveRequests[group] = request
            case .cleanup(let group, let node):
                if let group, document.configuration.group(named: group) == nil {
                    return [.rejected(from: from, reason: "a cleanup of unknown group '\(group)'")]
                }
                guard node == nil || node == nodeName else { return [] }
                if let group { blockedGroups.remove(group) } else { blockedGroups = [] }
                return [.clearFailures(group: group)]
            }
            return []
        }
    }

    /// Whether the ring (from the group, in order) may commit a change: a majority of the nodes, and with
    /// `two_node` both of them. nil: it may.
    private var ringRefusal: ProposalVerdict? {
        guard let ring, let facts else { return .noQuorum }
        let count = Set(ring.nodes).count
        if facts.twoNode && count < facts.nodeCount { return .twoNodeIncomplete }
        guard count * 2 > facts.nodeCount else { return .noQuorum }
        return nil
    }

    /// The same rules for the membership record: the ring, the base revision, and a record that may follow the
    /// committed one (or, for the first one, is valid on its own).
    private func membershipVerdict(on proposal: MembershipProposal) -> ProposalVerdict {
        if let refusal = ringRefusal, !removesAbsentPeerOfTwo(proposal, despite: refusal) { return refusal }
        let current = membership?.revision ?? 0
        guard proposal.baseRevision == current else { return .conflict(base: proposal.baseRevision, current: current) }
        guard current < Self.maximumRevision else { return .invalid("revision \(current) is the last one") }
        if let membership {
            if let problem = proposal.record.successionProblem(after: membership.record) { return .invalid(problem) }
            if MembershipDocument.contentHash(of: proposal.record) == membership.contentHash { return .unchanged(revision: current) }
        } else {
            do {
                _ = try proposal.record.validated()
            } catch {
                return .invalid(error.message)
            }
        }
        return .committed(revision: current + 1)
    }

    /// The one exception to the two-node rule: a two-node ring with one node in it may commit the record that
    /// removes the other — the absent one, and nothing else changed. Safe for the VIPs as far as `two_node` already
    /// is (each half of a two-node split is quorate and may hold them); what it adds is that the split becomes
    /// final, which is why it is only proposed on the operator's word (`--force` for a node that is down, or a node
    /// that was told to leave and left).
    private func removesAbsentPeerOfTwo(_ proposal: MembershipProposal, despite refusal: ProposalVerdict) -> Bool {
        guard case .twoNodeIncomplete = refusal, proposal.removesAbsentPeerOfTwo == true, let membership, let ring else { return false }
        let present = Set(ring.nodes)
        let before = membership.record.members
        let after = proposal.record.members
        guard before.count == 2, after.count == 1, let kept = after.first, present == [kept.nodeID],
            let removed = before.first(where: { $0.nodeID != kept.nodeID }), !present.contains(removed.nodeID),
            before.contains(kept)
        else { return false }
        return proposal.record.tombstones.contains { $0.nodeID == removed.nodeID }
    }

    /// Offers (documents, membership records) are sent when daemons join, before anyone has their report: one from a
    /// process of a node whose sfhad is not known yet is considered too (it is validated like everything else).
    private func mayOffer(_ from: ProcessGroupMember) -> Bool {
        isDaemon(from) || (groupMembers.contains(from) && daemonProcesses[from.nodeID] == nil && from.nodeID != nodeID)
    }

    /// An offered revision replaces the held one when it is higher, or equal with a smaller hash (so members that
    /// hold different content at one revision converge, all seeing the same offers in the same order).
    static func supersedes(_ revision: UInt64, _ hash: String, _ heldRevision: UInt64, _ heldHash: String) -> Bool {
        revision > heldRevision || (revision == heldRevision && hash < heldHash)
    }

    /// Every member reaches the same verdict from the same ordered history: the ring (from the group), the
    /// document, and the proposal.
    private func verdict(on proposal: ConfigurationProposal) -> ProposalVerdict {
        if let refusal = ringRefusal { return refusal }
        guard proposal.baseRevision == document.revision else {
            return .conflict(base: proposal.baseRevision, current: document.revision)
        }
        guard document.revision < Self.maximumRevision else { return .invalid("revision \(document.revision) is the last one") }
        if let problem = validateConfiguration(proposal.configuration) { return .invalid(problem) }
        let hash = ClusterDocument.contentHash(of: proposal.configuration)
        return hash == document.contentHash ? .unchanged(revision: document.revision) : .committed(revision: document.revision + 1)
    }

    private mutating func receiveReport(_ incoming: NodeStateReport, from: ProcessGroupMember, now: Timestamp) -> [Output] {
        let state: NodeStateReport
        switch validated(incoming, from: from) {
        case .failure(let problem): return [.rejected(from: from, reason: problem.reason)]
        case .success(let valid): state = valid
        }
        lastSequence[from] = state.sequence
        let name = state.report.name
        reportedRevisions[name] = state.configurationRevision
        // A summary written for another ring (before the sender learnt of this one) says nothing about this one.
        if let summary = state.previousRing, summary.ring == ring?.id { ringSummaries[from.nodeID] = .init(summary, at: now) }
        if from == localProcess {
            lastOwnDelivery = now
            ownDeliveredSequence = max(ownDeliveredSequence, state.sequence)
            refreshFence()
            if let base = state.anchorBase, let ring { return [.anchorDelivered(base: base, ring: ring.id)] }
            return []
        }
        if daemonProcesses[from.nodeID] == nil {
            daemonProcesses[from.nodeID] = from
            joinedAt[from] = nil
            updateDaemons(now: now)
        }
        // Reports from outside this node's membership crossed a partition: ignore them.
        guard view.members.contains(state.report.nodeID) else { return [] }
        lastHeard[name] = now
        // Written before this daemon's latest group change, or before it declared the sender hung: stale.
        guard state.basedOn?.membership == position.membership else { return [] }
        if let silentAt = silentPeers[name] {
            guard let basedOn = state.basedOn, basedOn.index >= silentAt.index else { return [] }
            // A hung daemon comes back: its claims count again once it holds nothing (its VIPs expired meanwhile).
            guard state.report.holdings.isEmpty else { return [] }
            silentPeers[name] = nil
            view.daemonsChanged(view.daemons.union([state.report.nodeID]))
        }
        var outputs: [Output] = []
        let releasedHere = view.reports[name].map { !$0.holdings.intersection(holdings).isEmpty && state.report.holdings.intersection(holdings).isEmpty } ?? false
        view.received(state.report)
        if releasedHere { outputs.append(.reannounce) }
        ringLive.insert(state.report.nodeID)
        view.accountedGroups.formUnion(state.report.holdings)
        refreshFence()
        return outputs
    }

    private struct Rejection: Error { var reason: String }

    /// A report as it may be used: from the sfhad process of the node it names, with values in range; names of
    /// groups that do not exist are dropped (the sender may run another revision).
    private func validated(_ state: NodeStateReport, from: ProcessGroupMember) -> Result<NodeStateReport, Rejection> {
        var state = state
        let report = state.report
        guard report.nodeID == from.nodeID else {
            return .failure(Rejection(reason: "a report for node id \(report.nodeID) sent from node \(from.nodeID)"))
        }
        if let established = daemonProcesses[from.nodeID], established != from, groupMembers.contains(established) {
            return .failure(Rejection(reason: "a report for node \(report.nodeID) from \(from), while \(established) is that node's sfhad"))
        }
        if from.nodeID == nodeID && from != localProcess {
            return .failure(Rejection(reason: "a report for this node from another process (\(from))"))
        }
        if let problem = Validators.nodeName(report.name) { return .failure(Rejection(reason: "a report with an invalid node name: \(problem)")) }
        if let known = nodeName(of: from.nodeID), known != report.name {
            return .failure(Rejection(reason: "a report naming '\(report.name)' from node \(from.nodeID), which is '\(known)'"))
        }
        guard ConfigurationParser.priorityRange.contains(report.priority), report.failures >= 0,
            report.holdings.count <= Self.maximumListedGroups, report.blockedGroups.count <= Self.maximumListedGroups,
            state.configurationRevision <= Self.maximumRevision
        else { return .failure(Rejection(reason: "a report from \(from) with values out of range")) }
        if let last = lastSequence[from], state.sequence <= last {
            return .failure(Rejection(reason: "a report from \(from) with sequence \(state.sequence), not after \(last)"))
        }
        if let summary = state.previousRing {
            guard summary.members.count <= Self.maximumListedGroups, summary.formedAgeMilliseconds <= PreviousRingSummary.maximumAge,
                (summary.leftAgeMilliseconds ?? 0) <= PreviousRingSummary.maximumAge
            else { return .failure(Rejection(reason: "a report from \(from) with an out-of-range ring summary")) }
        }
        if let interfaces = report.interfaces {
            guard interfaces.count <= Self.maximumListedInterfaces, interfaces.allSatisfy({ Validators.interfaceName($0) == nil }) else {
                return .failure(Rejection(reason: "a report from \(from) with an invalid list of interfaces"))
            }
        }
        guard report.cannotApply.count <= Self.maximumListedGroups,
            report.cannotApply.values.allSatisfy({ reason in
                reason.utf8.count <= Self.maximumReasonLength && !reason.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
            })
        else { return .failure(Rejection(reason: "a report from \(from) with an out-of-range list of groups it cannot apply")) }
        let groups = Set(document.configuration.groups.map(\.name))
        state.report.holdings = report.holdings.intersection(groups)
        state.report.blockedGroups = report.blockedGroups.intersection(groups)
        state.report.cannotApply = report.cannotApply.filter { groups.contains($0.key) }
        return .success(state)
    }

    // MARK: - Timed rules

    private mutating func detectHungPeers(now: Timestamp) {
        guard let ownDelivery = lastOwnDelivery else { return }
        for (name, heard) in lastHeard where name != nodeName && ownDelivery - heard > silenceLimit && silentPeers[name] == nil {
            guard let report = view.reports[name] else { continue }
            // Hung: it still holds its place in the group, but its VIP leases (refreshed only while its core loop
            // runs and its own messages come back) have run out. Treat it as gone; the takeover delay counts from
            // now, and what it wrote before now counts for nothing.
            view.daemonLeft(name, at: now)
            view.daemonsChanged(view.daemons.subtracting([report.nodeID]))
            silentPeers[name] = position
        }
    }

    /// Recomputes the current ring's fence from what is known now.
    private mutating func refreshFence() {
        guard let ring, let facts else {
            view.fence = nil
            return
        }
        let parameters = AcquisitionFence.Parameters(
            tokenTimeout: facts.tokenTimeout, holderOverhang: holderOverhang, nodeCount: max(facts.nodeCount, ring.nodes.count))
        var live = ringLive
        if localProcess != nil { live.insert(nodeID) }
        view.fence = AcquisitionFence.fence(
            members: Set(ring.nodes), learntAt: ring.learntAt, live: live, summaries: ringSummaries, parameters: parameters)
    }

    // MARK: - Outputs

    private mutating func publishIfNeeded(force: Bool) -> [Output] {
        let current = report
        if !force, let last = lastPublished, last.report == current, last.configurationRevision == document.revision {
            return []
        }
        sequence += 1
        let state = NodeStateReport(
            report: current, configurationRevision: document.revision, configurationHash: document.contentHash,
            sequence: sequence, basedOn: position)
        lastPublished = state
        // The local view knows this node's own report at once (the group echoes it later, in order).
        if view.members.contains(nodeID) {
            view.received(current)
            view.accountedGroups.formUnion(current.holdings)
        }
        var summary: PreviousRing?
        if !awaitingRingSummary, let ring, let previousRing {
            summary = PreviousRing(
                currentRing: ring.id, members: previousRing.nodes, learntAt: previousRing.learntAt, leftAtMost: previousRingLeft)
        }
        return [.publish(state, previousRing: summary)]
    }

    private mutating func decide(now: Timestamp, repeatAssignment: Bool) -> [Output] {
        updateDaemons(now: now)
        // Until corosync has said whether the current ring is quorate, the flag at hand belongs to the previous
        // ring: decide nothing new (a holder keeps its groups while its ring evidence lasts).
        if let facts, !facts.quorumKnown { return [] }
        let placement = Placer.place(view.placementInput(now: now), policy: PlacementPolicy(document.configuration))
        lastPlacement = placement
        // An operator request is done once the group is actually held where it asked (not merely decided: until
        // the old holder has released it, stickiness would keep it there): stickiness applies from then on.
        for (group, request) in view.moveRequests where view.moveSatisfied(group, request) { view.moveRequests[group] = nil }
        let mine = inProcessGroup ? placement.groups(heldBy: nodeName) : []
        guard mine != lastAssigned || repeatAssignment else { return [] }
        lastAssigned = mine
        return [.assign(mine, placement)]
    }
}
