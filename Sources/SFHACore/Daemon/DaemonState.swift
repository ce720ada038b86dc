import CorosyncKit

/// sfhad's decision logic as a pure state machine: inputs (corosync membership, the sfha process group, messages
/// from the other daemons, local state from the reconciler) go in; messages to send, the groups this node must hold
/// and committed configuration come out. The daemon's services feed it and carry out its outputs; tests drive it
/// directly.
public struct DaemonState: Sendable {
    public enum Input: Sendable, Equatable {
        /// corosync membership / quorum (node ids).
        case membership(members: Set<UInt32>, quorate: Bool)
        /// corosync went away on this node.
        case corosyncLost
        /// The sfha process group changed: its members now, and who joined or left.
        case groupMembership(members: [ProcessGroupMember], joined: [ProcessGroupMember], left: [ProcessGroupMember])
        /// A message delivered by the process group (in total order, including this daemon's own).
        case message(from: ProcessGroupMember, ClusterMessage)
        /// What the local reconciler and health monitor report.
        case localState(holdings: Set<String>, blockedGroups: Set<String>, healthy: Bool, failures: Int = 0)
        case setStandby(Bool)
        /// This node's priority changed (configuration reload).
        case setPriority(Int)
        /// A low-rate timer: re-publish the report (a hung daemon stops doing this) and re-evaluate timed rules.
        case tick
        /// The moment a timed rule was waiting for (`nextDecisionTime`) has come: decide again, nothing else.
        case wakeUp
    }

    public enum Output: Sendable, Equatable {
        case send(ClusterMessage)
        /// The groups this node must hold now (the reconciler makes it so).
        case assign(Set<String>, Placement)
        /// A new cluster document was committed: write it atomically and apply it.
        case commit(ClusterDocument)
        /// The outcome of a proposal this node made (for the operator who asked).
        case proposalOutcome(id: String, verdict: ProposalVerdict)
        /// An operator cleared failures (of one group, or all) on this node: forget them.
        case clearFailures(group: String?)
    }

    /// What every member decided about a proposal (they all decide the same).
    public enum ProposalVerdict: Sendable, Equatable, CustomStringConvertible {
        case committed(revision: UInt64)
        case unchanged(revision: UInt64)
        /// Made on `base` while `current` was committed first: re-apply the change on `current`.
        case conflict(base: UInt64, current: UInt64)
        case noQuorum

        public var isCommitted: Bool {
            switch self {
            case .committed, .unchanged: true
            case .conflict, .noQuorum: false
            }
        }

        public var description: String {
            switch self {
            case .committed(let revision): "committed as revision \(revision)"
            case .unchanged(let revision): "nothing changed (revision \(revision) already has this content)"
            case .conflict(let base, let current):
                "conflict: the change was made on revision \(base) but revision \(current) was committed first; "
                    + "re-read the configuration and apply the change again"
            case .noQuorum: "this partition has no quorum; changes are refused until it has"
            }
        }
    }

    public let nodeName: String
    public let nodeID: UInt32
    public private(set) var document: ClusterDocument
    public private(set) var view: ClusterView
    public private(set) var standby = false
    public var priority: Int
    public private(set) var holdings: Set<String> = []
    public private(set) var blockedGroups: Set<String> = []
    public private(set) var healthy = true
    public private(set) var failures = 0
    public private(set) var lastPlacement: Placement?
    private var sequence: UInt64 = 0
    private var upSince: Timestamp
    private var lastPublished: NodeStateReport?
    private var lastAssigned: Set<String>?
    /// Node id → name of the daemons known in the group (learned from their reports).
    private var daemonNames: [UInt32: String] = [:]
    /// When each peer's last report arrived: a daemon still in the group but silent for `silenceLimit` *while the
    /// group kept delivering* is hung.
    private var lastHeard: [String: Timestamp] = [:]
    /// When this daemon's own last message came back from the group. While corosync is forming a new membership
    /// (a node was lost: token timeout + consensus, ~10 s on 7 nodes) CPG delivers nothing to anyone, so every peer
    /// looks silent; only a peer that stays silent while our own messages keep flowing is hung.
    private var lastOwnDelivery: Timestamp?
    /// Whether this daemon is in the sfha process group now (it has seen a group membership that includes it). Until
    /// it is — at start, and after corosync came back — it cannot know which other daemons are alive, so it takes
    /// nothing (corosync's membership arrives on another connection, often first).
    public private(set) var inProcessGroup = false
    /// Peers declared hung; they count as alive again with their next report.
    public private(set) var silentPeers: Set<String> = []
    /// Heartbeats are sent every second; five missed in a row mean the daemon's core loop is stuck.
    public var silenceLimit: Duration = .seconds(5)

    public init(nodeName: String, nodeID: UInt32, priority: Int, document: ClusterDocument, now: Timestamp) {
        self.nodeName = nodeName
        self.nodeID = nodeID
        self.priority = priority
        self.document = document
        self.view = ClusterView(localNode: nodeName)
        self.upSince = now
    }

    public var report: NodeReport {
        NodeReport(
            name: nodeName, nodeID: nodeID, priority: priority, standby: standby, healthy: healthy,
            blockedGroups: blockedGroups, holdings: holdings, upSince: upSince, failures: failures)
    }

    public mutating func handle(_ input: Input, now: Timestamp) -> [Output] {
        var outputs: [Output] = []
        var forcePublish = false
        switch input {
        case .membership(let members, let quorate):
            view.membershipChanged(members: members, quorate: quorate, at: now)
            for id in daemonNames.keys where !members.contains(id) { daemonNames[id] = nil }
        case .corosyncLost:
            view.corosyncLost(at: now)
            daemonNames = [:]
            inProcessGroup = false
        case .groupMembership(let members, let joined, let left):
            view.daemonsChanged(Set(members.map(\.nodeID)))
            inProcessGroup = members.contains { $0.nodeID == nodeID }
            for member in left {
                if let name = daemonNames.removeValue(forKey: member.nodeID) { view.daemonLeft(name, at: now) }
            }
            if !joined.isEmpty {
                // Someone new: everyone re-publishes, and the committed document is offered for catch-up.
                forcePublish = true
                outputs.append(.send(.document(document)))
            }
        case .message(_, let message):
            outputs += receive(message, now: now)
        case .localState(let newHoldings, let blocked, let isHealthy, let failureCount):
            holdings = newHoldings
            blockedGroups = blocked
            healthy = isHealthy
            failures = failureCount
        case .setStandby(let on):
            standby = on
        case .setPriority(let value):
            priority = value
        case .wakeUp:
            break
        case .tick:
            forcePublish = true
            for (name, heard) in lastHeard where name != nodeName && (lastOwnDelivery.map { $0 - heard > silenceLimit } ?? false) {
                guard let report = view.reports[name] else { continue }
                // Hung: it still holds its place in the group, but its VIP leases (refreshed by the same loop that
                // publishes) have run out. Treat it as gone (and stop waiting for its report); the takeover delay
                // counts from now.
                view.daemonLeft(name, at: now)
                view.daemonsChanged(view.daemons.subtracting([report.nodeID]))
                silentPeers.insert(name)
            }
        }
        outputs += publishIfNeeded(force: forcePublish)
        // On a tick the assignment is repeated, so the reconciler can repair what changed behind its back; after a
        // commit too, so that new definitions (a VIP added to a held group, a service removed) apply at once. The
        // assignment comes after the commit in the outputs, and is the one decided with the new document.
        let committed = outputs.contains { if case .commit = $0 { true } else { false } }
        outputs += decide(now: now, repeatAssignment: input == .tick || committed)
        return outputs
    }

    /// When placement must be evaluated again although no input arrives: the end of the earliest takeover delay it is
    /// waiting for. Acting at the next heartbeat instead would add up to a second to every failover.
    public var nextDecisionTime: Timestamp? {
        lastPlacement?.assignments.compactMap { assignment -> Timestamp? in
            if case .waitingForTakeover(_, let until) = assignment.reason { return until }
            return nil
        }.min()
    }

    /// A proposal for a new cluster configuration, to send over the group (the outcome comes back in order).
    public func propose(_ configuration: ClusterConfiguration, id: String) -> ClusterMessage {
        .proposal(ConfigurationProposal(id: id, proposer: nodeName, baseRevision: document.revision, configuration: configuration))
    }

    private mutating func receive(_ message: ClusterMessage, now: Timestamp) -> [Output] {
        switch message {
        case .report(let state):
            daemonNames[state.report.nodeID] = state.report.name
            guard state.report.name != nodeName else {
                lastOwnDelivery = now
                return []
            }
            // Reports from outside this node's membership are stale (they crossed a partition): ignore them.
            guard view.members.contains(state.report.nodeID) else { return [] }
            lastHeard[state.report.name] = now
            if silentPeers.remove(state.report.name) != nil {
                view.daemonsChanged(view.daemons.union([state.report.nodeID]))
            }
            view.received(state.report)
            return []
        case .proposal(let proposal):
            let verdict: ProposalVerdict
            var outputs: [Output] = []
            if !view.quorate {
                verdict = .noQuorum
            } else if proposal.baseRevision != document.revision {
                verdict = .conflict(base: proposal.baseRevision, current: document.revision)
            } else {
                let updated = document.updated(with: proposal.configuration)
                if updated.revision == document.revision {
                    verdict = .unchanged(revision: document.revision)
                } else {
                    document = updated
                    verdict = .committed(revision: document.revision)
                    outputs.append(.commit(document))
                }
            }
            if proposal.proposer == nodeName { outputs.append(.proposalOutcome(id: proposal.id, verdict: verdict)) }
            return outputs
        case .document(let offered):
            // Catch up to a higher committed revision (a node that was away); never go back. Two nodes that started
            // from different config.yml files both hold revision 1 with different content: every member adopts the
            // one with the smaller hash, so they converge on one document (deterministically, as all see the same
            // offers in the same order).
            guard offered.contentHash == ClusterDocument.contentHash(of: offered.configuration) else { return [] }
            let newer = offered.revision > document.revision
            let tieBreak = offered.revision == document.revision && offered.contentHash < document.contentHash
            guard newer || tieBreak else { return [] }
            document = offered
            return [.commit(document)]
        case .command(let command):
            switch command {
            case .move(let group, let request):
                view.moveRequests[group] = request
            case .cleanup(let group, let node):
                guard node == nil || node == nodeName else { return [] }
                if let group { blockedGroups.remove(group) } else { blockedGroups = [] }
                return [.clearFailures(group: group)]
            }
            return []
        }
    }

    private mutating func publishIfNeeded(force: Bool) -> [Output] {
        let current = report
        let state = NodeStateReport(
            report: current, configurationRevision: document.revision, configurationHash: document.contentHash,
            sequence: sequence + 1)
        if !force, let last = lastPublished, last.report == current, last.configurationRevision == document.revision {
            return []
        }
        sequence += 1
        lastPublished = state
        // The local view knows this node's own report at once (the group echoes it later, in order).
        if view.members.contains(nodeID) { view.received(current) }
        return [.send(.report(state))]
    }

    private mutating func decide(now: Timestamp, repeatAssignment: Bool) -> [Output] {
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
