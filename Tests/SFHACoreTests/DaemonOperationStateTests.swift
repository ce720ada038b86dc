import CorosyncKit
import Testing

@testable import SFHACore

/// The parts of the state machine behind operator commands: failover requests, cleanup, priorities, and how
/// nodes that started from different config.yml files converge.
@Suite("daemon state machine: operator commands", .timeLimit(.minutes(2)))
struct DaemonOperationStateTests {
    static let configuration = DaemonStateTests.configuration

    @Test func aMoveRequestLastsUntilTheTargetHoldsTheGroupThenStickinessKeepsIt() {
        var bus = DaemonBus(configuration: Self.configuration)
        bus.form([0, 1, 2])
        bus.reconcile([0, 1, 2])
        #expect(bus.assigned["node1"] == ["default"])
        bus.queue.append((bus.member(2), .command(.move(group: "default", request: .to("node3")))))
        bus.deliver(to: [0, 1, 2])
        // Decided, but node1 still holds it: the request must survive, or stickiness would keep node1.
        #expect(bus.daemons.allSatisfy { $0.view.moveRequests["default"] == .to("node3") })
        bus.reconcile([0, 1, 2])
        #expect(bus.assigned["node3"] == ["default"])
        #expect(bus.assigned["node1"] ?? [] == [])
        #expect(bus.daemons.allSatisfy { $0.view.moveRequests["default"] == nil })
        // Afterwards the group stays on node3 (no request, stickiness).
        for index in 0..<3 { bus.input(index, .tick) }
        bus.deliver(to: [0, 1, 2])
        bus.reconcile([0, 1, 2])
        #expect(bus.assigned["node3"] == ["default"])
    }

    @Test func anAwayRequestMovesTheGroupToAnotherNode() {
        var bus = DaemonBus(configuration: Self.configuration)
        bus.form([0, 1, 2])
        bus.reconcile([0, 1, 2])
        bus.queue.append((bus.member(0), .command(.move(group: "default", request: .awayFrom("node1")))))
        bus.deliver(to: [0, 1, 2])
        bus.reconcile([0, 1, 2])
        #expect(bus.assigned["node1"] ?? [] == [])
        #expect(bus.assigned["node2"] == ["default"])
        #expect(bus.daemons.allSatisfy { $0.view.moveRequests.isEmpty })
    }

    @Test func cleanupClearsFailuresOnlyWhereAsked() {
        var bus = DaemonBus(configuration: Self.configuration)
        bus.form([0, 1, 2])
        bus.queue.append((bus.member(0), .command(.cleanup(group: "default", node: "node2"))))
        bus.deliver(to: [0, 1, 2])
        #expect(bus.cleared == ["node2": ["default"]])
        bus.queue.append((bus.member(0), .command(.cleanup(group: nil, node: nil))))
        bus.deliver(to: [0, 1, 2])
        #expect(bus.cleared["node1"] == [nil] && bus.cleared["node3"] == [nil] && bus.cleared["node2"] == ["default", nil])
    }

    @Test func aPriorityChangeIsPublished() {
        var bus = DaemonBus(configuration: Self.configuration)
        bus.form([0, 1, 2])
        bus.input(1, .setPriority(250))
        bus.deliver(to: [0, 1, 2])
        #expect(bus.daemons.allSatisfy { $0.view.reports["node2"]?.priority == 250 })
    }

    @Test func aProposalWithoutChangesCommitsNothing() {
        var bus = DaemonBus(configuration: Self.configuration)
        bus.form([0, 1, 2])
        bus.queue.append((bus.member(0), bus.daemons[0].propose(Self.configuration, id: "same")))
        bus.deliver(to: [0, 1, 2])
        #expect(bus.outcomes["same"]?.0 == true)
        #expect(bus.outcomes["same"]?.1.contains("nothing changed") == true)
        #expect(bus.commits.isEmpty)
    }

    @Test func nodesStartedFromDifferentFilesConvergeOnOneDocument() {
        var other = Self.configuration
        other.nodePriorities = ["node3": 10]
        var bus = DaemonBus(configuration: Self.configuration)
        bus.daemons[2] = DaemonState(
            nodeName: "node3", nodeID: 3, priority: 100, document: ClusterDocument(revision: 1, configuration: other), now: .zero)
        bus.form([0, 1, 2])
        let hashes = Set(bus.daemons.map(\.document.contentHash))
        #expect(hashes.count == 1)
        let expected = min(ClusterDocument.contentHash(of: Self.configuration), ClusterDocument.contentHash(of: other))
        #expect(hashes.first == expected)
        #expect(bus.daemons.allSatisfy { $0.document.revision == 1 })
    }

    @Test func aDaemonWhoseCorosyncCameBackTakesNothingBeforeItIsBackInTheProcessGroup() {
        var bus = DaemonBus(configuration: Self.configuration)
        bus.form([0, 1, 2])
        bus.reconcile([0, 1, 2])
        #expect(bus.assigned["node1"] == ["default"])
        // corosync is killed on node1: it releases; node2 takes over (simplified: node1 leaves the others' view).
        bus.input(0, .corosyncLost)
        #expect(bus.assigned["node1"] == [])
        bus.input(0, .localState(holdings: [], blockedGroups: [], healthy: true))
        bus.queue.removeAll()
        // corosync restarted: its membership arrives first, on its own connection. node1 knows no daemon yet and
        // must not pick itself — the others may hold the group.
        bus.input(0, .corosync(bus.facts([0, 1, 2])))
        #expect(bus.assigned["node1"] == [])
        #expect(!bus.daemons[0].inProcessGroup)
    }

    @Test func theEndOfATakeoverDelayIsAnnouncedSoTheDaemonActsOnTime() {
        var configuration = Self.configuration
        configuration.takeoverDelay = .seconds(1)  // longer than the fence here, so the delay decides
        var bus = DaemonBus(configuration: configuration)
        bus.form([0, 1, 2])
        bus.reconcile([0, 1, 2])
        #expect(bus.daemons[1].nextDecisionTime == nil)
        // node1 (the holder) leaves the membership: node2 waits for the takeover delay (and the ring's fence), and
        // says until when.
        let left = bus.now
        bus.input(1, .corosync(bus.facts([1, 2])))
        let until = left + configuration.takeoverDelay
        #expect(bus.daemons[1].nextDecisionTime == until)
        #expect(bus.assigned["node2"] ?? [] == [])
        // At that moment a wake-up alone (no heartbeat) is enough to go on.
        bus.now = until
        bus.input(1, .wakeUp)
        #expect(bus.daemons[1].lastPlacement?.assignment(of: "default")?.reason != .waitingForTakeover(previousHolder: "node1", until: until))
    }
}
