import CorosyncKit
import Testing

@testable import SFHACore

/// Three daemons connected by an in-memory process group that delivers every message to every member in one
/// total order, as CPG does.
struct DaemonBus {
    var daemons: [DaemonState]
    var queue: [(from: ProcessGroupMember, message: ClusterMessage)] = []
    var assigned: [String: Set<String>] = [:]
    var outcomes: [String: (Bool, String)] = [:]
    var commits: [String: [UInt64]] = [:]
    var cleared: [String: [String?]] = [:]
    var now = Timestamp(nanoseconds: 1_000_000_000)

    init(configuration: ClusterConfiguration, nodes: Int = 3) {
        let document = ClusterDocument(revision: 1, configuration: configuration)
        daemons = (1...nodes).map {
            DaemonState(nodeName: "node\($0)", nodeID: UInt32($0), priority: 100, document: document, now: Timestamp.zero)
        }
    }

    func member(_ index: Int) -> ProcessGroupMember { ProcessGroupMember(nodeID: UInt32(index + 1), pid: 100) }

    mutating func collect(_ index: Int, _ outputs: [DaemonState.Output]) {
        let name = daemons[index].nodeName
        for output in outputs {
            switch output {
            case .send(let message): queue.append((member(index), message))
            case .assign(let groups, _): assigned[name] = groups
            case .commit(let document): commits[name, default: []].append(document.revision)
            case .proposalOutcome(let id, let verdict): outcomes[id] = (verdict.isCommitted, verdict.description)
            case .clearFailures(let group): cleared[name, default: []].append(group)
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

    /// Every daemon in `members` sees the corosync membership and the process group, and exchanges reports.
    mutating func form(_ members: [Int], quorate: Bool = true) {
        let ids = Set(members.map { UInt32($0 + 1) })
        for index in members { input(index, .membership(members: ids, quorate: quorate)) }
        for index in members { input(index, .groupMembership(members: members.map(member), joined: members.map(member), left: [])) }
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

@Suite("daemon state machine")
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

    @Test func changesAreRefusedWithoutQuorum() {
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

    @Test func aCrashedHoldersGroupMovesOnlyAfterTheTakeoverDelay() {
        var bus = DaemonBus(configuration: Self.configuration)
        bus.form([0, 1, 2])
        bus.reconcile([0, 1, 2])
        #expect(bus.assigned["node1"] == ["default"])
        // node1's daemon leaves the group (crash): node2 and node3 wait out the takeover delay.
        for index in [1, 2] { bus.input(index, .groupMembership(members: [bus.member(1), bus.member(2)], joined: [], left: [bus.member(0)])) }
        #expect(bus.assigned["node2"] ?? [] == [])
        if case .waitingForTakeover? = bus.daemons[1].lastPlacement?.assignment(of: "default")?.reason {} else {
            Issue.record("expected waitingForTakeover, got \(String(describing: bus.daemons[1].lastPlacement))")
        }
        bus.now = bus.now + .seconds(3)
        for index in [1, 2] { bus.input(index, .tick) }
        bus.deliver(to: [1, 2])
        #expect(bus.assigned["node2"] == ["default"])
    }

    @Test func aRejoiningNodeAcquiresNothingUntilEveryDaemonHasReported() {
        var bus = DaemonBus(configuration: Self.configuration)
        // node2 and node3 run the group while node1 is away.
        bus.form([1, 2])
        bus.reconcile([1, 2])
        #expect(bus.assigned["node2"] == ["default"])
        // node1 comes back: corosync and CPG tell it about node2 and node3 before their reports arrive.
        bus.input(0, .membership(members: [1, 2, 3], quorate: true))
        bus.input(0, .groupMembership(members: [0, 1, 2].map(bus.member), joined: [bus.member(0)], left: []))
        #expect(bus.assigned["node1"] ?? [] == [], "node1 must not take the group before it knows who holds it")
        #expect(bus.daemons[0].lastPlacement?.assignment(of: "default")?.reason == .waitingForReports(from: [2, 3]))
        for index in [1, 2] { bus.input(index, .groupMembership(members: [0, 1, 2].map(bus.member), joined: [bus.member(0)], left: [])) }
        bus.deliver(to: [0, 1, 2])
        #expect(bus.assigned["node1"] ?? [] == [])
        #expect(bus.daemons[0].lastPlacement?.holder(of: "default") == "node2", "stickiness once the reports are in")
    }

    @Test func aSilentDaemonIsTreatedAsGoneAndComesBackWithItsNextReport() {
        var bus = DaemonBus(configuration: Self.configuration)
        bus.form([0, 1, 2])
        bus.reconcile([0, 1, 2])
        #expect(bus.assigned["node1"] == ["default"])
        // node1's core loop hangs: it stays in the group but stops publishing. node2 and node3 keep ticking; what
        // the group delivers meanwhile waits in node1's queue.
        var backlog: [(from: ProcessGroupMember, message: ClusterMessage)] = []
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
        #expect(bus.daemons[1].silentPeers == ["node1"])
        #expect(bus.daemons[1].view.reports["node1"] == nil)
        // After the takeover delay from the moment it was declared silent, node2 takes the group.
        for _ in 0..<4 { hungTick(&bus) }
        #expect(bus.assigned["node2"] == ["default"], "\(String(describing: bus.daemons[1].lastPlacement))")
        // node1 wakes up: it first works through what the group delivered meanwhile (its lease ran out, it holds
        // nothing), then publishes: it is alive again, and not the holder.
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
            .report(NodeStateReport(report: NodeReport(name: "n", nodeID: 1, holdings: ["g"]), configurationRevision: 3,
                                    configurationHash: "abc", sequence: 9)),
            .proposal(ConfigurationProposal(id: "i", proposer: "n", baseRevision: 2, configuration: Self.configuration)),
            .document(ClusterDocument(revision: 4, configuration: Self.configuration)),
            .command(.move(group: "g", request: .to("n2"))), .command(.cleanup(group: nil, node: "n")),
        ]
        for message in messages { #expect(try ClusterMessage.decode(message.encoded()) == message) }
        #expect(throws: (any Error).self) { try ClusterMessage.decode(Array("{\"version\":99}".utf8)) }
    }
}
