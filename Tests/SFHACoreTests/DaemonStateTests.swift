import CorosyncKit
import Testing

@testable import SFHACore

/// Three daemons connected by an in-memory process group that delivers every message to every member in one
/// total order, as CPG does, with corosync's ring and quorum as the tests set them.
struct DaemonBus {
    var daemons: [DaemonState]
    var queue: [(from: ProcessGroupMember, message: ClusterMessage)] = []
    var assigned: [String: Set<String>] = [:]
    var outcomes: [String: (Bool, String)] = [:]
    var commits: [String: [UInt64]] = [:]
    var membershipCommits: [String: [UInt64]] = [:]
    var cleared: [String: [String?]] = [:]
    var rejected: [String: [String]] = [:]
    var anchors: [String: Int] = [:]
    var now = Timestamp(nanoseconds: 1_000_000_000)
    var ringSequence: UInt64 = 4
    var tokenTimeout: Duration = .seconds(1)

    init(configuration: ClusterConfiguration, nodes: Int = 3) {
        let document = ClusterDocument(revision: 1, configuration: configuration)
        daemons = (1...nodes).map {
            var state = DaemonState(nodeName: "node\($0)", nodeID: UInt32($0), priority: 100, document: document, now: Timestamp.zero)
            state.validateConfiguration = DaemonRuntime.validate
            return state
        }
    }

    func member(_ index: Int) -> ProcessGroupMember { ProcessGroupMember(nodeID: UInt32(index + 1), pid: 100) }

    var nodeNames: [UInt32: String] {
        Dictionary(uniqueKeysWithValues: daemons.map { ($0.nodeID, $0.nodeName) })
    }

    func facts(_ members: [Int], quorate: Bool = true, quorumKnown: Bool = true, twoNode: Bool = false) -> CorosyncFacts {
        CorosyncFacts(
            members: Set(members.map { UInt32($0 + 1) }), ring: RingID(nodeID: 1, sequence: ringSequence), quorate: quorate,
            quorumKnown: quorumKnown, twoNode: twoNode, nodeNames: nodeNames, nodeCount: daemons.count, tokenTimeout: tokenTimeout)
    }

    mutating func collect(_ index: Int, _ outputs: [DaemonState.Output]) {
        let name = daemons[index].nodeName
        for output in outputs {
            switch output {
            case .publish(var report, let previousRing):
                report.previousRing = previousRing?.summary(at: now)
                queue.append((member(index), .report(report)))
            case .send(let message): queue.append((member(index), message))
            case .assign(let groups, _): assigned[name] = groups
            case .commit(let document): commits[name, default: []].append(document.revision)
            case .commitMembership(let membership): membershipCommits[name, default: []].append(membership.revision)
            case .proposalOutcome(let id, let verdict): outcomes[id] = (verdict.isCommitted, verdict.description)
            case .clearFailures(let group): cleared[name, default: []].append(group)
            case .anchorDelivered: anchors[name, default: 0] += 1
            case .rejected(_, let reason): rejected[name, default: []].append(reason)
            case .reannounce: break
            }
        }
    }

    mutating func input(_ index: Int, _ input: DaemonState.Input) {
        collect(index, daemons[index].handle(input, now: now))
    }

    /// Delivers queued messages to `members` (indices) in order until the queue is empty.
    mutating func deliver(to members: [Int]) {
        while !queue.isEmpty {
            let (from, message) = queue.removeFirst()
            for index in members { collect(index, daemons[index].handle(.message(from: from, message), now: now)) }
        }
    }

    /// Every daemon in `members` is in one new ring: corosync's quorum, the ring and the process group, proven in
    /// it; they exchange reports.
    mutating func form(_ members: [Int], quorate: Bool = true, twoNode: Bool = false) {
        ringSequence += 4
        let ring = RingID(nodeID: UInt32(members.min()! + 1), sequence: ringSequence)
        for index in members {
            input(index, .groupConnected(member(index)))
            input(index, .corosync(facts(members, quorate: quorate, twoNode: twoNode)))
            input(index, .ring(ring, nodes: members.map { UInt32($0 + 1) }))
        }
        for index in members { input(index, .groupMembership(members: members.map(member), joined: members.map(member), left: [])) }
        for index in members {
            input(index, .proven(quorate))
            input(index, .previousRingKnown(leftAtMost: now))
        }
        deliver(to: members)
    }

    /// Time passes (every fence of a ring formed up to now is over) and the daemons re-decide.
    mutating func pass(_ duration: Duration = .seconds(10), _ members: [Int]) {
        now = now + duration
        for index in members { input(index, .tick) }
        deliver(to: members)
    }

    /// Each daemon's reconciler does what it was told (holdings = assignment) and reports it.
    mutating func reconcile(_ members: [Int]) {
        for _ in 0..<4 {
            for index in members {
                let groups = assigned[daemons[index].nodeName] ?? []
                input(index, .localState(holdings: groups, blockedGroups: daemons[index].blockedGroups, healthy: true))
            }
            deliver(to: members)
        }
    }
}

@Suite("daemon state machine", .timeLimit(.minutes(2)))
struct DaemonStateTests {
    static let configuration: ClusterConfiguration = {
        let yaml = """
            cluster:
              name: t
            node:
              name: node1
            vips:
              - name: v
                ip: 192.0.2.1/24
            services:
              - name: web
                unit: nginx
            """
        return try! SFHAConfiguration.parse(yaml: yaml, path: "t.yml").cluster
    }()

    @Test func everyDaemonReachesTheSameDecision() {
        var bus = DaemonBus(configuration: Self.configuration)
        bus.form([0, 1, 2])
        bus.reconcile([0, 1, 2])
        #expect(bus.assigned["node1"] == ["default"])
        #expect(bus.assigned["node2"] ?? [] == [])
        let placements = bus.daemons.map { $0.lastPlacement }
        #expect(placements.allSatisfy { $0 == placements[0] })
        #expect(bus.daemons.allSatisfy { $0.view.reports.count == 3 })
    }

    @Test func concurrentChangesNeverOverwriteEachOther() {
        var bus = DaemonBus(configuration: Self.configuration)
        bus.form([0, 1, 2])
        var first = Self.configuration
        first.maintenance = true
        var second = Self.configuration
        second.nodePriorities = ["node3": 500]
        // node2 and node3 both change revision 1 at the same time.
        bus.queue.append((bus.member(1), bus.daemons[1].propose(first, id: "a")))
        bus.queue.append((bus.member(2), bus.daemons[2].propose(second, id: "b")))
        bus.deliver(to: [0, 1, 2])
        #expect(bus.outcomes["a"]?.0 == true)
        #expect(bus.outcomes["b"]?.0 == false)
        #expect(bus.outcomes["b"]?.1.contains("conflict") == true)
        #expect(bus.daemons.allSatisfy { $0.document.revision == 2 && $0.document.configuration.maintenance })
        #expect(bus.commits == ["node1": [2], "node2": [2], "node3": [2]])
    }

    @Test func changesAreRefusedWithoutAMajority() {
        var bus = DaemonBus(configuration: Self.configuration)
        bus.form([0], quorate: false)
        var changed = Self.configuration
        changed.maintenance = true
        bus.queue.append((bus.member(0), bus.daemons[0].propose(changed, id: "x")))
        bus.deliver(to: [0])
        #expect(bus.outcomes["x"]?.0 == false)
        #expect(bus.outcomes["x"]?.1.contains("no quorum") == true)
        #expect(bus.daemons[0].document.revision == 1)
    }

    /// Outside testing: in a two-node cluster both halves of a partition are quorate; a `vip add` on each side was
    /// acknowledged by both and the heal dropped one. With one node present, nothing is committed.
    @Test func aTwoNodeClusterCommitsOnlyWithBothNodes() {
        var bus = DaemonBus(configuration: Self.configuration, nodes: 2)
        bus.form([0], twoNode: true)
        var changed = Self.configuration
        changed.maintenance = true
        bus.queue.append((bus.member(0), bus.daemons[0].propose(changed, id: "alone")))
        bus.deliver(to: [0])
        #expect(bus.outcomes["alone"]?.0 == false)
        #expect(bus.outcomes["alone"]?.1.contains("two-node") == true)
        #expect(bus.daemons[0].document.revision == 1)
        bus.form([0, 1], twoNode: true)
        bus.queue.append((bus.member(0), bus.daemons[0].propose(changed, id: "both")))
        bus.deliver(to: [0, 1])
        #expect(bus.outcomes["both"]?.0 == true)
        #expect(bus.daemons.allSatisfy { $0.document.revision == 2 })
    }

    @Test func aRejoiningNodeCatchesUpAndNeverGoesBack() {
        var bus = DaemonBus(configuration: Self.configuration)
        bus.form([0, 1])
        var changed = Self.configuration
        changed.nodePriorities = ["node2": 300]
        bus.queue.append((bus.member(0), bus.daemons[0].propose(changed, id: "p")))
        bus.deliver(to: [0, 1])  // node3 was away
        #expect(bus.daemons[2].document.revision == 1)
        bus.form([0, 1, 2])
        #expect(bus.daemons[2].document.revision == 2)
        #expect(bus.daemons[2].document.configuration.nodePriorities == ["node2": 300])
        // An old document offered later is ignored.
        let old = ClusterDocument(revision: 1, configuration: Self.configuration)
        bus.input(2, .message(from: bus.member(0), .document(old)))
        #expect(bus.daemons[2].document.revision == 2)
    }

    @Test func aCrashedHoldersGroupMovesOnlyAfterTheLeaseWindow() {
        var bus = DaemonBus(configuration: Self.configuration)
        bus.form([0, 1, 2])
        bus.reconcile([0, 1, 2])
        #expect(bus.assigned["node1"] == ["default"])
        // node1's daemon leaves the group (crash) while its node stays: node2 and node3 wait for its VIP lease.
        let departure = DaemonState.ProcessGroupDeparture(bus.member(0), nodeLeft: false)
        for index in [1, 2] { bus.input(index, .groupMembership(members: [bus.member(1), bus.member(2)], joined: [], left: [departure])) }
        #expect(bus.assigned["node2"] ?? [] == [])
        if case .waitingForTakeover? = bus.daemons[1].lastPlacement?.assignment(of: "default")?.reason {} else {
            Issue.record("expected waitingForTakeover, got \(String(describing: bus.daemons[1].lastPlacement))")
        }
        bus.now = bus.now + PlacementPolicy.leaseWindow
        for index in [1, 2] { bus.input(index, .tick) }
        bus.deliver(to: [1, 2])
        #expect(bus.assigned["node2"] == ["default"])
    }

    /// The flapping link found by outside testing: node1 (holding) is cut off, nodes 2 and 3 form a ring without it
    /// and must wait until node1 has lost its VIP for certain — bounded by when they left their ring with node1, not
    /// by how fast node1 notices (its corosync kept saying quorate for seconds).
    @Test func survivorsTakeOverOnlyAtTheFence() {
        var bus = DaemonBus(configuration: Self.configuration)
        bus.tokenTimeout = .milliseconds(1650)
        bus.form([0, 1, 2])
        bus.reconcile([0, 1, 2])
        #expect(bus.assigned["node1"] == ["default"])
        let cut = bus.now
        let left = cut + .milliseconds(1650)
        bus.now = cut + .milliseconds(3600)
        let learnt = bus.now
        bus.ringSequence += 4
        let ring = RingID(nodeID: 2, sequence: bus.ringSequence)
        for index in [1, 2] {
            bus.input(index, .corosync(bus.facts([1, 2])))
            bus.input(index, .ring(ring, nodes: [2, 3]))
            bus.input(index, .groupMembership(
                members: [bus.member(1), bus.member(2)], joined: [], left: [.init(bus.member(0), nodeLeft: true)]))
        }
        // Until each survivor's summary of its previous ring has arrived, the whole ring's formation bounds it.
        #expect(bus.assigned["node2"] ?? [] == [])
        for index in [1, 2] { bus.input(index, .previousRingKnown(leftAtMost: left)) }
        bus.deliver(to: [1, 2])
        let fence = left + DaemonTimings.joinPropagation + bus.daemons[1].holderOverhang
        #expect(bus.daemons[1].fence == fence, "left the ring with node1 + join propagation + the holder's overhang")
        #expect(fence > learnt, "the fence lies beyond corosync's detection here: it is what decides")
        // The takeover delay (from when they saw node1 leave) is the other wait; whichever ends last decides.
        let delayEnd = learnt + Self.configuration.takeoverDelay
        let reason = bus.daemons[1].lastPlacement?.assignment(of: "default")?.reason
        #expect(reason == .waitingForTakeover(previousHolder: "node1", until: delayEnd) || reason == .waitingForFence(until: fence))
        bus.now = min(fence, delayEnd)
        bus.input(1, .wakeUp)
        #expect(bus.assigned["node2"] ?? [] == [])
        bus.now = max(fence, delayEnd)
        bus.input(1, .wakeUp)
        bus.input(2, .wakeUp)
        #expect(bus.assigned["node2"] == ["default"])
    }

    /// A summary written for another ring (before its sender learnt of the current one) is not used: it would speak
    /// of the wrong ring.
    @Test func aSummaryForAnotherRingIsIgnored() {
        var bus = DaemonBus(configuration: Self.configuration)
        bus.form([0, 1])
        let before = bus.daemons[0].fence
        let stale = NodeStateReport(
            report: bus.daemons[1].report, configurationRevision: 1, configurationHash: bus.daemons[1].document.contentHash,
            sequence: 1000, basedOn: nil,
            previousRing: PreviousRingSummary(ring: RingID(nodeID: 9, sequence: 1), members: [1, 2, 3], formedAgeMilliseconds: 0, leftAgeMilliseconds: 100_000))
        bus.input(0, .message(from: bus.member(1), .report(stale)))
        #expect(bus.daemons[0].fence == before)
    }

    /// A group a live daemon of this ring reported holding is accounted for: moving it needs no fence.
    @Test func accountedGroupsMoveWithoutTheFence() {
        var bus = DaemonBus(configuration: Self.configuration)
        bus.form([0, 1])
        #expect(bus.daemons[0].fence != nil, "node3 is absent: the ring has a fence")
        bus.pass(.seconds(10), [0, 1])
        bus.reconcile([0, 1])
        #expect(bus.assigned["node1"] == ["default"])
        bus.form([0, 1])
        bus.reconcile([0, 1])
        bus.queue.append((bus.member(1), .command(.move(group: "default", request: .to("node2")))))
        bus.deliver(to: [0, 1])
        bus.reconcile([0, 1])
        #expect(bus.assigned["node2"] == ["default"], "\(String(describing: bus.daemons[1].lastPlacement))")
    }

    /// A node not proven to be in the quorate ring takes nothing; a holder whose proof lapses (a membership change
    /// under way) keeps its place — its leases, no longer extended, end its holding if the proof does not return.
    @Test func aNodeThatIsNotProvenTakesNothing() {
        var bus = DaemonBus(configuration: Self.configuration)
        bus.form([0, 1, 2])
        bus.reconcile([0, 1, 2])
        #expect(bus.assigned["node1"] == ["default"])
        bus.input(0, .proven(false))
        bus.input(1, .proven(false))
        bus.deliver(to: [0, 1, 2])
        bus.reconcile([0, 1, 2])
        #expect(bus.assigned["node1"] == ["default"], "the holder keeps its place")
        bus.input(0, .setStandby(true))
        bus.deliver(to: [0, 1, 2])
        bus.reconcile([0, 1, 2])
        #expect(bus.assigned["node2"] ?? [] == [], "node2 is not proven")
        #expect(bus.assigned["node3"] == ["default"])
    }

    /// corosync announces a new ring's members before its quorum: the flag at hand then belongs to the previous
    /// ring, so nothing new is decided until the new ring's quorum is known.
    @Test func nothingIsDecidedWhileTheNewRingsQuorumIsUnknown() {
        var bus = DaemonBus(configuration: Self.configuration)
        bus.form([0, 1, 2])
        bus.reconcile([0, 1, 2])
        bus.input(0, .corosync(bus.facts([0], quorate: true, quorumKnown: false)))
        #expect(bus.assigned["node1"] == ["default"], "nothing decided yet, the holder keeps what it holds")
        let before = bus.daemons[0].lastPlacement
        bus.input(0, .tick)
        #expect(bus.daemons[0].lastPlacement == before)
        bus.input(0, .corosync(bus.facts([0], quorate: false)))
        #expect(bus.assigned["node1"] == [])
    }

    @Test func aRejoiningNodeAcquiresNothingUntilEveryDaemonHasReported() {
        var bus = DaemonBus(configuration: Self.configuration)
        // node2 and node3 run the group while node1 is away.
        bus.form([1, 2])
        bus.pass(.seconds(10), [1, 2])
        bus.reconcile([1, 2])
        #expect(bus.assigned["node2"] == ["default"])
        // node1 comes back: corosync and CPG tell it about node2 and node3 before their reports arrive.
        bus.input(0, .groupConnected(bus.member(0)))
        bus.input(0, .corosync(bus.facts([0, 1, 2])))
        bus.input(0, .proven(true))
        bus.input(0, .ring(try! #require(bus.daemons[1].currentRing), nodes: [1, 2, 3]))
        bus.input(0, .groupMembership(members: [0, 1, 2].map(bus.member), joined: [bus.member(0)], left: []))
        #expect(bus.assigned["node1"] ?? [] == [], "node1 must not take the group before it knows who holds it")
        #expect(bus.daemons[0].lastPlacement?.assignment(of: "default")?.reason == .waitingForReports(from: [2, 3]))
        for index in [1, 2] { bus.input(index, .groupMembership(members: [0, 1, 2].map(bus.member), joined: [bus.member(0)], left: [])) }
        bus.deliver(to: [0, 1, 2])
        #expect(bus.assigned["node1"] ?? [] == [])
        #expect(bus.daemons[0].lastPlacement?.holder(of: "default") == "node2", "stickiness once the reports are in")
    }

    @Test func aSilentDaemonIsTreatedAsGoneAndItsStaleReportsCountForNothing() {
        var bus = DaemonBus(configuration: Self.configuration)
        bus.form([0, 1, 2])
        bus.reconcile([0, 1, 2])
        #expect(bus.assigned["node1"] == ["default"])
        // node1's core loop hangs (kill -STOP): it stays in the group but stops publishing. node2 and node3 keep
        // ticking; what the group delivers meanwhile waits in node1's queue.
        var backlog: [(from: ProcessGroupMember, message: ClusterMessage)] = []
        let staleReport = bus.daemons[0].handle(.tick, now: bus.now)
        func hungTick(_ bus: inout DaemonBus) {
            bus.now = bus.now + .seconds(1)
            for index in [1, 2] { bus.input(index, .tick) }
            // node2 and node3 carry out their assignments (as their reconcilers would).
            for index in [1, 2] {
                bus.input(index, .localState(holdings: bus.assigned[bus.daemons[index].nodeName] ?? [], blockedGroups: [], healthy: true))
            }
            backlog += bus.queue
            bus.deliver(to: [1, 2])
        }
        for _ in 0..<7 { hungTick(&bus) }
        #expect(Set(bus.daemons[1].silentPeers.keys) == ["node1"])
        #expect(bus.daemons[1].view.reports["node1"] == nil)
        // After the lease window from the moment it was declared silent, node2 takes the group.
        for _ in 0..<4 { hungTick(&bus) }
        #expect(bus.assigned["node2"] == ["default"], "\(String(describing: bus.daemons[1].lastPlacement))")
        // node1 resumes (kill -CONT): the report it wrote before the stop goes out first — still claiming the group.
        // It was written before the others declared node1 hung: it counts for nothing, node2 keeps the group.
        for case .publish(let report, _) in staleReport { bus.queue.append((bus.member(0), .report(report))) }
        backlog += bus.queue
        bus.deliver(to: [1, 2])
        bus.reconcile([1, 2])
        #expect(bus.assigned["node2"] == ["default"])
        #expect(bus.daemons[1].view.reports["node1"] == nil)
        // Then it works through what the group delivered meanwhile (its lease ran out, it holds nothing) and
        // publishes: it is alive again, and not the holder.
        for (from, message) in backlog { bus.input(0, .message(from: from, message)) }
        bus.input(0, .localState(holdings: [], blockedGroups: [], healthy: true))
        bus.deliver(to: [0, 1, 2])
        #expect(bus.daemons[1].silentPeers.isEmpty)
        #expect(bus.daemons[1].view.reports["node1"] != nil)
        #expect(bus.daemons[0].lastPlacement?.holder(of: "default") == "node2")
    }

    @Test func noPeerIsDeclaredHungWhileTheGroupDeliversNothing() {
        // corosync is forming a new membership after a node was lost (≈ 10 s on 7 nodes): CPG delivers nothing to
        // anyone, every peer looks silent, but none of them is hung — and the holder keeps its group meanwhile.
        var bus = DaemonBus(configuration: Self.configuration)
        bus.form([0, 1, 2])
        bus.reconcile([0, 1, 2])
        #expect(bus.assigned["node1"] == ["default"])
        for _ in 0..<12 {
            bus.now = bus.now + .seconds(1)
            for index in [1, 2] { bus.input(index, .tick) }
            bus.queue.removeAll()  // nothing is delivered
        }
        #expect(bus.daemons[1].silentPeers.isEmpty && bus.daemons[2].silentPeers.isEmpty)
        #expect(bus.daemons[1].lastPlacement?.holder(of: "default") == "node1")
        #expect(bus.assigned["node2"] ?? [] == [] && bus.assigned["node3"] ?? [] == [])
    }

    @Test func losingCorosyncReleasesEverything() {
        var bus = DaemonBus(configuration: Self.configuration)
        bus.form([0, 1, 2])
        bus.reconcile([0, 1, 2])
        bus.input(0, .corosyncLost)
        #expect(bus.assigned["node1"] == [])
        #expect(bus.daemons[0].lastPlacement?.assignment(of: "default")?.reason == .noQuorum)
    }

    @Test func reportsFromOutsideTheMembershipAreIgnored() {
        var bus = DaemonBus(configuration: Self.configuration)
        bus.form([0, 1])
        let stranger = NodeStateReport(
            report: NodeReport(name: "node3", nodeID: 3, holdings: ["default"]), configurationRevision: 1,
            configurationHash: "", sequence: 1)
        bus.input(0, .message(from: bus.member(2), .report(stranger)))
        #expect(bus.daemons[0].view.reports["node3"] == nil)
    }

    @Test func messagesRoundTripOnTheWire() throws {
        let messages: [ClusterMessage] = [
            .report(NodeStateReport(
                report: NodeReport(name: "n", nodeID: 1, holdings: ["g"]), configurationRevision: 3, configurationHash: "abc",
                sequence: 9, basedOn: StreamPosition(membership: 7, index: 3), anchorBase: 5,
                previousRing: PreviousRingSummary(ring: RingID(nodeID: 1, sequence: 8), members: [1, 2], formedAgeMilliseconds: 10, leftAgeMilliseconds: 2))),
            .proposal(ConfigurationProposal(id: "i", proposer: "n", baseRevision: 2, configuration: Self.configuration)),
            .document(ClusterDocument(revision: 4, configuration: Self.configuration)),
            .command(.move(group: "g", request: .to("n2"))), .command(.cleanup(group: nil, node: "n")),
        ]
        for message in messages { #expect(try ClusterMessage.decode(message.encoded()) == message) }
        #expect(throws: (any Error).self) { try ClusterMessage.decode(Array("{\"version\":99}".utf8)) }
        #expect(throws: (any Error).self) { try ClusterMessage.decode([UInt8](repeating: 32, count: ClusterMessage.maximumSize + 1)) }
    }
}
