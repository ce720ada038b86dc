import CorosyncKit
import Foundation
import Testing

@testable import SFHACore

/// Every message from the process group is hostile until validated: found by outside testing, each of these once
/// crashed every daemon, moved a group, invented a node or committed a configuration config.yml would refuse.
@Suite("daemon state machine: hostile messages change nothing", .timeLimit(.minutes(1)))
struct DaemonInputTests {
    static let configuration = DaemonStateTests.configuration

    /// A stranger process in the sfha group on node 2 (any process allowed to talk to corosync can join).
    static let intruder = ProcessGroupMember(nodeID: 2, pid: 6666)

    static func settled() -> DaemonBus {
        var bus = DaemonBus(configuration: configuration)
        bus.form([0, 1, 2])
        bus.reconcile([0, 1, 2])
        return bus
    }

    static func report(_ name: String, id: UInt32, holdings: Set<String> = ["default"], sequence: UInt64 = 10_000, priority: Int = 100)
        -> NodeStateReport
    {
        NodeStateReport(
            report: NodeReport(name: name, nodeID: id, priority: priority, holdings: holdings), configurationRevision: 1,
            configurationHash: "", sequence: sequence)
    }

    /// `bus` after `message` from `from` is delivered to every node: nothing moved, no document changed.
    static func expectNothingChanged(_ bus: inout DaemonBus, after message: ClusterMessage, from: ProcessGroupMember, _ comment: Comment) {
        let before = bus.daemons.map { ($0.document, $0.lastPlacement, $0.view.reports) }
        bus.queue.append((from, message))
        bus.deliver(to: [0, 1, 2])
        bus.reconcile([0, 1, 2])
        for (index, daemon) in bus.daemons.enumerated() {
            #expect(daemon.document == before[index].0, comment)
            #expect(daemon.lastPlacement == before[index].1, comment)
        }
        #expect(bus.assigned["node1"] == ["default"], comment)
    }

    @Test func aReportNamingAnotherNodeIsRefused() {
        var bus = Self.settled()
        // From node 2's process: claims to be node 3, then invents node 9 ("ghost").
        Self.expectNothingChanged(&bus, after: .report(Self.report("node3", id: 3)), from: bus.member(1), "a report for node3 sent from node2")
        Self.expectNothingChanged(&bus, after: .report(Self.report("ghost", id: 9)), from: bus.member(1), "a ghost node")
        #expect(bus.rejected["node1"]?.isEmpty == false)
        #expect(bus.daemons.allSatisfy { $0.view.reports["ghost"] == nil })
    }

    @Test func aSecondProcessOnANodeCannotSpeakForIt() {
        var bus = Self.settled()
        // Another process on node 2 claims the group in node 2's name: node 2's sfhad is already known.
        Self.expectNothingChanged(&bus, after: .report(Self.report("node2", id: 2)), from: Self.intruder, "a claim from a process that is not node2's sfhad")
        // Nor can it propose, command or pose as a node with the wrong name.
        var changed = Self.configuration
        changed.maintenance = true
        Self.expectNothingChanged(
            &bus, after: .proposal(ConfigurationProposal(id: "x", proposer: "node2", baseRevision: 1, configuration: changed)),
            from: Self.intruder, "a proposal from a process that is not node2's sfhad")
        Self.expectNothingChanged(&bus, after: .command(.move(group: "default", request: .to("node3"))), from: Self.intruder, "a move")
        Self.expectNothingChanged(
            &bus, after: .report(Self.report("node1", id: 2, holdings: [])), from: bus.member(1), "node2's sfhad naming itself node1")
    }

    /// A process joining and leaving the group on the holder's node dropped the VIP on every leave.
    @Test func anotherProcessJoiningAndLeavingChangesNothing() {
        var bus = Self.settled()
        let stranger = ProcessGroupMember(nodeID: 1, pid: 7777)
        let everyone = (0..<3).map(bus.member)
        for _ in 0..<3 {
            for index in 0..<3 { bus.input(index, .groupMembership(members: everyone + [stranger], joined: [stranger], left: [])) }
            bus.deliver(to: [0, 1, 2])
            for index in 0..<3 {
                bus.input(index, .groupMembership(members: everyone, joined: [], left: [.init(stranger, nodeLeft: false)]))
            }
            bus.deliver(to: [0, 1, 2])
            bus.reconcile([0, 1, 2])
            #expect(bus.assigned["node1"] == ["default"])
            #expect(bus.daemons.allSatisfy { $0.view.reports["node1"] != nil && $0.view.daemonDepartures.isEmpty })
        }
    }

    /// A document with revision 2^64−1 was adopted and written everywhere; the next change overflowed and every
    /// daemon crashed, again after each restart.
    @Test func aDocumentWithAnOutOfRangeRevisionIsRefused() {
        var bus = Self.settled()
        var forged = ClusterDocument(revision: 1, configuration: Self.configuration)
        forged.revision = .max
        Self.expectNothingChanged(&bus, after: .document(forged), from: bus.member(1), "revision 2^64-1")
        // The next change commits normally.
        var changed = Self.configuration
        changed.maintenance = true
        bus.queue.append((bus.member(0), bus.daemons[0].propose(changed, id: "after")))
        bus.deliver(to: [0, 1, 2])
        #expect(bus.daemons.allSatisfy { $0.document.revision == 2 })
    }

    /// Proposals config.yml would refuse: committed everywhere before, refused everywhere now (every node reaches
    /// the same verdict).
    @Test(arguments: ["interface", "prefix", "unit", "delay"])
    func aProposalTheLoaderWouldRefuseIsRefused(_ what: String) throws {
        var bus = Self.settled()
        var forged = Self.configuration
        switch what {
        case "interface": forged.groups[0].vips[0].interface = "../../etc"
        case "prefix": forged.groups[0].vips[0].prefixLength = 33
        case "unit": forged.groups[0].services[0].unit = "-H evil;reboot"
        default: forged.takeoverDelay = .milliseconds(-5)
        }
        bus.queue.append((bus.member(1), bus.daemons[1].propose(forged, id: what)))
        bus.deliver(to: [0, 1, 2])
        #expect(bus.outcomes[what]?.0 == false, "\(String(describing: bus.outcomes[what]))")
        #expect(bus.daemons.allSatisfy { $0.document.revision == 1 })
    }

    @Test func aReportWithValuesOutOfRangeIsRefused() {
        var bus = Self.settled()
        Self.expectNothingChanged(&bus, after: .report(Self.report("node2", id: 2, priority: 1_000_000)), from: bus.member(1), "priority")
        var huge = Self.report("node2", id: 2, holdings: [])
        huge.report.blockedGroups = Set((0..<5000).map { "g\($0)" })
        Self.expectNothingChanged(&bus, after: .report(huge), from: bus.member(1), "a report listing 5000 groups")
    }

    /// Random bytes and random JSON never crash the decoder or the state machine.
    @Test func garbageNeverCrashes() {
        var generator = SystemRandomNumberGenerator()
        var bus = Self.settled()
        for round in 0..<300 {
            let bytes = (0..<Int.random(in: 0..<200, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let candidates: [[UInt8]] = [
                bytes,
                Array("{\"version\":2,\"message\":{\"report\":{\"_0\":{\"sequence\":\(round)}}}}".utf8),
                Array("{\"version\":2,\"message\":{\"document\":{\"_0\":{\"revision\":-1}}}}".utf8),
            ]
            for payload in candidates {
                if let message = try? ClusterMessage.decode(payload) { bus.input(0, .message(from: Self.intruder, message)) }
            }
        }
        #expect(bus.assigned["node1"] == ["default"])
    }
}
