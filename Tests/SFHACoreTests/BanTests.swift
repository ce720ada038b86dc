import Foundation
import SFHABase
import Testing

@testable import SFHACore

/// `sfha failover GROUP --ban NODE` / `--clear`: a banned node is never eligible for the group (nor for a group
/// colocated with it), the ban is replicated and persistent (`cluster.banned_nodes`), and a stale file cannot lift
/// it unconfirmed.
@Suite("bans keep a group off a node", .timeLimit(.minutes(1)))
struct BanTests {
    func node(_ id: UInt32, holds: Set<String> = []) -> NodeReport {
        NodeReport(name: "node\(id)", nodeID: id, holdings: holds, running: holds)
    }

    func place(_ reports: [NodeReport], groups: [GroupPolicy]) -> Placement {
        Placer.place(
            PlacementInput(quorate: true, members: Set(reports.map(\.nodeID)), reports: reports, now: Timestamp(nanoseconds: 10_000_000_000)),
            policy: PlacementPolicy(groups: groups))
    }

    @Test func aBannedNodeIsNeverChosen() {
        let web = GroupPolicy(name: "web", bannedNodes: ["node1"])
        #expect(place([node(1), node(2), node(3)], groups: [web]).holder(of: "web") == "node2")
        // The only node left is banned: nobody, and the reason says so.
        let alone = place([node(1)], groups: [web]).assignment(of: "web")
        #expect(alone?.holder == nil)
        #expect(alone?.reason == .noEligibleNode(["node1": .banned]))
    }

    /// A banned holder loses its stickiness; the next node waits until it has released the group (never two holders).
    @Test func aBannedHolderReleasesBeforeAnotherNodeTakesIt() {
        let web = GroupPolicy(name: "web", bannedNodes: ["node1"])
        let assignment = place([node(1, holds: ["web"]), node(2)], groups: [web]).assignment(of: "web")
        #expect(assignment?.holder == nil)
        #expect(assignment?.reason == .waitingForRelease(by: "node1", next: "node2"))
        #expect(place([node(1), node(2)], groups: [web]).holder(of: "web") == "node2")
    }

    @Test func aBanCoversTheGroupsColocatedWithIt() {
        let db = GroupPolicy(name: "db", bannedNodes: ["node1"])
        let app = GroupPolicy(name: "app", colocatedWith: ["db"])
        let placement = place([node(1), node(2)], groups: [db, app])
        #expect(placement.holder(of: "db") == "node2")
        #expect(placement.holder(of: "app") == "node2")
    }

    @Test func bansLoadRenderAndValidate() throws {
        let text = """
            cluster:
              name: t
              banned_nodes:
                web: [node3, node1, node3]
                gone: [node2]
            node:
              name: node1
            vips:
              - name: vip-web
                ip: 192.0.2.10/24
                group: web
            """
        let loaded = try SFHAConfiguration.parse(yaml: text, path: "config.yml")
        #expect(loaded.cluster.bannedNodes == ["web": ["node1", "node3"]])
        #expect(loaded.warnings.contains { $0.diagnostic.message.contains("no group is named \"gone\"") }, "\(loaded.warnings)")
        #expect(PlacementPolicy(loaded.cluster).groups.first?.bannedNodes == ["node1", "node3"])
        // Written out and read back: the same; what arrives over the network is checked the same way.
        #expect(try loaded.cluster.validated() == loaded.cluster)
        var unsorted = loaded.cluster
        unsorted.bannedNodes["web"] = ["node3", "node1"]
        #expect(throws: ConfigurationError.self) { try unsorted.validated() }
        let bad = text.replacingOccurrences(of: "[node3, node1, node3]", with: "[\"node 1\"]")
        #expect(throws: ConfigurationError.self) { try SFHAConfiguration.parse(yaml: bad, path: "config.yml") }
    }

    @Test func editsAddLiftAndFollowTheGroup() throws {
        var configuration = ClusterConfiguration(groups: [ResourceGroup(name: "web")])
        configuration = try configuration.addingVIP(name: "vip-web", cidr: "192.0.2.10/24", group: "web")
        let banned = try configuration.settingBan(group: "web", node: "node2", true)
        #expect(banned.bannedNodes == ["web": ["node2"]])
        #expect(try banned.settingBan(group: "web", node: "node2", false).bannedNodes.isEmpty)
        #expect(try banned.clearingBans(group: nil).bannedNodes.isEmpty)
        #expect(throws: SFHAError.self) { try banned.settingBan(group: "nope", node: "node2", true) }
        #expect(throws: SFHAError.self) { try banned.settingBan(group: "web", node: "bad name", true) }
        // The group goes with its last resource; so does its ban.
        #expect(try banned.removingVIP(named: "vip-web").bannedNodes.isEmpty)
        // A file without the ban would lift it: a removal the operator confirms.
        #expect(ConfigurationDiff(from: banned, to: configuration).removals == ["ban web on node2"])
    }

    /// On a running daemon: the ban is committed, the group leaves the banned node and the answer says why nobody
    /// holds it; the export carries the ban; `--clear` gives the group back.
    @Test func aBanOnTheRunningDaemonMovesTheGroupOffAndClearGivesItBack() async throws {
        let (runtime, _, stop) = try await ReloadSafetyTests.runtimeWithTwoAddedVIPs()
        let reconciler = Task { for await _ in runtime.reconcileWakeups { await runtime.reconcileOnce() } }
        defer {
            stop()
            reconciler.cancel()
        }
        await runtime.proofEvent(.proven(true))
        await runtime.proofEvent(.previousRingKnown(learntAt: .now, leftAtMost: nil))
        try await waitUntil { await runtime.localReport.running.contains(ResourceGroup.defaultName) }
        let result = try await runtime.ban(group: ResourceGroup.defaultName, node: "node1")
        #expect(result.changed)
        #expect(result.message.contains("default has no holder"), "\(result.message)")
        #expect(result.message.contains("node1 banned from the group by the operator"), "\(result.message)")
        #expect(await runtime.localReport.holdings.isEmpty)
        let export = await runtime.exportConfiguration(includeSecrets: false)
        #expect(export.yaml.contains("banned_nodes:"), "\(export.yaml)")
        let unknown = await #expect(throws: SFHAError.self) { try await runtime.ban(group: "default", node: "node9") }
        #expect(unknown?.code == .notFound)

        _ = try await runtime.clearBans(group: nil)
        try await waitUntil { await runtime.localReport.running.contains(ResourceGroup.defaultName) }
    }

    private func waitUntil(_ condition: @Sendable () async -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("condition not met within 10 s")
    }
}
