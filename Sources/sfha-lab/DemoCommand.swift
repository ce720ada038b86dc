import ArgumentParser
import CorosyncKit
import Foundation
import SFHABase
import SFHALab

/// The README's main job: a real 3-node sfha cluster on this machine, built the way an operator builds one
/// (`sfha init` on the first node, `sfha token` / `sfha join` on the others) — sfhad on every node, a VIP and the
/// demo web service — with the holder's node isolated and rejoined, measured from a client and checked by the watcher.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "3-node cluster built by sfha init/token/join, a VIP and a web service: isolate the holder, measure failover, rejoin, tear down.")

    @Option(name: .long, help: "Lab name for the demo.") var name = "demo"
    @Option(name: .long, help: "Corosync token timeout in milliseconds.") var token = 1000
    @Flag(name: .long, help: "Leave the lab running at the end (tear down later with 'sfha-lab down --name demo').")
    var keep = false

    func run() async throws {
        step("Tearing down any earlier '\(name)' lab")
        _ = try await Lab.down(name)

        step("Bringing up 3 bare hosts (network + mount namespaces; no cluster yet)")
        let started = ContinuousClock.now
        let lab = try await Lab.up(LabSpec(name: name, nodeCount: 3, bare: true))
        for node in lab.nodes { print("  \(node.name)  \(node.address)  netns \(node.networkNamespace)") }

        var prober: LabHTTPProber?
        do {
            prober = try await demonstrate(lab, started: started)
        } catch {
            await prober?.stop()
            if !keep { _ = try? await Lab.down(name) }
            throw error
        }
        if keep {
            step("Lab '\(name)' left running: try 'sfha-lab exec --name \(name) node1 -- sfha status', then 'sfha-lab down --name \(name)'")
        } else {
            await prober?.stop()
            step("Tearing the lab down")
            let report = try await Lab.down(name)
            print("  removed \(report.removed.count) items; nothing of the lab is left on this machine")
        }
    }

    /// The cluster part; returns the running prober (stopped by the caller, or left running with --keep).
    private func demonstrate(_ lab: Lab, started: ContinuousClock.Instant) async throws -> LabHTTPProber {
        let cluster = try LabDaemonCluster(lab: lab)
        // The watcher samples which nodes hold the VIP every 20 ms and follows every node's quorum from its corosync.
        let watcher = try await LabWatcher.start(lab: lab, vips: [cluster.vip])
        defer { watcher.stop() }
        step("Building the cluster: config.yml (VIP \(cluster.vip.address)/24 + service 'web') on each node, 'sfha init' on node1 "
            + "(mesh, corosync with a \(token) ms token, sfhad), then 'sfha token' + 'sfha join' for node2 and node3")
        let joins = try await cluster.formByJoining(tokenMilliseconds: token) { print("  \($0)") }
        for join in joins {
            print("  \(join.node): redeem \(join.phase("redeem").map { "\($0) ms" } ?? "?"), quorate member with sfhad in the group after "
                + "\(join.milliseconds) ms")
        }
        guard let holder = await watcher.waitForSingleHolder(of: cluster.vip.name, timeout: .seconds(30)),
            try await cluster.waitUntilSettled(asSeenFrom: "node1") != nil
        else {
            throw SFHAError(.timeout, "sfhad did not place the VIP on one node: \(watcher.report())")
        }
        print(String(format: "  cluster of 3 formed %.2f s after the hosts were created", (ContinuousClock.now - started).milliseconds / 1000))
        print("  \(holder) holds the VIP")

        step("Cluster status from node2 (sfha status, run inside node2)")
        show(try await cluster.sfha("node2", ["status"]).standardOutput)

        step("A client (the lab's client host) GETs \(cluster.serviceURL) every 25 ms")
        let prober = try await LabHTTPProber.start(lab: lab, url: cluster.serviceURL)
        guard await prober.waitForAnswer(from: holder, after: LabClock.now(), timeout: .seconds(10)) != nil else {
            throw SFHAError(.timeout, "the client got no answer from \(holder): \(prober.report())")
        }
        try await Task.sleep(for: .seconds(1))
        print("  answered by \(prober.report(since: LabClock.now() - 1_000_000_000).answeredBy.joined(separator: ", "))")

        step("Isolating \(holder) (its cable is pulled: the veth on the bridge goes down)")
        let isolatedAt = LabClock.now()
        try await lab.isolate(holder)
        let survivors = Set(lab.nodes.map(\.name)).subtracting([holder])
        guard let newHolder = await watcher.waitForSingleHolder(of: cluster.vip.name, among: survivors, timeout: .seconds(30)),
            let answered = await prober.waitForAnswer(from: newHolder, after: isolatedAt, timeout: .seconds(10))
        else {
            throw SFHAError(.timeout, "no node took over: \(watcher.report(since: isolatedAt))")
        }
        let failover = watcher.report(since: isolatedAt)
        let client = prober.report(since: isolatedAt)
        func after(_ time: UInt64?) -> String {
            time.map { String(format: "%.2f s", LabClock.milliseconds(from: isolatedAt, to: $0) / 1000) } ?? "—"
        }
        let holderID = UInt32(try lab.node(holder).nodeID)
        print("  \(holder) lost quorum after \(after(failover.quorumLost(on: holder, after: isolatedAt)))"
            + " and dropped the VIP after \(after(failover.disappeared(cluster.vip.name, from: holder, after: isolatedAt)))")
        print("  \(newHolder) saw \(holder) leave after \(after(failover.membershipLost(holderID, seenBy: newHolder, after: isolatedAt)))"
            + " (corosync's detection) and brought the VIP up after \(after(failover.appeared(cluster.vip.name, on: newHolder, after: isolatedAt)))"
            + " (+ the ring's fence and the duplicate-address probe)")
        if let last = client.lastAnswer(before: isolatedAt) {
            print(String(
                format: "  client-measured failover: %.2f s without an answer (last from %@, next from %@)",
                LabClock.milliseconds(from: last.time, to: answered) / 1000, last.answer ?? "?", newHolder))
        }

        step("Status from \(newHolder) while \(holder) is isolated")
        show(try await cluster.sfha(newHolder, ["status"]).standardOutput)

        step("Rejoining \(holder)")
        let rejoinedAt = LabClock.now()
        try await lab.rejoin(holder)
        let nodes = lab.nodes.map(\.name)
        guard await watcher.waitForQuorum(of: nodes, members: nodes.count, timeout: .seconds(30)),
            try await cluster.waitUntilSettled(asSeenFrom: holder) != nil
        else {
            throw SFHAError(.timeout, "\(holder) did not rejoin: quorum \(watcher.quorum)")
        }
        try await Task.sleep(for: .seconds(2))
        let rejoin = watcher.report(since: rejoinedAt)
        print(String(format: "  all 3 nodes quorate again after %.2f s; the VIP stays on %@",
            LabClock.milliseconds(from: rejoinedAt, to: LabClock.now()) / 1000,
            rejoin.finalHolders(of: cluster.vip.name).joined(separator: ", ")))
        let whole = watcher.report()
        print("  watcher over the whole demo: \(whole.samples.count) samples, \(whole.dualHolderSamples.count) with the VIP "
            + "on two nodes, \(whole.heldWithoutQuorum.count) with the VIP on a node without quorum")
        show(try await cluster.sfha(holder, ["status"]).standardOutput)
        return prober
    }

    private func step(_ text: String) { print("\n==> \(text)") }

    private func show(_ text: String) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty { print("    \(line)") }
    }

}
