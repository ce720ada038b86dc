import CorosyncKit
import Foundation
import Logging
import SFHABase
import Testing

@testable import SFHACore

/// A resource a node cannot apply fails loudly and once: each node reads what its machine lacks for each group (a
/// VIP's interface, a service's unit) and says so in its report; such a node is not eligible for the group; a VIP
/// on an interface a node lacks is refused at `vip add`; and what arrives from the group is validated.
@Suite("resources a node cannot apply", .timeLimit(.minutes(1)))
struct CannotApplyTests {
    @Test func aNodeThatCannotApplyAGroupIsNotEligibleForIt() {
        let reports = [
            NodeReport(name: "node1", nodeID: 1, cannotApply: ["web": "no interface eth9 for VIP vip-web"]),
            NodeReport(name: "node2", nodeID: 2),
        ]
        let input = PlacementInput(quorate: true, members: [1, 2], reports: reports, now: Timestamp(nanoseconds: 1_000_000_000))
        let policy = PlacementPolicy(groups: [GroupPolicy(name: "web"), GroupPolicy(name: "db")])
        let placement = Placer.place(input, policy: policy)
        #expect(placement.holder(of: "web") == "node2")
        #expect(placement.holder(of: "db") == "node1", "only the group it cannot apply")
        #expect(Placer.ineligibleNodes(for: "web", input, policy: policy) == ["node1": .cannotApply])
    }

    @Test func hostileListsAreRefusedAndUnknownGroupsDropped() {
        var bus = DaemonInputTests.settled()
        func report(interfaces: [String]?, cannotApply: [String: String], sequence: UInt64) -> ClusterMessage {
            .report(NodeStateReport(
                report: NodeReport(name: "node2", nodeID: 2, holdings: [], interfaces: interfaces, cannotApply: cannotApply),
                configurationRevision: 1, configurationHash: "", sequence: sequence))
        }
        let node2 = bus.member(1)
        let rejectedBefore = bus.rejected["node1"]?.count ?? 0
        for (message, what) in [
            (report(interfaces: ["eth0", "bad name"], cannotApply: [:], sequence: 20_000), "an invalid interface name"),
            (report(interfaces: Array(repeating: "eth0", count: 5000), cannotApply: [:], sequence: 20_001), "too many interfaces"),
            (report(interfaces: nil, cannotApply: ["default": "no unit \u{1B}[31mx"], sequence: 20_002), "a control character"),
            (report(interfaces: nil, cannotApply: ["default": String(repeating: "x", count: 5000)], sequence: 20_003), "a huge reason"),
        ] {
            bus.queue.append((node2, message))
            bus.deliver(to: [0, 1, 2])
            #expect((bus.rejected["node1"]?.count ?? 0) > rejectedBefore, "\(what)")
        }
        #expect(bus.daemons[0].view.reports["node2"]?.cannotApply.isEmpty == true)
        // node2's own daemon says what its machine lacks: the others see it; a group this revision does not have is
        // dropped, the rest kept.
        bus.input(1, .machine(interfaces: ["eth0"], cannotApply: ["nope": "x", "default": "no unit u.service for service u"]))
        bus.deliver(to: [0, 1, 2])
        #expect(bus.daemons[0].view.reports["node2"]?.cannotApply == ["default": "no unit u.service for service u"])
        #expect(bus.daemons[0].view.reports["node2"]?.interfaces == ["eth0"])
    }

    /// On a running daemon: a VIP on an interface this machine lacks and a unit it does not have are read, said in
    /// the report and in status; nobody holds the group (the only node cannot apply it); a VIP on another missing
    /// interface is refused at add time because this node's report says it lacks it.
    @Test func theDaemonReadsItsMachineAndSaysWhatItLacks() async throws {
        let addresses = FakeAddressController(addresses: [])
        addresses.setInterfaceNames(["eth0", "lo"])
        let services = FakeServiceController()
        services.setMissing(["gone.service"])
        var configuration = ClusterConfiguration(name: "t")
        configuration = try configuration.addingVIP(name: "vip-web", cidr: "192.0.2.10/24", interface: "eth1")
        configuration = try configuration.addingService(name: "gone", unit: nil, group: "default", critical: false, restart: false)
        let (runtime, stop) = await RuntimeFixture.joinedRuntime(configuration, addresses: addresses, services: services)
        defer { stop() }
        await runtime.proofEvent(.proven(true))
        await runtime.readMachine()

        let report = await runtime.localReport
        #expect(report.interfaces == ["eth0", "lo"])
        #expect(report.cannotApply == ["default": "no interface eth1 for VIP vip-web; no unit gone.service for service gone"])
        let status = await runtime.status()
        #expect(status.groups.first?.holder == nil)
        #expect(status.groups.first?.ineligible.contains { $0.node == "node1" && $0.why == .cannotApply } == true, "\(status.groups)")
        #expect(status.nodes.first { $0.local }?.cannotApply?["default"]?.contains("no interface eth1") == true)

        let refused = await #expect(throws: SFHAError.self) {
            try await runtime.addVIP(name: "vip-api", cidr: "192.0.2.11/24", interface: "eth7", group: nil)
        }
        #expect(refused?.message.contains("node1 has no interface eth7") == true, "\(String(describing: refused))")
        #expect(await runtime.document.revision == 1, "nothing was changed")
    }
}

extension RuntimeFixture {
    /// A one-node runtime on `addresses` and `services`, quorate and in its process group (not yet proven), with its
    /// sender running; `stop` ends the sender.
    static func joinedRuntime(
        _ configuration: ClusterConfiguration, addresses: FakeAddressController, services: FakeServiceController
    ) async -> (DaemonRuntime, stop: @Sendable () -> Void) {
        let runtime = DaemonRuntime(
            node: NodeConfiguration(name: "node1"), nodeID: 1, document: ClusterDocument(revision: 1, configuration: configuration),
            effects: NodeEffects(addresses: addresses, announcer: FakeNeighbourAnnouncer(), duplicates: FakeDuplicateAddressChecker(), services: services),
            documentPath: FileManager.default.temporaryDirectory.appendingPathComponent("sfha-rt-\(UUID().uuidString).json").path,
            requireProof: false, logger: Logger(label: "test"))
        let group = LoopbackGroup()
        group.connect(runtime)
        let sender = runtime.sender
        let senderTask = Task { await sender.run() }
        await runtime.start()
        await runtime.corosync(.connected(snapshot(quorate: true)))
        await runtime.attach(transport: group, as: group.member)
        await runtime.groupEvent(.ring(ring, nodes: [1]))
        await runtime.groupEvent(.membership(ProcessGroupMembershipChange(members: [group.member], joined: [(group.member, .joined)], left: [])))
        return (runtime, { senderTask.cancel() })
    }
}
