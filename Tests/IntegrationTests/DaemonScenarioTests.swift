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
    @Suite struct DaemonScenarios {
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
