import Testing

@testable import SFHACore

@Suite("placement rules", .timeLimit(.minutes(2)))
struct PlacementTests {
    let web = GroupPolicy(name: "web")

    func node(_ id: UInt32, priority: Int = 100, holds: Set<String> = [], standby: Bool = false, healthy: Bool = true,
              blocked: Set<String> = [], upSince: Timestamp = .zero) -> NodeReport {
        NodeReport(
            name: "node\(id)", nodeID: id, priority: priority, standby: standby, healthy: healthy, blockedGroups: blocked,
            holdings: holds, upSince: upSince)
    }

    func place(_ reports: [NodeReport], members: Set<UInt32>? = nil, quorate: Bool = true, policy: PlacementPolicy? = nil,
               lastKnown: [String: String] = [:], departures: [String: Timestamp] = [:], fenced: Set<String> = [],
               requests: [String: MoveRequest] = [:], now: Timestamp = Timestamp(nanoseconds: 10_000_000_000)) -> Placement {
        Placer.place(
            PlacementInput(
                quorate: quorate, members: members ?? Set(reports.map(\.nodeID)), reports: reports, lastKnownHolders: lastKnown,
                departures: departures, fencedNodes: fenced, moveRequests: requests, now: now),
            policy: policy ?? PlacementPolicy(groups: [web]))
    }

    @Test func highestPriorityThenLowestNodeID() {
        #expect(place([node(1), node(2, priority: 150), node(3)]).holder(of: "web") == "node2")
        #expect(place([node(3), node(1), node(2)]).holder(of: "web") == "node1")
        #expect(place([node(3), node(1), node(2)]).assignment(of: "web")?.reason == .highestPriority)
    }

    /// Found by the 5-node lab under load: the holder's VIP lease lapsed for a moment while a node rejoined (its
    /// ring proof broke), nobody held the group, and it went to node1 — the returning node — by priority order.
    /// Now the node that held it last takes it again when it is eligible; failback still prefers a higher priority.
    @Test func theLastHolderTakesTheGroupAgainAfterALapse() {
        let reports = [node(1), node(2), node(3)]
        func decide(_ policy: PlacementPolicy = PlacementPolicy(groups: [GroupPolicy(name: "web")])) -> Placement {
            Placer.place(
                PlacementInput(
                    quorate: true, members: [1, 2, 3], reports: reports, previousHolders: ["web": "node3"],
                    now: Timestamp(nanoseconds: 10_000_000_000)),
                policy: policy)
        }
        #expect(decide().holder(of: "web") == "node3")
        #expect(decide().assignment(of: "web")?.reason == .previousHolder)
        var failback = GroupPolicy(name: "web")
        failback.failback = true
        let preferring = [node(1, priority: 200), node(2), node(3)]
        let placement = Placer.place(
            PlacementInput(quorate: true, members: [1, 2, 3], reports: preferring, previousHolders: ["web": "node3"],
                           now: Timestamp(nanoseconds: 10_000_000_000)),
            policy: PlacementPolicy(groups: [failback]))
        #expect(placement.holder(of: "web") == "node1", "failback: the higher priority wins")
    }

    @Test func nobodyHoldsAnythingWithoutQuorum() {
        let placement = place([node(1, holds: ["web"]), node(2)], quorate: false)
        #expect(placement.holder(of: "web") == nil)
        #expect(placement.assignment(of: "web")?.reason == .noQuorum)
        // Unless the configuration says quorum is not required.
        let relaxed = place([node(1, holds: ["web"]), node(2)], quorate: false, policy: PlacementPolicy(quorumRequired: false, groups: [web]))
        #expect(relaxed.holder(of: "web") == "node1")
    }

    @Test func theHolderKeepsItsGroupWhileEligible() {
        let placement = place([node(1, priority: 200), node(2, holds: ["web"])])
        #expect(placement.holder(of: "web") == "node2")
        #expect(placement.assignment(of: "web")?.reason == .kept)
    }

    @Test func failbackMovesToTheHigherPriorityNodeAfterItsDelay() {
        let policy = PlacementPolicy(groups: [GroupPolicy(name: "web", failback: true, failbackDelay: .seconds(5))])
        let back = Timestamp(nanoseconds: 8_000_000_000)
        let early = place([node(1, priority: 200, upSince: back), node(2, holds: ["web"])], policy: policy,
                          now: Timestamp(nanoseconds: 12_000_000_000))
        #expect(early.holder(of: "web") == "node2", "failback waits for its delay")
        // Once the delay passed, node2 must release first: placement gives the group to nobody until then.
        let due = place([node(1, priority: 200, upSince: back), node(2, holds: ["web"])], policy: policy,
                        now: Timestamp(nanoseconds: 13_000_000_000))
        #expect(due.holder(of: "web") == nil)
        #expect(due.assignment(of: "web")?.reason == .waitingForRelease(by: "node2", next: "node1"))
        let released = place([node(1, priority: 200, upSince: back), node(2)], policy: policy,
                             lastKnown: ["web": "node2"], now: Timestamp(nanoseconds: 13_000_000_000))
        #expect(released.holder(of: "web") == "node1")
    }

    @Test func ineligibleNodesAreSkippedAndExplained() {
        let placement = place([
            node(1, standby: true), node(2, healthy: false), node(3, blocked: ["web"]), node(4, priority: 1),
        ])
        #expect(placement.holder(of: "web") == "node4")
        let none = place([node(1, standby: true), node(2, healthy: false), node(3, blocked: ["web"])], members: [1, 2, 3, 5])
        #expect(none.holder(of: "web") == nil)
        #expect(none.assignment(of: "web")?.reason
            == .noEligibleNode(["node1": .standby, "node2": .unhealthy, "node3": .blocked, "nodeid 5": .daemonDown]))
    }

    @Test func aHolderThatLeftIsReplacedOnlyAfterTheTakeoverDelay() {
        let policy = PlacementPolicy(takeoverDelay: .seconds(3), groups: [web])
        let left = Timestamp(nanoseconds: 9_000_000_000)
        let waiting = place([node(2), node(3)], policy: policy, lastKnown: ["web": "node1"], departures: ["node1": left],
                            now: Timestamp(nanoseconds: 11_000_000_000))
        #expect(waiting.holder(of: "web") == nil)
        #expect(waiting.assignment(of: "web")?.reason == .waitingForTakeover(previousHolder: "node1", until: left + .seconds(3)))
        let after = place([node(2), node(3)], policy: policy, lastKnown: ["web": "node1"], departures: ["node1": left],
                          now: Timestamp(nanoseconds: 12_000_000_000))
        #expect(after.holder(of: "web") == "node2")
        // A confirmed fence skips the delay.
        let fenced = place([node(2), node(3)], policy: policy, lastKnown: ["web": "node1"], departures: ["node1": left],
                           fenced: ["node1"], now: Timestamp(nanoseconds: 9_500_000_000))
        #expect(fenced.holder(of: "web") == "node2")
        // A departure this node never saw is never skipped.
        let unseen = place([node(2)], policy: policy, lastKnown: ["web": "node1"])
        #expect(unseen.holder(of: "web") == nil)
    }

    /// The policy's default is the configuration's (no extra wait): built without a delay, a departed holder's group
    /// is given away at once, as it is when config.yml leaves failover_delay_ms unset.
    @Test func theDefaultPolicyAddsNoTakeoverDelay() throws {
        #expect(PlacementPolicy(groups: [web]).takeoverDelay == ClusterConfiguration.defaultTakeoverDelay)
        let left = Timestamp(nanoseconds: 9_000_000_000)
        let placement = place([node(2), node(3)], lastKnown: ["web": "node1"], departures: ["node1": left], now: left)
        #expect(placement.holder(of: "web") == "node2")
        let unset = try SFHAConfiguration.parse(yaml: "node:\n  name: node2\nvips:\n  - {name: v, ip: 10.0.0.5}\n", path: "config.yml")
        #expect(PlacementPolicy(unset.cluster).takeoverDelay == PlacementPolicy(groups: [web]).takeoverDelay)
    }

    @Test func aHolderWhoseDaemonDiedWaitsAtLeastTheLeaseWindow() {
        // failover_delay_ms set low (the node-departure case): a dead daemon's VIP may still be on its machine.
        let policy = PlacementPolicy(takeoverDelay: .milliseconds(500), groups: [web])
        let left = Timestamp(nanoseconds: 9_000_000_000)
        func placement(daemonDied: Bool, at ms: Int64) -> Placement {
            Placer.place(
                PlacementInput(
                    quorate: true, members: [1, 2, 3], reports: [node(2), node(3)], lastKnownHolders: ["web": "node1"],
                    departures: ["node1": left], daemonDepartures: daemonDied ? ["node1"] : [],
                    now: left + .milliseconds(ms)),
                policy: policy)
        }
        #expect(placement(daemonDied: false, at: 600).holder(of: "web") == "node2", "node left: the short delay")
        #expect(placement(daemonDied: true, at: 600).holder(of: "web") == nil, "daemon died: wait for the lease")
        #expect(placement(daemonDied: true, at: 2500).holder(of: "web") == "node2")
    }

    @Test func aLiveNodeStillHoldingTheGroupReleasesBeforeAnotherTakesIt() {
        let placement = place([node(1, holds: ["web"], standby: true), node(2)])
        #expect(placement.holder(of: "web") == nil)
        #expect(placement.assignment(of: "web")?.reason == .waitingForRelease(by: "node1", next: "node2"))
    }

    @Test func operatorRequestsAreHonoured() {
        let moved = place([node(1, holds: ["web"]), node(2), node(3)], requests: ["web": .to("node3")])
        #expect(moved.assignment(of: "web")?.reason == .waitingForRelease(by: "node1", next: "node3"))
        let next = place([node(1), node(2), node(3)], lastKnown: ["web": "node1"], requests: ["web": .to("node3")])
        #expect(next.holder(of: "web") == "node3")
        #expect(next.assignment(of: "web")?.reason == .requested)
        let away = place([node(1), node(2)], requests: ["web": .awayFrom("node1")])
        #expect(away.holder(of: "web") == "node2")
        // A request for an ineligible node is ignored: normal rules apply.
        let ignored = place([node(1, holds: ["web"]), node(2, standby: true)], requests: ["web": .to("node2")])
        #expect(ignored.holder(of: "web") == "node1")
    }

    @Test func colocatedGroupsEndOnOneNode() {
        let policy = PlacementPolicy(groups: [
            GroupPolicy(name: "db", priorities: ["node2": 300]), GroupPolicy(name: "app", colocatedWith: ["db"]),
        ])
        let placement = place([node(1), node(2), node(3, blocked: ["app"])], policy: policy)
        #expect(placement.holder(of: "db") == "node2")
        #expect(placement.holder(of: "app") == "node2")
        #expect(placement.assignment(of: "app")?.reason == .colocated(with: "db"))
        // node2 cannot run app: the pair goes elsewhere together.
        let blocked = place([node(1), node(2, blocked: ["app"])], policy: policy)
        #expect(blocked.holder(of: "db") == "node1" && blocked.holder(of: "app") == "node1")
    }

    @Test func orderedGroupsWaitForTheirPredecessors() {
        let policy = PlacementPolicy(groups: [
            GroupPolicy(name: "db"), GroupPolicy(name: "app", startAfter: ["db"]),
        ])
        let placement = place([node(1, blocked: ["db"]), node(2, blocked: ["db"])], policy: policy)
        #expect(placement.holder(of: "db") == nil)
        #expect(placement.holder(of: "app") == nil)
        #expect(placement.assignment(of: "app")?.reason == .waitingForOrder(after: "db"))
    }

    @Test func maintenanceFreezesEverything() {
        let policy = PlacementPolicy(maintenance: true, groups: [web, GroupPolicy(name: "db")])
        let placement = place([node(1, standby: true), node(2, holds: ["web"])], quorate: false, policy: policy)
        #expect(placement.holder(of: "web") == "node2")
        #expect(placement.holder(of: "db") == nil)
        #expect(placement.assignments.allSatisfy { $0.reason == .maintenance })
    }

    @Test func nodesOutsideTheMembershipAreNotEligibleEvenWithAReport() {
        let placement = place([node(1), node(2)], members: [2])
        #expect(placement.holder(of: "web") == "node2")
    }

    @Test func perGroupAndClusterPrioritiesOverrideNodePriorities() {
        let policy = PlacementPolicy(
            nodePriorities: ["node3": 500],
            groups: [GroupPolicy(name: "web", priorities: ["node1": 900]), GroupPolicy(name: "db")])
        let placement = place([node(1), node(2, priority: 300), node(3)], policy: policy)
        #expect(placement.holder(of: "web") == "node1")
        #expect(placement.holder(of: "db") == "node3")
    }
}
