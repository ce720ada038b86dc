import Foundation
import SFHABase
import SFHACore
import SFHALab
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Faults on a lab running sfhad, with the watcher (VIP on every node every ~20 ms, each node's quorum from its
/// corosync) and the client prober (HTTP through the VIP every 25 ms) running throughout. Every scenario checks
/// zero samples with two holders, zero overlaps in the kernel's address announcements, zero VIPs held without
/// quorum beyond the release bound, and the expected final placement. One lab serves several scenarios: each one
/// ends with the cluster whole again (`settle`), which is the next one's starting point.
extension LabTests {
    @Suite(.timeLimit(.minutes(10))) struct DaemonScenarios {
        @Test func faultsOnThreeNodes() async throws {
            try await DaemonLab.with("lt-scen3") { lab in
                try await lab.isolateHolderAndRejoin()
                try await lab.killHoldersDaemon()
                try await lab.killHoldersCorosync()
                try await lab.partitionHolderFromTheOthers()
                try await lab.holderReceivesNothing()
                try await lab.twoOfThreeDownAndBack()
                try await lab.standbyAndUnstandby()
            }
        }

        /// The operator commands (failover, vip/service add and remove, maintenance) on a running cluster, and a
        /// configuration change that a node missed while it was down.
        @Test func operatorCommandsOnThreeNodes() async throws {
            let subnet = LabSubnet.derived(fromLabName: "lt-ops")
            let extra = WatchedVIP(name: "vip-extra", address: subnet.address(host: 101))
            let late = WatchedVIP(name: "vip-late", address: subnet.address(host: 102))
            try await DaemonLab.with("lt-ops", alsoWatching: [extra, late]) { lab in
                let corosyncPIDs = try lab.nodeNames.map { try lab.lab.corosyncPID(on: $0) }
                try await lab.failoverToAnotherNode()
                try await lab.addAndRemoveVIP(extra)
                try await lab.maintenanceHoldsAStandbyBack()
                try await lab.addAndRemoveService()
                let after = try lab.nodeNames.map { try lab.lab.corosyncPID(on: $0) }
                #expect(after == corosyncPIDs, "corosync was never restarted by vip/service/standby/maintenance operations")
                try await lab.configurationChangeWhileANodeIsDown(late)
            }
        }

        @Test func faultsOnFiveNodes() async throws {
            try await DaemonLab.with("lt-scen5", nodes: 5) { lab in
                try await lab.isolateHolderAndRejoin()
                try await lab.splitThreeTwoWithTheHolderInTheMinority()
            }
        }
    }
}

extension DaemonLab {
    /// The holder's cable is pulled: it loses quorum and releases, another node takes over after detection and
    /// the takeover delay; plugged back in, it rejoins without taking the VIP back (stickiness).
    func isolateHolderAndRejoin() async throws {
        let scenario = "isolate holder (\(nodeNames.count) nodes)"
        let holder = try await settle()
        let start = LabClock.now()
        try await lab.isolate(holder)
        let newHolder = try await takeover(from: holder, scenario: scenario, since: start)
        try await lab.rejoin(holder)
        let final = try await settle()
        #expect(final == newHolder, "[\(scenario)] \(holder) rejoined without taking the VIP back from \(newHolder)")
        expectSafety(scenario, since: start)
    }

    /// sfhad on the holder is killed (-9): its VIP lease runs out and another node takes over after the lease
    /// window; the restarted daemon does not take the VIP back.
    func killHoldersDaemon() async throws {
        let scenario = "kill -9 sfhad on the holder"
        let holder = try await settle()
        let pid = try #require(try cluster.sfhadPID(on: holder), "sfhad runs on \(holder)")
        let start = LabClock.now()
        #expect(kill(pid, SIGKILL) == 0)
        let newHolder = try await takeover(from: holder, scenario: scenario, since: start)
        try await cluster.startDaemon(on: holder)
        let final = try await settle()
        #expect(final == newHolder, "[\(scenario)] the restarted daemon on \(holder) left the VIP on \(newHolder)")
        expectSafety(scenario, since: start)
    }

    /// corosync on the holder is killed (-9): the holder's sfhad loses corosync (no quorum) and releases at once;
    /// the others see the holder leave and take over. corosync restarted, the node rejoins without the VIP.
    func killHoldersCorosync() async throws {
        let scenario = "kill -9 corosync on the holder"
        let holder = try await settle()
        let start = LabClock.now()
        let killed = try await lab.kill(holder, process: "corosync", signal: SIGKILL)
        try #require(!killed.isEmpty, "corosync ran on \(holder)")
        let newHolder = try await takeover(from: holder, scenario: scenario, since: start)
        try await lab.startCorosync(holder)
        let final = try await settle()
        #expect(final == newHolder, "[\(scenario)] \(holder) came back without taking the VIP from \(newHolder)")
        expectSafety(scenario, since: start)
    }

    /// {holder} | {others}: the client still reaches both sides. The holder's side has no quorum and releases;
    /// the majority takes over. Healed, the VIP stays where it is.
    func partitionHolderFromTheOthers() async throws {
        let scenario = "partition {holder} | {others}"
        let holder = try await settle()
        let others = nodeNames.filter { $0 != holder }
        let start = LabClock.now()
        try await lab.partition([[holder], others])
        let newHolder = try await takeover(from: holder, scenario: scenario, since: start)
        try await lab.heal()
        let final = try await settle()
        #expect(final == newHolder, "[\(scenario)] after the heal the VIP stays on \(newHolder)")
        expectSafety(scenario, since: start)
    }

    /// The holder receives nothing but can still send (the original sfha's split-brain test): it loses quorum
    /// and releases; the others take over although they still hear it.
    func holderReceivesNothing() async throws {
        let scenario = "holder drops all incoming traffic"
        let holder = try await settle()
        let start = LabClock.now()
        try await lab.dropIncoming(holder)
        let newHolder = try await takeover(from: holder, scenario: scenario, since: start)
        try await lab.restoreIncoming(holder)
        let final = try await settle()
        #expect(final == newHolder, "[\(scenario)] after restoring traffic the VIP stays on \(newHolder)")
        expectSafety(scenario, since: start)
    }

    /// The two nodes that do not hold the VIP are isolated: nobody has quorum, so the VIP is nowhere (the holder
    /// releases it on its quorum loss). Both back, one node holds it again.
    func twoOfThreeDownAndBack() async throws {
        let scenario = "2 of 3 nodes isolated"
        let holder = try await settle()
        let down = nodeNames.filter { $0 != holder }
        let start = LabClock.now()
        for node in down { try await lab.isolate(node) }
        let released = await waitForNoHolder(stable: .seconds(4), timeout: .seconds(20))
        #expect(released, "[\(scenario)] no node holds the VIP while no node has quorum: \(watcher.report(since: start))")
        let lost = watcher.report(since: start).quorumLost(on: holder, after: start)
        #expect(lost != nil, "[\(scenario)] \(holder) lost quorum")
        for node in down { try await lab.rejoin(node) }
        let final = try await settle()
        #expect(nodeNames.contains(final))
        expectSafety(scenario, since: start)
    }

    /// `sfha standby` on the holder moves the group at once; `sfha unstandby` does not move it back.
    func standbyAndUnstandby() async throws {
        let scenario = "standby / unstandby"
        let holder = try await settle()
        let start = LabClock.now()
        try await sfhaSucceeds(holder, ["standby"])
        let newHolder = try await takeover(from: holder, scenario: scenario, since: start)
        _ = try await settle()
        try await sfhaSucceeds(holder, ["unstandby"])
        let final = try await settle()
        #expect(final == newHolder, "[\(scenario)] unstandby on \(holder) left the VIP on \(newHolder)")
        expectSafety(scenario, since: start)
    }

    /// Five nodes split 3 | 2 with the holder among the two: the minority releases, the majority takes over;
    /// healed, the VIP stays in the former majority.
    func splitThreeTwoWithTheHolderInTheMinority() async throws {
        let scenario = "5 nodes split 3|2, holder in the minority"
        let holder = try await settle()
        let minority = [holder, nodeNames.first { $0 != holder }!]
        let majority = nodeNames.filter { !minority.contains($0) }
        let start = LabClock.now()
        try await lab.partition([minority, majority])
        let newHolder = try await takeover(from: holder, among: Set(majority), scenario: scenario, since: start)
        let minorityLost = minority.allSatisfy { watcher.report(since: start).quorumLost(on: $0, after: start) != nil }
        #expect(minorityLost, "[\(scenario)] both minority nodes lost quorum")
        try await lab.heal()
        let final = try await settle()
        #expect(final == newHolder, "[\(scenario)] after the heal the VIP stays on \(newHolder)")
        expectSafety(scenario, since: start)
    }

    /// Waits until another node (one of `candidates`, default: any but `holder`) holds the VIP and the client is
    /// answered by it; prints the client-observed outage and corosync's detection time. Returns the new holder.
    func takeover(from holder: String, among candidates: Set<String>? = nil, scenario: String, since start: UInt64)
        async throws -> String
    {
        let allowed = candidates ?? Set(nodeNames.filter { $0 != holder })
        let newHolder = try #require(
            await watcher.waitForSingleHolder(of: vip, among: allowed, timeout: .seconds(30)),
            "[\(scenario)] another node takes the VIP over from \(holder): \(watcher.report(since: start))")
        let answered = await prober.waitForAnswer(from: newHolder, after: start, timeout: .seconds(10))
        #expect(answered != nil, "[\(scenario)] the client is answered by \(newHolder): \(prober.report(since: start))")
        let report = watcher.report(since: start)
        let client = prober.report(since: start)
        let detection = report.membershipLost(try nodeID(holder), seenBy: newHolder, after: start)
        let released = report.disappeared(vip, from: holder, after: start)
        let acquired = report.appeared(vip, on: newHolder, after: start)
        func since(_ time: UInt64?) -> String { time.map { String(format: "%.0f ms", LabClock.milliseconds(from: start, to: $0)) } ?? "-" }
        print("[\(scenario)] \(holder) → \(newHolder): detection on \(newHolder) \(since(detection)), VIP gone from \(holder) "
            + "\(since(released)), VIP up on \(newHolder) \(since(acquired)), client outage "
            + (client.longestGap.map { String(format: "%.0f ms", $0.milliseconds) } ?? "-"))
        return newHolder
    }
}

// MARK: - Operator commands (the CLI contract: exit status 0 on success)

extension DaemonLab {
    /// `sfha failover default --to NODE --yes` moves the group there, and it stays.
    func failoverToAnotherNode() async throws {
        let scenario = "sfha failover --to"
        let holder = try await settle()
        let target = nodeNames.first { $0 != holder }!
        let start = LabClock.now()
        let result = try await cluster.sfha(holder, ["failover", "default", "--to", target, "--yes"])
        try #require(
            result.succeeded, "[\(scenario)] sfha failover exits 0 (got \(result.exitCode)): \(result.standardError)")
        // Before: it returned 0.35 s before the target had the group up. Now, when it returns, the VIP is on the
        // target and the service runs there.
        let addresses = NetlinkAddressController(namespace: .named(try lab.node(target).networkNamespace))
        let vipThere = try await addresses.addresses(on: "eth0").contains { "\($0.address)" == cluster.vip.address }
        #expect(vipThere, "[\(scenario)] the VIP is up on \(target) when the command returns")
        let active = try await lab.systemctl(target, ["is-active", cluster.settings.serviceUnit])
        #expect(active.exitCode == 0, "[\(scenario)] the service runs on \(target) when the command returns")
        let moved = await watcher.waitForSingleHolder(of: vip, among: [target], timeout: .seconds(15))
        #expect(moved == target, "[\(scenario)] the VIP moved to \(target): \(watcher.report(since: start))")
        let final = try await settle()
        #expect(final == target, "[\(scenario)] the group stays on \(target)")
        // Asked again: nothing moves, and it says so.
        let again = try await cluster.sfha(holder, ["failover", "default", "--to", target, "--yes"])
        #expect(again.succeeded && again.standardOutput.contains("already on \(target)"), "[\(scenario)] \(again.standardOutput)")
        expectSafety(scenario, since: start)
    }

    /// `sfha vip add` puts a new VIP on the group's holder, on the node where the command runs no matter which;
    /// `sfha vip remove` takes it away. The existing VIP and the service behind it are untouched meanwhile.
    func addAndRemoveVIP(_ extra: WatchedVIP) async throws {
        let scenario = "sfha vip add / remove"
        let holder = try await settle()
        let elsewhere = nodeNames.first { $0 != holder }!
        let start = LabClock.now()
        try await sfhaSucceeds(elsewhere, ["vip", "add", extra.name, "\(extra.address)/24", "eth0"])
        let added = await watcher.waitForSingleHolder(of: extra.name, timeout: .seconds(15))
        #expect(added == holder, "[\(scenario)] \(extra.name) is applied by the holder \(holder)")
        var revisions: [String: UInt64] = [:]
        let replicated = try await LabTestSupport.eventually(timeout: .seconds(10)) {
            for node in nodeNames { revisions[node] = try await status(on: node)?.configurationRevision }
            return Set(revisions.values).count == 1 && revisions.count == nodeNames.count
        }
        #expect(replicated, "[\(scenario)] every node has the same configuration revision: \(revisions)")
        try await sfhaSucceeds(elsewhere, ["vip", "remove", extra.name, "--yes"])
        let removed = await watcher.waitForSample(timeout: .seconds(15)) { $0.holders(of: extra.name).isEmpty }
        #expect(removed != nil, "[\(scenario)] \(extra.name) is gone from every node")
        let report = watcher.report(since: start)
        let webChanges = report.vipChanges.filter { $0.vip == vip }
        #expect(webChanges.isEmpty, "[\(scenario)] \(vip) stayed on \(holder) throughout: \(webChanges)")
        #expect(prober.report(since: start).answeredBy == [holder], "[\(scenario)] the client was answered by \(holder) only")
        expectSafety(scenario, since: start)
    }

    /// In maintenance nothing moves: a standby of the holder takes effect only when maintenance ends.
    func maintenanceHoldsAStandbyBack() async throws {
        let scenario = "sfha maintenance on|off"
        let holder = try await settle()
        let start = LabClock.now()
        try await sfhaSucceeds(holder, ["maintenance", "on"])
        let everywhere = try await LabTestSupport.eventually(timeout: .seconds(10)) {
            var all = true
            for node in nodeNames where try await status(on: node)?.maintenance != true { all = false }
            return all
        }
        #expect(everywhere, "[\(scenario)] every node reports maintenance")
        try await sfhaSucceeds(holder, ["standby"])
        let movedDuringMaintenance = await watcher.waitForSample(timeout: .seconds(5)) { $0.holders(of: vip) != [holder] }
        #expect(movedDuringMaintenance == nil, "[\(scenario)] the VIP stays on \(holder) during maintenance")
        try await sfhaSucceeds(holder, ["maintenance", "off"])
        let newHolder = try await takeover(from: holder, scenario: scenario, since: start)
        try await sfhaSucceeds(holder, ["unstandby"])
        let final = try await settle()
        #expect(final == newHolder, "[\(scenario)] the group stays on \(newHolder) after unstandby")
        expectSafety(scenario, since: start)
    }

    /// `sfha service add` starts a new service on the group's holder only; `sfha service remove` takes it out of
    /// the configuration.
    func addAndRemoveService() async throws {
        let scenario = "sfha service add / remove"
        let unit = "sfha-demo-extra"
        for node in nodeNames {
            try lab.installUnit(on: node, name: unit, contents: "Type=simple\nExecStart=/usr/bin/python3 -m http.server 8081 --directory /etc/sfha\nKillSignal=TERM\n")
        }
        let holder = try await settle()
        let start = LabClock.now()
        try await sfhaSucceeds(holder, ["service", "add", "extra", unit])
        let started = try await LabTestSupport.eventually(timeout: .seconds(15)) {
            try await lab.exec(holder, ["systemctl", "is-active", unit]).succeeded
        }
        #expect(started, "[\(scenario)] \(unit) runs on the holder \(holder)")
        for node in nodeNames where node != holder {
            #expect(try await !lab.exec(node, ["systemctl", "is-active", unit]).succeeded, "[\(scenario)] \(unit) is not running on \(node)")
        }
        try await sfhaSucceeds(holder, ["service", "remove", "extra", "--yes"])
        let forgotten = try await LabTestSupport.eventually(timeout: .seconds(10)) {
            var gone = true
            for node in nodeNames {
                let services = try await status(on: node)?.groups.flatMap(\.services) ?? [unit]
                if services.contains(where: { $0.hasPrefix(unit) }) { gone = false }
            }
            return gone
        }
        #expect(forgotten, "[\(scenario)] no node's status lists \(unit) any more")
        let stopped = try await LabTestSupport.eventually(timeout: .seconds(5)) {
            try await !lab.exec(holder, ["systemctl", "is-active", unit]).succeeded
        }
        #expect(stopped, "[\(scenario)] the holder \(holder) stopped \(unit) once it was removed")
        #expect(try await settle() == holder, "[\(scenario)] the group did not move")
        expectSafety(scenario, since: start)
    }

    /// A node is down (corosync and sfhad stopped) while a VIP is added; when it returns, its daemon catches up:
    /// same configuration revision as the others, and the VIP is still on the holder only.
    func configurationChangeWhileANodeIsDown(_ late: WatchedVIP) async throws {
        let scenario = "config change while a node is down"
        let holder = try await settle()
        let down = nodeNames.first { $0 != holder }!
        let start = LabClock.now()
        try await lab.check(down, ["systemctl", "stop", "sfhad"])
        try await lab.stopCorosync(down)
        let quorate = await watcher.waitForQuorum(of: nodeNames.filter { $0 != down }, members: nodeNames.count - 1, timeout: .seconds(20))
        #expect(quorate, "[\(scenario)] the others stay quorate without \(down)")
        try await sfhaSucceeds(holder, ["vip", "add", late.name, "\(late.address)/24", "eth0"])
        let added = await watcher.waitForSingleHolder(of: late.name, timeout: .seconds(15))
        #expect(added == holder, "[\(scenario)] \(late.name) is on the holder \(holder)")
        try await lab.startCorosync(down)
        try await cluster.startDaemon(on: down)
        _ = try await settle()
        var revisions: [String: UInt64] = [:]
        let caughtUp = try await LabTestSupport.eventually(timeout: .seconds(20)) {
            for node in nodeNames { revisions[node] = try await status(on: node)?.configurationRevision }
            return Set(revisions.values).count == 1 && revisions.count == nodeNames.count
        }
        #expect(caughtUp, "[\(scenario)] \(down) caught up: revisions \(revisions)")
        let downsVIPs = try await status(on: down)?.groups.flatMap(\.vips) ?? []
        #expect(downsVIPs.contains { $0.hasPrefix("\(late.address)/") }, "[\(scenario)] \(down) knows \(late.name): \(downsVIPs)")
        #expect(watcher.latest?.holders(of: late.name) == [holder], "[\(scenario)] \(late.name) stays on \(holder) only")
        expectSafety(scenario, since: start)
    }
}
