import Foundation
import SFHABase

/// What `sfha node remove NODE` would do, decided before anything changes: the refusals, the quorum arithmetic and
/// the steps in the founding document's corrected order (the target told first, every other member changed and
/// acknowledged before this node, this node's own WireGuard peer of the target last).
public struct NodeRemovalPlan: Sendable, Equatable, Codable {
    /// One step: what, on which node.
    public struct Step: Sendable, Equatable, Codable {
        public var node: String
        public var action: String
        public init(node: String, action: String) {
            self.node = node
            self.action = action
        }
    }

    public var target: String
    /// The node running the removal (the coordinator).
    public var coordinator: String
    /// The target is in corosync's membership now.
    public var targetOnline: Bool
    public var targetStandby: Bool
    public var membersBefore: Int
    public var membersAfter: Int
    /// Members online now, the target excluded: the votes the cluster keeps.
    public var votesOnlineAfter: Int
    /// Votes the cluster needs after the removal (votequorum, one vote per node).
    public var quorumAfter: Int
    public var twoNodeBefore: Bool
    public var twoNodeAfter: Bool
    /// The other members (target and coordinator excluded) online now: they change first and acknowledge.
    public var onlineMembers: [String]
    /// The other members down now: they catch up from the record when they return.
    public var offlineMembers: [String]
    public var steps: [Step]
    /// Why the removal is refused (nil: it may go ahead), and which kind of refusal it is.
    public var refusal: String?
    public var refusalKind: RefusalKind?
    /// What `--force` overrides in this plan (nil: nothing to override).
    public var forceOverrides: String?
    /// The target is already removed (a tombstone): nothing to do.
    public var alreadyRemoved: Bool

    public enum RefusalKind: String, Sendable, Equatable, Codable {
        case thisNode, notMember, alreadyRemoved, coordinatorNotMember, noQuorum, wouldLoseQuorum, online, peerOfTwoDown

        /// The error code a refused request answers with.
        public var code: SFHAError.Code {
            switch self {
            case .thisNode: .invalidArgument
            case .notMember, .alreadyRemoved: .notFound
            case .coordinatorNotMember, .online, .peerOfTwoDown: .invalidState
            case .noQuorum, .wouldLoseQuorum: .notQuorate
            }
        }
    }

    /// The quorum arithmetic, as the plan prints it.
    public var arithmetic: String {
        var text = "\(membersBefore) → \(membersAfter) members; \(votesOnlineAfter) of them online; "
        text += "\(quorumAfter) vote\(quorumAfter == 1 ? "" : "s") needed after"
        if twoNodeBefore != twoNodeAfter {
            text += twoNodeAfter
                ? "; two_node set (2 members: each keeps quorum alone — and wait_for_all: after a full stop both must be seen once)"
                : "; two_node cleared"
        }
        return text
    }
}

public enum NodeRemoval {
    /// Votes needed by votequorum for `members` nodes of one vote (`two_node` for exactly two: one).
    /// "1 node", "3 nodes".
    static func nodeCount(_ count: Int) -> String { count == 1 ? "1 node" : "\(count) nodes" }

    public static func quorum(of members: Int) -> Int {
        members <= 2 ? 1 : members / 2 + 1
    }

    /// The plan for removing `target` from `record`, run on `coordinator`: `online` are the node ids in corosync's
    /// membership now, `quorate` whether this partition has quorum, `targetStandby` whether the target is in standby.
    public static func plan(
        record: MembershipRecord, coordinator: String, target: String, online: Set<UInt32>, quorate: Bool, targetStandby: Bool,
        force: Bool
    ) -> NodeRemovalPlan {
        let members = record.members
        let member = record.member(named: target)
        let after = max(members.count - (member == nil ? 0 : 1), 0)
        let others = members.filter { $0.name != target && $0.name != coordinator }
        var plan = NodeRemovalPlan(
            target: target, coordinator: coordinator, targetOnline: member.map { online.contains($0.nodeID) } ?? false,
            targetStandby: targetStandby, membersBefore: members.count, membersAfter: after,
            votesOnlineAfter: members.filter { $0.name != target && online.contains($0.nodeID) }.count,
            quorumAfter: quorum(of: after), twoNodeBefore: members.count == 2, twoNodeAfter: after == 2,
            onlineMembers: others.filter { online.contains($0.nodeID) }.map(\.name),
            offlineMembers: others.filter { !online.contains($0.nodeID) }.map(\.name),
            steps: [], refusal: nil, refusalKind: nil, forceOverrides: nil, alreadyRemoved: false)

        if target == coordinator {
            plan.refusalKind = .thisNode
            plan.refusal = "\(target) is this node: a node leaves the cluster with 'sfha leave' (run on it), not 'sfha node remove'"
            return plan
        }
        guard let member else {
            if record.tombstones.contains(where: { $0.name == target }) {
                plan.alreadyRemoved = true
                plan.refusalKind = .alreadyRemoved
                plan.refusal = "\(target) is already removed from cluster \(record.clusterName): nothing to do ('sfha propagate' repairs a member whose files still name it)"
            } else {
                let names = members.map(\.name).joined(separator: ", ")
                plan.refusalKind = .notMember
                plan.refusal = "\(String(reflecting: target)) is not a member of cluster \(record.clusterName) (members: \(names))"
            }
            return plan
        }
        if record.member(named: coordinator) == nil {
            plan.refusalKind = .coordinatorNotMember
            plan.refusal = "this node (\(coordinator)) is not in the membership record: run the removal on a member"
            return plan
        }
        if !quorate {
            plan.refusalKind = .noQuorum
            plan.refusal = "this partition has no quorum: a removal needs a quorate partition (this node may be cut off from the others); nothing changed"
            return plan
        }
        if plan.votesOnlineAfter < plan.quorumAfter {
            plan.refusalKind = .wouldLoseQuorum
            plan.refusal = "without \(target) the cluster would need \(plan.quorumAfter) votes but only \(plan.votesOnlineAfter) members are online (\(plan.arithmetic)): bring the others back first; nothing changed"
            return plan
        }
        // An online node stops before the reload lowers the expected votes: until then the rest must hold the
        // current cluster's quorum on their own.
        let quorumNow = quorum(of: members.count)
        if plan.targetOnline, plan.votesOnlineAfter < quorumNow {
            plan.refusalKind = .wouldLoseQuorum
            plan.refusal = "\(target) is online: when it stops, \(plan.votesOnlineAfter) of \(members.count) votes remain until the reload lowers the expected votes, and \(quorumNow) are needed — the cluster would lose quorum meanwhile: bring the members that are down back first; nothing changed"
            return plan
        }
        // Two nodes, the other one down: with two_node each keeps quorum alone, so a dead node and one cut off look
        // the same from here. Only the operator can tell.
        if plan.twoNodeBefore, !plan.targetOnline {
            let overrides = "\(target) is one of two members and is down: \(coordinator) cannot tell a dead node from one cut off (with two_node each keeps quorum alone); removing it asserts it is down for good — if it were only cut off, it would go on as a cluster of its own"
            if force {
                plan.forceOverrides = overrides
            } else {
                plan.refusalKind = .peerOfTwoDown
                plan.refusal = "\(overrides). Make sure it is powered off (or fenced), then run this again with --force; nothing changed"
                return plan
            }
        }
        if plan.targetOnline && !targetStandby {
            let overrides = "\(target) is online and not in standby: its groups are handed over first, then it is told to leave"
            if force {
                plan.forceOverrides = overrides
            } else {
                plan.refusalKind = .online
                plan.refusal = "\(target) is online and not in standby: put it in standby first ('sfha standby \(target)'), or remove it anyway with --force (its groups are handed over first); nothing changed"
                return plan
            }
        }

        var steps: [NodeRemovalPlan.Step] = []
        if plan.targetOnline && !targetStandby {
            steps.append(.init(node: target, action: "hand its groups over to the other nodes (standby), waiting until it holds nothing"))
        }
        steps.append(.init(
            node: target,
            action: plan.targetOnline
                ? "told to leave over the mesh (P2P leave): it stops sfhad and corosync, takes its mesh down and moves its configuration aside"
                : "is offline: told to leave if it answers over the mesh (best effort; an offline node is not an error)"))
        steps.append(.init(
            node: coordinator,
            action: "commit the removal in the membership record (node id \(member.nodeID), address \(member.meshAddress) and key tombstoned: never reused)"))
        for name in plan.onlineMembers {
            steps.append(.init(
                node: name,
                action: "remove \(target)'s WireGuard peer, write corosync.conf without it (\(NodeRemoval.nodeCount(after))), acknowledge with the file's hash (10 s)"))
        }
        for name in plan.offlineMembers {
            steps.append(.init(node: name, action: "is offline: catches up from the membership record when it returns"))
        }
        steps.append(.init(node: coordinator, action: "write corosync.conf without \(target) (\(NodeRemoval.nodeCount(after)))"))
        steps.append(.init(node: coordinator, action: "reload corosync once (libcfg: every member re-reads corosync.conf; never a restart)"))
        steps.append(.init(node: coordinator, action: "remove \(target)'s WireGuard peer (last: the others were reached through the mesh first)"))
        steps.append(.init(node: coordinator, action: "check corosync's runtime nodelist and membership on every reachable member against the record"))
        plan.steps = steps
        return plan
    }
}
