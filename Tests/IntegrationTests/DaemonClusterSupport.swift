import Foundation
import SFHABase
import SFHACore
import SFHALab
import Testing

/// A lab running sfhad (one VIP + the demo web service) with the watcher and the client prober running
/// throughout: what every daemon lab test works with.
struct DaemonLab {
    let cluster: LabDaemonCluster
    let watcher: LabWatcher
    let prober: LabHTTPProber

    var lab: Lab { cluster.lab }
    var vip: String { cluster.vip.name }
    var nodeNames: [String] { lab.nodes.map(\.name) }

    /// Builds a lab of `nodes` nodes, starts sfhad everywhere, waits until one node holds the VIP and every
    /// daemon is alive, starts the watcher (following the configured VIP and `alsoWatching`) and the prober, runs
    /// `body`, and always tears down.
    static func with(
        _ name: String, nodes: Int = 3, settings: LabDaemonCluster.Settings = .init(), alsoWatching: [WatchedVIP] = [],
        _ body: (DaemonLab) async throws -> Void
    ) async throws {
        try await LabTestSupport.withLab(name, nodes: nodes) { lab in
            let cluster = try LabDaemonCluster(lab: lab, settings: settings)
            let watcher = try await LabWatcher.start(lab: lab, vips: [cluster.vip] + alsoWatching)
            defer { watcher.stop() }
            try await cluster.start()
            let holder = await watcher.waitForSingleHolder(of: cluster.vip.name, timeout: .seconds(30))
            try #require(holder != nil, "one node holds the VIP once sfhad runs everywhere: \(watcher.report())")
            let prober = try await LabHTTPProber.start(lab: lab, url: cluster.serviceURL)
            let daemonLab = DaemonLab(cluster: cluster, watcher: watcher, prober: prober)
            do {
                try await daemonLab.settle()
                try await body(daemonLab)
            } catch {
                await prober.stop()
                throw error
            }
            await prober.stop()
            if ProcessInfo.processInfo.environment["SFHA_LAB_LOGS"] != nil { daemonLab.printLogs() }
            let whole = watcher.report()
            print("[\(name)] whole run: \(whole)")
            #expect(whole.dualHolderSamples.isEmpty && whole.heldWithoutQuorum.isEmpty, "\(whole)")
        }
    }

    /// Every node's sfhad log, or its last lines (debugging aid: `SFHA_LAB_LOGS=1 swift test …`, and printed when a
    /// daemon ended unexpectedly).
    func printLogs(lastLines: Int? = nil) {
        for node in lab.nodes {
            guard let directory = node.stateDirectory else { continue }
            var text = (try? String(contentsOfFile: "\(directory)/var-log-corosync/sfhad.log", encoding: .utf8)) ?? "(no log)"
            if let lastLines { text = text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lastLines).joined(separator: "\n") }
            print("==== sfhad on \(node.name)\n\(text)")
        }
    }

    /// The node holding the VIP now (exactly one), per the watcher.
    func holder() async throws -> String {
        let found = await watcher.waitForSingleHolder(of: vip, timeout: .seconds(5))
        return try #require(found, "the VIP is on exactly one node: \(String(describing: watcher.latest?.holders))")
    }

    /// Waits until every node is quorate with all nodes as members, the VIP sits on one node for a second, every
    /// daemon is alive and agrees (as seen from `sfha status --json` on another node) and the client is answered
    /// by the holder. Returns the holder.
    @discardableResult
    func settle(timeout: Duration = .seconds(40)) async throws -> String {
        let quorate = await watcher.waitForQuorum(of: nodeNames, members: nodeNames.count, timeout: timeout)
        try #require(quorate, "all nodes quorate with \(nodeNames.count) members: \(watcher.quorum) \(watcher.members)")
        // The group may still move after the VIP looked stable for a second (a flapping link under load): the
        // holder is looked at again on every round until the daemons agree with what the kernel shows.
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var holder: String?
        var last: DaemonStatus?
        var agreed = false
        while !agreed, clock.now < deadline {
            holder = await watcher.waitForSingleHolder(of: vip, stable: .seconds(1), timeout: deadline - clock.now)
            guard let candidate = holder else { break }
            let observer = nodeNames.first { $0 != candidate }!
            agreed = try await LabTestSupport.eventually(timeout: min(.seconds(5), max(.zero, deadline - clock.now))) {
                last = try await status(on: observer)
                guard let status = last else { return false }
                return status.quorate && status.nodes.count == nodeNames.count && status.nodes.allSatisfy(\.daemonAlive)
                    && status.groups.allSatisfy { $0.holder == candidate }
                    && watcher.latest?.holders(of: vip) == [candidate]
            }
        }
        if holder == nil { printLogs(lastLines: 80) }
        let settled = try #require(holder, "the VIP settles on one node: \(String(describing: watcher.latest?.holders))")
        try #require(agreed, "every daemon alive and agreeing that \(settled) holds the group: \(String(describing: last))")
        let holderName = settled
        let answered = await prober.waitForAnswer(from: holderName, after: LabClock.now(), timeout: .seconds(10))
        try #require(answered != nil, "the client is answered by \(holderName): \(prober.report(since: LabClock.now() - 2_000_000_000))")
        return holderName
    }

    func status(on node: String) async throws -> DaemonStatus? { try await cluster.status(on: node) }

    /// Runs the sfha CLI on `node` and expects exit status 0.
    @discardableResult
    func sfhaSucceeds(_ node: String, _ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws
        -> ProgramResult
    {
        let result = try await cluster.sfha(node, arguments)
        #expect(
            result.succeeded,
            "sfha \(arguments.joined(separator: " ")) on \(node) exits 0; got \(result.exitCode): \(result.standardError)\(result.standardOutput)",
            sourceLocation: sourceLocation)
        return result
    }

    func nodeID(_ node: String) throws -> UInt32 { UInt32(try lab.node(node).nodeID) }

    /// Checks what every scenario promises over its stretch of time: never two holders (sampled, and in the
    /// kernel's announcements), never a VIP on a node without quorum beyond the release bound. Prints the
    /// scenario's figures.
    func expectSafety(_ scenario: String, since start: UInt64, sourceLocation: SourceLocation = #_sourceLocation) {
        let report = watcher.report(since: start)
        let client = prober.report(since: start)
        print("[\(scenario)] watcher: \(report)")
        print("[\(scenario)] client: \(client)")
        #expect(report.samples.count > 0, "[\(scenario)] the watcher sampled", sourceLocation: sourceLocation)
        #expect(report.dualHolderSamples.isEmpty, "[\(scenario)] no sample with two holders: \(report)", sourceLocation: sourceLocation)
        #expect(report.eventOverlaps.isEmpty, "[\(scenario)] no overlap in the announcements: \(report)", sourceLocation: sourceLocation)
        #expect(report.heldWithoutQuorum.isEmpty, "[\(scenario)] no VIP held without quorum: \(report)", sourceLocation: sourceLocation)
    }

    /// Waits until no node holds the VIP and none does for `stable`; true when that happened within `timeout`.
    func waitForNoHolder(stable: Duration, timeout: Duration) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            guard await watcher.waitForSample(timeout: deadline - clock.now, until: { $0.holders(of: vip).isEmpty }) != nil
            else { return false }
            if await watcher.waitForSample(timeout: stable, until: { !$0.holders(of: vip).isEmpty }) == nil { return true }
        }
        return false
    }
}
