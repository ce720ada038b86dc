import Foundation
import SFHABase
import Synchronization

/// `sfha-lab bench join`: on a bare lab, `sfha init` on the first node, then each other node joins in turn while the
/// founder holds the VIP and the client prober and the watcher run throughout. Figures only.
public struct JoinBenchmark: Sendable {
    /// One cluster's joins.
    public struct Round: Sendable {
        public var reports: [LabJoinReport]
        public var clientOutageMilliseconds: [Int]
        public var clientFailedProbes: Int
        /// Times the VIP went from its holder during a join (the watcher's address events and samples).
        public var vipRemovals: Int
        public var dualHolderSamples: Int
        public var heldWithoutQuorumSamples: Int
    }

    public struct Result: Sendable, Encodable {
        public var joins: Int
        public var tokenMilliseconds: Int?
        /// `sfha join` start → a quorate member whose sfhad is in the group (the command's own total).
        public var joinMilliseconds: [Int]
        public var p50Milliseconds: Int
        public var maxMilliseconds: Int
        /// Each phase's mean (phase name → milliseconds), as the joins reported them.
        public var phaseMeanMilliseconds: [String: Int]
        /// The client's longest gap without an answer through the VIP during each join (milliseconds, 0: none).
        public var clientOutageMilliseconds: [Int]
        public var clientFailedProbes: Int
        /// Times the VIP went from its holder during a join (target 0).
        public var vipRemovals: Int
        public var dualHolderSamples: Int
        public var heldWithoutQuorumSamples: Int

        public init(_ rounds: [Round], tokenMilliseconds: Int?) {
            let reports = rounds.flatMap(\.reports)
            let totals = reports.map(\.milliseconds)
            let summary = LatencySummary(totals.map { Duration.milliseconds($0) })
            var phases: [String: Int] = [:]
            for (name, prefix) in JoinBenchmark.phases {
                let values = reports.compactMap { $0.phase(prefix) }
                if !values.isEmpty { phases[name] = values.reduce(0, +) / values.count }
            }
            self.joins = reports.count
            self.tokenMilliseconds = tokenMilliseconds
            self.joinMilliseconds = totals
            self.p50Milliseconds = Int(summary.p50.milliseconds.rounded())
            self.maxMilliseconds = Int(summary.max.milliseconds.rounded())
            self.phaseMeanMilliseconds = phases
            self.clientOutageMilliseconds = rounds.flatMap(\.clientOutageMilliseconds)
            self.clientFailedProbes = rounds.map(\.clientFailedProbes).reduce(0, +)
            self.vipRemovals = rounds.map(\.vipRemovals).reduce(0, +)
            self.dualHolderSamples = rounds.map(\.dualHolderSamples).reduce(0, +)
            self.heldWithoutQuorumSamples = rounds.map(\.heldWithoutQuorumSamples).reduce(0, +)
        }
    }

    /// The phases of a join's report, by the first words of their step text.
    public static let phases = [
        ("mesh up with the token's key", "bring up"), ("redeem (prepare, commit, reload at the issuer)", "redeem"),
        ("switch to the node's own key", "switch"), ("write the files", "write"), ("start corosync", "start corosync"),
        ("start sfhad", "start sfhad"), ("until quorate member, sfhad in the group", "wait until"),
    ]

    let tokenMilliseconds: Int?
    let progress: @Sendable (String) -> Void
    /// Where to keep every node's logs (corosync's and sfhad's) of a join that removed the VIP from its holder or took
    /// longer than `slowJoin`, for diagnosis; nil: nowhere.
    let logsDirectory: String?
    static let slowJoin = 3000

    public init(tokenMilliseconds: Int?, logsDirectory: String? = nil, progress: @escaping @Sendable (String) -> Void) {
        self.tokenMilliseconds = tokenMilliseconds
        self.logsDirectory = logsDirectory
        self.progress = progress
    }

    /// Copies every node's /var/log/corosync/*.log to `directory`, each named `<prefix>-<node>-<file>`.
    func keepLogs(of lab: Lab, prefix: String, in directory: String) async {
        for node in lab.nodes {
            guard let listing = try? await lab.exec(node.name, ["ls", "/var/log/corosync"]), listing.succeeded else { continue }
            for file in listing.standardOutput.split(separator: "\n") where file.hasSuffix(".log") && !file.contains("/") {
                guard let text = try? await lab.exec(node.name, ["cat", "/var/log/corosync/\(file)"]) else { continue }
                try? AtomicFile.write(text.standardOutput, to: "\(directory)/\(prefix)-\(node.name)-\(file)", mode: 0o644)
            }
        }
        progress("logs kept in \(directory)/\(prefix)-*")
    }

    public func run(on lab: Lab) async throws(SFHAError) -> Round {
        let cluster = try LabDaemonCluster(lab: lab)
        let watcher = try await LabWatcher.start(lab: lab, vips: [cluster.vip])
        defer { watcher.stop() }
        // The founder alone first, holding the VIP, with the client probing it.
        try await cluster.found(tokenMilliseconds: tokenMilliseconds)
        guard await watcher.waitForSingleHolder(of: cluster.vip.name, stable: .seconds(1), timeout: .seconds(30)) != nil else {
            throw SFHAError(.timeout, "the founder did not take the VIP: \(watcher.report())")
        }
        let prober = try await LabHTTPProber.start(lab: lab, url: cluster.serviceURL)
        guard await prober.waitForAnswer(from: lab.nodes[0].name, after: LabClock.now(), timeout: .seconds(15)) != nil else {
            await prober.stop()
            throw SFHAError(.timeout, "the client got no answer through the VIP: \(prober.report())")
        }
        let start = LabClock.now()
        var reports: [LabJoinReport] = []
        var outages: [Int] = []
        var removals = 0
        do {
            for (index, node) in lab.nodes.enumerated().dropFirst() {
                // With --logs: both ends' WireGuard state every 50 ms while the join runs (kept with the logs).
                let issuer = lab.nodes[index - 1].name
                let trace = Mutex<[String]>([])
                let tracer = logsDirectory == nil ? nil : Task {
                    while !Task.isCancelled {
                        for end in [issuer, node.name] {
                            // Peers only: the first line holds the interface's private key.
                            let dump = ((try? await lab.exec(end, ["wg", "show", "wg-sfha", "dump"]))?.standardOutput ?? "")
                                .split(separator: "\n").dropFirst().joined(separator: "\n")
                            let stamp = Date().formatted(.iso8601.time(includingFractionalSeconds: true))
                            trace.withLock { $0.append("\(stamp) \(end)\n\(dump)") }
                        }
                        try? await Task.sleep(for: .milliseconds(50))
                    }
                }
                let join = try await cluster.join(node.name, issuer: issuer, observedBy: prober, watcher)
                tracer?.cancel()
                if let logsDirectory, join.vipRemovals > 0 || join.report.milliseconds > Self.slowJoin {
                    try? AtomicFile.write(
                        trace.withLock { $0.joined(separator: "\n") }, to: "\(logsDirectory)/\(lab.name)-\(Int(Date().timeIntervalSince1970))-\(node.name)-wg-trace.txt",
                        mode: 0o644)
                }
                removals += join.vipRemovals
                outages.append(join.clientGapMilliseconds)
                reports.append(join.report)
                progress("\(node.name) joined in \(join.report.milliseconds) ms; client's longest gap \(join.clientGapMilliseconds) ms")
                if let logsDirectory, join.vipRemovals > 0 || join.report.milliseconds > Self.slowJoin {
                    await keepLogs(of: lab, prefix: "\(lab.name)-\(Int(Date().timeIntervalSince1970))-\(node.name)-join", in: logsDirectory)
                }
            }
        } catch {
            await prober.stop()
            throw error
        }
        let client = prober.report(since: start)
        await prober.stop()
        let safety = watcher.report(since: start)
        return Round(
            reports: reports, clientOutageMilliseconds: outages, clientFailedProbes: client.failures, vipRemovals: removals,
            dualHolderSamples: safety.dualHolderSamples.count, heldWithoutQuorumSamples: safety.heldWithoutQuorum.count)
    }
}
