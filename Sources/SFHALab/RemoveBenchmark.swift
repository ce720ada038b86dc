import Foundation
import SFHABase
import SFHACore

/// `sfha-lab bench remove`: a cluster built by init and joins, the founder holding the VIP with a client probing it;
/// then members are removed one after the other from another member (offline ones, and online ones with `--force`),
/// while every remaining node is polled until it is updated: its membership record, its WireGuard peers and
/// corosync's runtime nodelist all without the node. Figures only.
public struct RemoveBenchmark: Sendable {
    /// One removal as measured.
    public struct Removal: Sendable, Encodable {
        public var node: String
        /// "offline" (stopped first) or "online --force" (told to leave by the removal).
        public var kind: String
        /// `sfha node remove` start → every remaining node updated (record, WireGuard, runtime nodelist).
        public var allUpdatedMilliseconds: Int
        /// The same, from the moment the target had left corosync's membership (as the removal's own steps say;
        /// the command start for an offline node).
        public var afterLeftMilliseconds: Int
        /// The command's own duration (it ends after its runtime nodelist check).
        public var commandMilliseconds: Int
        public var clientFailedProbes: Int
        public var clientLongestGapMilliseconds: Int
    }

    public struct Result: Sendable, Encodable {
        public var removals: [Removal]
        public var afterLeftP50Milliseconds: Int
        public var afterLeftMaxMilliseconds: Int
        public var allUpdatedP50Milliseconds: Int
        public var allUpdatedMaxMilliseconds: Int
        /// corosync processes on remaining nodes whose PID changed (target 0).
        public var corosyncRestarts: Int
        public var clientFailedProbes: Int
        public var dualHolderSamples: Int
        public var heldWithoutQuorumSamples: Int

        public init(_ rounds: [Round]) {
            removals = rounds.flatMap(\.removals)
            func p50(_ values: [Int]) -> Int { Int(LatencySummary(values.map { Duration.milliseconds($0) }).p50.milliseconds.rounded()) }
            afterLeftP50Milliseconds = p50(removals.map(\.afterLeftMilliseconds))
            afterLeftMaxMilliseconds = removals.map(\.afterLeftMilliseconds).max() ?? 0
            allUpdatedP50Milliseconds = p50(removals.map(\.allUpdatedMilliseconds))
            allUpdatedMaxMilliseconds = removals.map(\.allUpdatedMilliseconds).max() ?? 0
            corosyncRestarts = rounds.map(\.corosyncRestarts).reduce(0, +)
            clientFailedProbes = removals.map(\.clientFailedProbes).reduce(0, +)
            dualHolderSamples = rounds.map(\.dualHolderSamples).reduce(0, +)
            heldWithoutQuorumSamples = rounds.map(\.heldWithoutQuorumSamples).reduce(0, +)
        }
    }

    public struct Round: Sendable {
        public var removals: [Removal]
        public var corosyncRestarts: Int
        public var dualHolderSamples: Int
        public var heldWithoutQuorumSamples: Int
    }

    /// How long a node may take to show a removal before the benchmark gives up on it.
    static let updateDeadline: Duration = .seconds(30)

    let progress: @Sendable (String) -> Void

    public init(progress: @escaping @Sendable (String) -> Void) { self.progress = progress }

    /// On a bare lab of at least 3 nodes: node1 founds and holds the VIP, node2 runs every removal, and the last
    /// nodes are removed down to two members (the first removal of an offline node, the next of an online one, …).
    public func run(on lab: Lab) async throws(SFHAError) -> Round {
        guard lab.nodes.count >= 3 else { throw SFHAError(.invalidArgument, "bench remove needs at least 3 nodes") }
        let cluster = try LabDaemonCluster(lab: lab)
        let watcher = try await LabWatcher.start(lab: lab, vips: [cluster.vip])
        defer { watcher.stop() }
        _ = try await cluster.formByJoining()
        let founder = lab.nodes[0].name
        let coordinator = lab.nodes[1].name
        // The founder holds the VIP (a join may rarely have moved it: `bench join` measures that, not this).
        try await waitForCluster(cluster, lab.nodes.map(\.name))
        if let holder = await watcher.waitForSingleHolder(of: cluster.vip.name, stable: .seconds(1), timeout: .seconds(30)), holder != founder {
            progress("the VIP is on \(holder) after the joins: moved back to \(founder)")
            _ = try await cluster.sfha(founder, ["failover", "--to", founder, "--yes"])
        }
        guard await watcher.waitForSingleHolder(of: cluster.vip.name, among: [founder], stable: .seconds(1), timeout: .seconds(60)) != nil else {
            throw SFHAError(.timeout, "\(founder) did not take the VIP: \(watcher.report())")
        }
        let prober = try await LabHTTPProber.start(lab: lab, url: cluster.serviceURL)
        guard await prober.waitForAnswer(from: founder, after: LabClock.now(), timeout: .seconds(15)) != nil else {
            await prober.stop()
            throw SFHAError(.timeout, "the client got no answer through the VIP: \(prober.report())")
        }
        var remaining = lab.nodes.map(\.name)
        var pids: [String: Int32] = [:]
        for node in remaining { pids[node] = try lab.corosyncPID(on: node) }
        let start = LabClock.now()
        var removals: [Removal] = []
        do {
            for (index, target) in lab.nodes.map(\.name).dropFirst(2).reversed().enumerated() {
                let online = index % 2 == 1
                try await waitForCluster(cluster, remaining)
                remaining.removeAll { $0 == target }
                if !online {
                    try await lab.check(target, ["systemctl", "stop", "sfhad"])
                    try await lab.check(target, ["systemctl", "stop", "corosync"])
                    try await waitUntilOffline(cluster, target, seenFrom: coordinator)
                }
                let removal = try await remove(target, online: online, from: coordinator, remaining: remaining, lab: lab, prober: prober)
                progress("\(target) (\(removal.kind)): every remaining node updated \(removal.afterLeftMilliseconds) ms after it left (\(removal.allUpdatedMilliseconds) ms after the command); client failed probes \(removal.clientFailedProbes)")
                removals.append(removal)
            }
        } catch {
            await prober.stop()
            throw error
        }
        await prober.stop()
        var restarts = 0
        for node in remaining where try lab.corosyncPID(on: node) != pids[node] { restarts += 1 }
        let safety = watcher.report(since: start)
        return Round(
            removals: removals, corosyncRestarts: restarts, dualHolderSamples: safety.dualHolderSamples.count,
            heldWithoutQuorumSamples: safety.heldWithoutQuorum.count)
    }

    private func remove(
        _ target: String, online: Bool, from coordinator: String, remaining: [String], lab: Lab, prober: LabHTTPProber
    ) async throws(SFHAError) -> Removal {
        let before = try await Self.record(lab, on: coordinator)
        guard let key = before.member(named: target)?.publicKey.base64 else { throw SFHAError(.notFound, "\(target) is not a member") }
        let clock = ContinuousClock()
        let began = clock.now
        let since = LabClock.now()
        // Every remaining node polled at once, while the command runs.
        async let updated = Self.waitUntilUpdated(lab, remaining, without: target, key: key, since: began)
        let command = try await lab.exec(
            coordinator, ["sfha", "node", "remove", target, "--yes", "--json"] + (online ? ["--force"] : []), timeout: .seconds(120))
        let commandTime = clock.now - began
        var times: [String: Duration] = [:]
        for (node, time) in await updated {
            guard let time else { throw SFHAError(.timeout, "\(node) still showed \(target) \(Self.updateDeadline) after the command started") }
            times[node] = time
        }
        guard command.succeeded else { throw SFHAError(.commandFailed, "sfha node remove \(target) on \(coordinator) failed: \(command.standardError)") }
        let answer: NodeRemoveAnswer
        do {
            answer = try JSONDecoder().decode(NodeRemoveAnswer.self, from: Data(command.standardOutput.utf8))
        } catch {
            throw SFHAError(.invalidState, "sfha node remove printed no answer: \(command.standardOutput)")
        }
        guard answer.warnings.isEmpty else { throw SFHAError(.invalidState, "the removal of \(target) warned: \(answer.warnings)") }
        // The target's departure, from the removal's own steps (they run one after the other until it left).
        var departure = 0
        if let left = answer.steps.firstIndex(where: { $0.node == target && $0.step.hasPrefix("left corosync's membership") }) {
            departure = answer.steps[...left].map(\.milliseconds).reduce(0, +)
        }
        let all = Int((times.values.max() ?? .zero).milliseconds.rounded())
        let client = prober.report(since: since)
        return Removal(
            node: target, kind: online ? "online --force" : "offline", allUpdatedMilliseconds: all,
            afterLeftMilliseconds: max(0, all - departure), commandMilliseconds: Int(commandTime.milliseconds.rounded()),
            clientFailedProbes: client.failures,
            clientLongestGapMilliseconds: client.failures == 0 ? 0 : Int((client.longestGap?.milliseconds ?? 0).rounded()))
    }

    static func record(_ lab: Lab, on node: String) async throws(SFHAError) -> MembershipRecord {
        let text = try await lab.check(node, ["cat", "/var/lib/sfha/membership.json"]).standardOutput
        do {
            return try JSONDecoder().decode(MembershipDocument.self, from: Data(text.utf8)).record
        } catch {
            throw SFHAError(.invalidState, "\(node)'s membership.json does not decode: \(error)")
        }
    }

    /// Each node's time (since `start`) at which its record, WireGuard peers and corosync runtime nodelist are all
    /// without `target`.
    static func waitUntilUpdated(
        _ lab: Lab, _ nodes: [String], without target: String, key: String, since start: ContinuousClock.Instant
    ) async -> [String: Duration?] {
        await withTaskGroup(of: (String, Duration?).self) { group in
            for node in nodes {
                group.addTask {
                    let deadline = start + updateDeadline
                    while ContinuousClock.now < deadline {
                        if (try? await updated(lab, node, without: target, key: key)) == true { return (node, ContinuousClock.now - start) }
                        try? await Task.sleep(for: .milliseconds(10))
                    }
                    return (node, nil)
                }
            }
            var times: [String: Duration?] = [:]
            for await (node, time) in group { times[node] = time }
            return times
        }
    }

    static func updated(_ lab: Lab, _ node: String, without target: String, key: String) async throws(SFHAError) -> Bool {
        let peers = try await lab.check(node, ["wg", "show", "wg-sfha", "peers"]).standardOutput
        guard !peers.contains(key) else { return false }
        let nodelist = try await lab.check(node, ["corosync-cmapctl", "-b", "nodelist.node"]).standardOutput
        guard !nodelist.split(separator: "\n").contains(where: { $0.hasSuffix("= \(target)") }) else { return false }
        return try await record(lab, on: node).member(named: target) == nil
    }

    private func waitForCluster(_ cluster: LabDaemonCluster, _ nodes: [String]) async throws(SFHAError) {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            var settled = true
            for node in nodes {
                guard let status = try await cluster.status(on: node), status.quorate,
                    Set(status.nodes.filter { $0.member && $0.daemonAlive }.map(\.name)) == Set(nodes)
                else {
                    settled = false
                    break
                }
            }
            if settled { return }
            try? await Task.sleep(for: .milliseconds(200))
        }
        throw SFHAError(.timeout, "the cluster of \(nodes.joined(separator: ", ")) did not settle")
    }

    private func waitUntilOffline(_ cluster: LabDaemonCluster, _ target: String, seenFrom node: String) async throws(SFHAError) {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let status = try await cluster.status(on: node), status.nodes.first(where: { $0.name == target })?.member == false { return }
            try? await Task.sleep(for: .milliseconds(200))
        }
        throw SFHAError(.timeout, "\(node) still saw \(target) online")
    }
}
