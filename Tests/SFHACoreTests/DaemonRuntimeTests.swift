import CorosyncKit
import Foundation
import Logging
import SFHABase
import Synchronization
import Testing

@testable import SFHACore

/// A one-member process group in memory: what the runtime sends comes back to it, in order.
final class LoopbackGroup: GroupTransport {
    let member = ProcessGroupMember(nodeID: 1, pid: 4242)
    private let runtime = Mutex<DaemonRuntime?>(nil)
    private let sent = Mutex(0)

    func connect(_ runtime: DaemonRuntime) { self.runtime.withLock { $0 = runtime } }
    var messagesSent: Int { sent.withLock { $0 } }

    func trySend(_ payload: [UInt8]) async -> CorosyncError? {
        sent.withLock { $0 += 1 }
        guard let runtime = runtime.withLock({ $0 }) else { return CorosyncError(code: .badHandle, function: "loopback") }
        let from = member
        await runtime.groupEvent(.message(from: from, payload: payload))
        return nil
    }
}

/// Units whose start hangs until released (a unit that takes long to start, or a systemd that does not answer).
final class HangingServiceController: ServiceController {
    private let state = Mutex<(active: Set<String>, hanging: Bool, waiters: [CheckedContinuation<Void, Never>], starts: Int)>(([], true, [], 0))

    var active: Set<String> { state.withLock { $0.active } }
    var startsBegun: Int { state.withLock { $0.starts } }

    func release() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.hanging = false
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func start(_ unit: String) async throws(SFHAError) {
        await withCheckedContinuation { continuation in
            let hang = state.withLock { state -> Bool in
                state.starts += 1
                if state.hanging { state.waiters.append(continuation) }
                return state.hanging
            }
            if !hang { continuation.resume() }
        }
        _ = state.withLock { $0.active.insert(unit) }
    }

    func stop(_ unit: String) async throws(SFHAError) { _ = state.withLock { $0.active.remove(unit) } }
    func restart(_ unit: String) async throws(SFHAError) { try await start(unit) }
    func isActive(_ unit: String) async throws(SFHAError) -> Bool { state.withLock { $0.active.contains(unit) } }

    func exists(_ unit: String) async throws(SFHAError) -> Bool { true }
}

/// A single-node cluster run by a real `DaemonRuntime` on fake effects, with its reconcile worker and sender.
struct RuntimeFixture {
    static let vip = VirtualIP(name: "v", address: IPAddress("192.0.2.1")!, prefixLength: 24, interface: "eth0")
    static let ring = RingID(nodeID: 1, sequence: 8)

    let runtime: DaemonRuntime
    let group = LoopbackGroup()
    let addresses: FakeAddressController
    let services: HangingServiceController
    let tasks: [Task<Void, Never>]

    init(
        documentPath: String = FileManager.default.temporaryDirectory.appendingPathComponent("sfha-rt-\(UUID().uuidString).json").path,
        stonith: StonithConfiguration? = nil, logger: Logger = Logger(label: "test")
    ) {
        let addresses = FakeAddressController(addresses: [])
        let services = HangingServiceController()
        var configuration = ClusterConfiguration(
            name: "t", groups: [ResourceGroup(name: "default", vips: [Self.vip], services: [ManagedService(name: "web", unit: "web.service")])])
        configuration.stonith = stonith
        let runtime = DaemonRuntime(
            node: NodeConfiguration(name: "node1"), nodeID: 1, document: ClusterDocument(revision: 1, configuration: configuration),
            effects: NodeEffects(
                addresses: addresses, announcer: FakeNeighbourAnnouncer(), duplicates: FakeDuplicateAddressChecker(), services: services),
            documentPath: documentPath, requireProof: false, logger: logger)
        self.runtime = runtime
        self.addresses = addresses
        self.services = services
        group.connect(runtime)
        let sender = runtime.sender
        tasks = [
            Task { await sender.run() },
            Task { for await _ in runtime.reconcileWakeups { await runtime.reconcileOnce() } },
        ]
    }

    static func snapshot(quorate: Bool, twoNode: Bool = false) -> ClusterSnapshot {
        ClusterSnapshot(
            clusterName: "t", localNodeID: 1, ring: ring, quorate: quorate, quorumRing: ring, expectedVotes: 1, highestExpected: 1,
            totalVotes: 1, quorum: 1, flags: QuorumFlags(quorate ? [.quorate] : []).union(twoNode ? [.twoNode] : []),
            members: [ClusterMember(nodeID: 1, name: "node1", addresses: ["10.0.0.1"], online: true, votes: 1, isLocal: true)])
    }

    /// corosync says quorate, the daemon is in its group and in its ring.
    func start() async {
        await runtime.start()
        await runtime.corosync(.connected(Self.snapshot(quorate: true)))
        await runtime.attach(transport: group, as: group.member)
        await runtime.groupEvent(.ring(Self.ring, nodes: [1]))
        await runtime.groupEvent(.membership(ProcessGroupMembershipChange(members: [group.member], joined: [(group.member, .joined)], left: [])))
        await runtime.proofEvent(.proven(true))
        await runtime.proofEvent(.previousRingKnown(learntAt: .now, leftAtMost: nil))
    }

    func stop() {
        services.release()
        for task in tasks { task.cancel() }
    }

    var vipPresent: Bool { addresses.all.contains { $0.address == Self.vip.address } }
}

/// Polls `condition` every few milliseconds until it holds or `timeout` passes. The default is a hang bound, not a
/// budget: a loaded machine can hold the test's tasks back for seconds, and a condition that holds returns at once.
func eventually(within timeout: Duration = .seconds(30), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return await condition()
}

@Suite("daemon runtime: the core loop never waits for an effect", .timeLimit(.minutes(1)))
struct DaemonRuntimeTests {
    /// Outside testing: the corosync watch awaited each event's whole handling, including the acquisition it
    /// triggered (a unit start of 298 ms), so the quorum-loss event came 526 ms late and the VIP stayed without
    /// quorum. Now the event is handled at once, the VIP goes while the unit is still starting, and the start that
    /// completes afterwards is undone.
    @Test func quorumLossIsActedOnWhileAnAcquisitionHangs() async throws {
        let fixture = RuntimeFixture()
        defer { fixture.stop() }
        await fixture.start()
        #expect(await eventually { fixture.vipPresent && fixture.services.startsBegun == 1 }, "the VIP is up and the unit starting")
        // The unit start hangs until released below: this call returning at all shows the event did not wait for it.
        await fixture.runtime.corosync(.quorumChanged(quorate: false, RuntimeFixture.snapshot(quorate: false)))
        #expect(await eventually { !fixture.vipPresent }, "the VIP went while the unit start still hangs")
        fixture.services.release()
        #expect(await eventually { fixture.services.active.isEmpty }, "the start that completed late was undone")
        #expect(!fixture.vipPresent)
    }

    /// Outside testing: with /var/lib/sfha full or read-only the node committed in memory only and the CLI said
    /// "committed". The answer and `status` now say it.
    @Test func aChangeThatCannotBeSavedSaysSo() async throws {
        let fixture = RuntimeFixture(documentPath: "/proc/sfha-cannot-write-here/cluster.json")
        defer { fixture.stop() }
        await fixture.start()
        let result = try await fixture.runtime.setMaintenance(true)
        #expect(result.changed && !result.persisted)
        #expect(result.message.contains("NOT saved"), "\(result.message)")
        let status = await fixture.runtime.status()
        #expect(status.warnings.contains { $0.contains("in memory only") }, "\(status.warnings)")
    }

    /// STONITH is accepted but does nothing yet: enabling it must not hide the two-node warning, and status says it.
    @Test func stonithEnabledIsReportedAsNotFencingAndKeepsTheTwoNodeWarning() async throws {
        let fixture = RuntimeFixture(stonith: StonithConfiguration(enabled: true, provider: .webhook))
        defer { fixture.stop() }
        await fixture.start()
        await fixture.runtime.corosync(.connected(RuntimeFixture.snapshot(quorate: true, twoNode: true)))
        let warnings = await fixture.runtime.status().warnings
        #expect(warnings.contains(TwoNodeWarning.text), "\(warnings)")
        #expect(warnings.contains("stonith.enabled: \(StonithConfiguration.notImplementedWarning)"), "\(warnings)")
        #expect(!TwoNodeWarning.text.contains("configure STONITH"))
    }

    /// sfhad logs a configuration's warnings when it reloads it: enabling STONITH says that nothing is fenced.
    @Test func aReloadWithStonithEnabledLogsThatNothingIsFenced() async throws {
        let recorder = ControlLogRecorder()
        let fixture = RuntimeFixture(logger: recorder.logger)
        defer { fixture.stop() }
        await fixture.start()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sfha-rt-\(UUID().uuidString).yml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try """
            node:
              name: node1
            vips:
              - name: v
                ip: 192.0.2.1/24
            services:
              - name: web
                unit: web.service
            stonith:
              enabled: true
              provider: webhook
              webhook:
                fence_url: "https://fence.example.com/{{node}}/{{action}}"
              nodes:
                node1: {type: lxc}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try await fixture.runtime.reload(path: path, applyLogLevel: { _ in })
        #expect(result.changed)
        let logged = recorder.warnings(containing: "stonith.enabled: accepted, not implemented yet: nothing is fenced")
        #expect(logged.count == 1, "\(recorder.all.map(\.message))")
        #expect(logged.first?.message.hasPrefix("\(path):10:3: warning:") == true, "\(logged.first?.message ?? "")")
    }

    /// A proposal that the config.yml rules refuse is refused by the cluster: nothing is committed.
    @Test func anInvalidProposalIsRefusedEverywhere() async throws {
        let fixture = RuntimeFixture()
        defer { fixture.stop() }
        await fixture.start()
        var forged = await fixture.runtime.document.configuration
        forged.groups[0].vips[0].interface = "../../etc"
        let message = await fixture.runtime.state.propose(forged, id: "forged")
        try #require(await fixture.group.trySend(try message.encoded()) == nil)
        #expect(await fixture.runtime.document.revision == 1)
    }
}
