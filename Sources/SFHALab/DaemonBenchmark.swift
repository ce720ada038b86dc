import Foundation
import SFHABase

#if canImport(Glibc)
import Glibc
#endif

/// Measures sfhad on a 3-node lab, with the watcher and the client prober running, from this process on one
/// monotonic clock (`LabClock`):
///
/// - per `cluster.failover_delay_ms` value, over `trials` isolations of the holder's node: the client-observed
///   failover (last answer before → first answer from the new holder), corosync's detection in the same trial
///   (isolation → membership change on the new holder), the holder's quorum-loss event → its VIP gone, the new
///   holder's membership event → VIP up there, and the watcher's safety counts;
/// - `sfha status` latency, through `lab.exec` (process start included) and as a bare request on sfhad's socket;
/// - sfhad's resident memory and CPU use at rest.
///
/// Figures only: nothing here passes or fails.
public struct DaemonBenchmark: Sendable {
    public struct Figure: Sendable, Codable, Equatable {
        public var samples: Int
        public var p50Milliseconds: Double
        public var p99Milliseconds: Double
        public var minimumMilliseconds: Double
        public var maximumMilliseconds: Double

        /// Nearest-rank percentiles (`LatencySummary`) of `values` in milliseconds (may be negative: two processes
        /// reacting to one event can finish in either order); NaN when there is no value.
        public init(_ values: [Double]) {
            let summary = LatencySummary(values.map { Duration.nanoseconds(Int64(($0 * 1_000_000).rounded())) })
            func milliseconds(_ duration: Duration) -> Double { summary.samples == 0 ? .nan : duration.milliseconds }
            samples = summary.samples
            p50Milliseconds = milliseconds(summary.p50)
            p99Milliseconds = milliseconds(summary.p99)
            minimumMilliseconds = milliseconds(summary.min)
            maximumMilliseconds = milliseconds(summary.max)
        }
    }

    /// The trials of one `failover_delay_ms` value.
    public struct FailoverRun: Sendable, Codable {
        /// nil: sfhad's default.
        public var failoverDelayMilliseconds: Int?
        public var trials: Int
        /// Trials in which no node took over within the timeout.
        public var failedTrials: Int
        public var clientFailover: Figure
        public var detection: Figure
        public var quorumLossToRelease: Figure
        public var membershipEventToVIPUp: Figure
        /// VIP up on the new holder minus VIP gone from the isolated one: the safety margin (negative = overlap).
        public var handoverGap: Figure
        /// The isolated holder's own quorum loss minus the new holder's membership event: how far apart the two
        /// sides notice the partition (shown because sfha's safety must not depend on it; Docs/Daemon.md).
        public var sidesSkew: Figure
        public var samples: Int
        public var dualHolderSamples: Int
        public var heldWithoutQuorumSamples: Int
        public var announcementOverlaps: Int
    }

    /// Isolations of a node that holds nothing: what the client sees of it (the holder's ring breaks too).
    public struct BystanderRun: Sendable, Codable {
        public var trials: Int
        /// The longest time between two answers, from the isolation until the survivors answer again.
        public var clientOutage: Figure
        /// The longest time between two answers, from the node's return until the lab is whole and answering.
        public var rejoinOutage: Figure
        /// Trials in which the VIP left the holder.
        public var moves: Int
        public var dualHolderSamples: Int
    }

    public struct Result: Sendable, Codable {
        public var nodes: Int
        public var runs: [FailoverRun]
        public var bystander: BystanderRun?
        public var statusThroughExec: Figure
        public var statusProcess: Figure
        public var statusOnSocket: Figure
        /// Node → sfhad's VmRSS in kB.
        public var residentKilobytes: [String: Int]
        /// Node → sfhad's CPU use at rest, percent of one core.
        public var idleCPUPercent: [String: Double]
        /// Node → corosync's CPU use over the same stretch (sfhad's messages and readings cost it too).
        public var corosyncIdleCPUPercent: [String: Double]
        public var idleSeconds: Int
    }

    public var trials: Int
    /// `cluster.failover_delay_ms` values to try, in order (nil: sfhad's default).
    public var failoverDelays: [Int?]
    public var idleSeconds: Int
    public var statusSamples: Int
    /// Progress lines (e.g. print); the figures come back in `Result`.
    public var progress: @Sendable (String) -> Void

    public init(
        trials: Int = 10, failoverDelays: [Int?] = [nil], idleSeconds: Int = 10, statusSamples: Int = 50,
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.trials = trials
        self.failoverDelays = failoverDelays
        self.idleSeconds = idleSeconds
        self.statusSamples = statusSamples
        self.progress = progress
    }

    /// Runs everything on `lab` (its nodes must be up and quorate; sfhad is (re)started here).
    public func run(on lab: Lab) async throws -> Result {
        var cluster = try LabDaemonCluster(lab: lab)
        let watcher = try await LabWatcher.start(lab: lab, vips: [cluster.vip])
        defer { watcher.stop() }
        var prober: LabHTTPProber?
        var runs: [FailoverRun] = []
        do {
            for delay in failoverDelays {
                try await cluster.stop()
                cluster = try LabDaemonCluster(lab: lab, settings: .init(failoverDelayMilliseconds: delay))
                try await cluster.start()
                try await settle(cluster, watcher)
                if prober == nil { prober = try await LabHTTPProber.start(lab: lab, url: cluster.serviceURL) }
                runs.append(try await failoverTrials(cluster, watcher, prober!, delay: delay))
            }
            try await settle(cluster, watcher)
            let bystander = try await bystanderTrials(cluster, watcher, prober!)
            try await settle(cluster, watcher)
            let (throughExec, process, onSocket) = try await statusLatency(cluster)
            await prober?.stop()
            prober = nil
            let (resident, cpu, corosyncCPU) = try await restingUsage(cluster)
            return Result(
                nodes: lab.nodes.count, runs: runs, bystander: bystander, statusThroughExec: throughExec, statusProcess: process,
                statusOnSocket: onSocket, residentKilobytes: resident, idleCPUPercent: cpu, corosyncIdleCPUPercent: corosyncCPU,
                idleSeconds: idleSeconds)
        } catch {
            await prober?.stop()
            throw error
        }
    }

    /// Waits until the lab is whole: all nodes quorate with all members, every daemon alive, the VIP on one node
    /// for a second.
    private func settle(_ cluster: LabDaemonCluster, _ watcher: LabWatcher) async throws {
        let nodes = cluster.lab.nodes.map(\.name)
        guard await watcher.waitForQuorum(of: nodes, members: nodes.count, timeout: .seconds(60)) else {
            throw SFHAError(.timeout, "the lab did not become whole again: quorum \(watcher.quorum)")
        }
        guard try await cluster.waitUntilSettled(asSeenFrom: nodes[0], timeout: .seconds(60)) != nil,
            await watcher.waitForSingleHolder(of: cluster.vip.name, stable: .seconds(1), timeout: .seconds(30)) != nil
        else {
            throw SFHAError(.timeout, "sfhad did not settle: \(String(describing: try? await cluster.status(on: nodes[0])))")
        }
    }

    /// The client-measured figures count from the last answer before a fault: there must be one.
    private func waitForClient(_ prober: LabHTTPProber, answeredBy holder: String, before trial: String) async throws {
        guard await prober.waitForAnswer(from: holder, after: LabClock.now(), timeout: .seconds(10)) != nil else {
            throw SFHAError(.timeout, "the client got no answer from \(holder) within 10 s before \(trial); is the demo service up there?")
        }
    }

    private func failoverTrials(
        _ cluster: LabDaemonCluster, _ watcher: LabWatcher, _ prober: LabHTTPProber, delay: Int?
    ) async throws -> FailoverRun {
        let lab = cluster.lab
        let vip = cluster.vip.name
        let label = delay.map { "failover_delay_ms \($0)" } ?? "default failover_delay_ms"
        let runStart = LabClock.now()
        var client: [Double] = []
        var detection: [Double] = []
        var release: [Double] = []
        var acquire: [Double] = []
        var gap: [Double] = []
        var skew: [Double] = []
        var failed = 0
        for trial in 1...trials {
            guard let holder = await watcher.waitForSingleHolder(of: vip, timeout: .seconds(10)) else {
                throw SFHAError(.invalidState, "no single holder before trial \(trial)")
            }
            let holderID = UInt32(try lab.node(holder).nodeID)
            let survivors = Set(lab.nodes.map(\.name)).subtracting([holder])
            try await waitForClient(prober, answeredBy: holder, before: "trial \(trial)")
            let start = LabClock.now()
            try await lab.isolate(holder)
            let newHolder = await watcher.waitForSingleHolder(of: vip, among: survivors, timeout: .seconds(30))
            let answered = newHolder == nil ? nil : await prober.waitForAnswer(from: newHolder!, after: start, timeout: .seconds(10))
            let report = watcher.report(since: start)
            let clientReport = prober.report(since: start)
            var line = "\(label), trial \(trial)/\(trials): isolated \(holder)"
            if let newHolder, let answered {
                if let last = clientReport.lastAnswer(before: start) {
                    client.append(LabClock.milliseconds(from: last.time, to: answered))
                }
                let seen = report.membershipLost(holderID, seenBy: newHolder, after: start)
                if let seen { detection.append(LabClock.milliseconds(from: start, to: seen)) }
                if let lost = report.quorumLost(on: holder, after: start), let gone = report.disappeared(vip, from: holder, after: start) {
                    release.append(LabClock.milliseconds(from: lost, to: gone))
                }
                if let seen, let up = report.appeared(vip, on: newHolder, after: start) {
                    acquire.append(LabClock.milliseconds(from: seen, to: up))
                }
                if let up = report.appeared(vip, on: newHolder, after: start), let gone = report.disappeared(vip, from: holder, after: start) {
                    gap.append(LabClock.milliseconds(from: gone, to: up))
                }
                if let seen, let lost = report.quorumLost(on: holder, after: start) {
                    skew.append(LabClock.milliseconds(from: seen, to: lost))
                }
                line += String(
                    format: ", %@ answering after %.0f ms (detection %.0f ms)", newHolder, client.last ?? .nan,
                    detection.last ?? .nan)
            } else {
                failed += 1
                line += ": no takeover within 30 s (\(report))"
            }
            progress(line)
            try await lab.rejoin(holder)
            try await settle(cluster, watcher)
        }
        let report = watcher.report(since: runStart)
        return FailoverRun(
            failoverDelayMilliseconds: delay, trials: trials, failedTrials: failed, clientFailover: Figure(client),
            detection: Figure(detection), quorumLossToRelease: Figure(release), membershipEventToVIPUp: Figure(acquire),
            handoverGap: Figure(gap), sidesSkew: Figure(skew),
            samples: report.samples.count, dualHolderSamples: report.dualHolderSamples.count,
            heldWithoutQuorumSamples: report.heldWithoutQuorum.count, announcementOverlaps: report.eventOverlaps.count)
    }

    /// Isolates a node that holds nothing, `trials` times: the client's longest gap until the lab is whole again.
    private func bystanderTrials(_ cluster: LabDaemonCluster, _ watcher: LabWatcher, _ prober: LabHTTPProber) async throws
        -> BystanderRun
    {
        let lab = cluster.lab
        let vip = cluster.vip.name
        let runStart = LabClock.now()
        var outages: [Double] = []
        var rejoinOutages: [Double] = []
        var moves = 0
        for trial in 1...trials {
            guard let holder = await watcher.waitForSingleHolder(of: vip, timeout: .seconds(10)),
                let bystander = lab.nodes.map(\.name).first(where: { $0 != holder })
            else { throw SFHAError(.invalidState, "no single holder before bystander trial \(trial)") }
            try await waitForClient(prober, answeredBy: holder, before: "bystander trial \(trial)")
            let start = LabClock.now()
            try await lab.isolate(bystander)
            let bystanderID = UInt32(try lab.node(bystander).nodeID)
            // Until the survivors have formed their ring without it and the client has been answered since.
            _ = await watcher.waitForSample(timeout: .seconds(30)) { _ in
                watcher.report(since: start).membershipLost(bystanderID, seenBy: holder, after: start) != nil
            }
            _ = await prober.waitForAnswer(from: holder, after: LabClock.now() + 3_000_000_000, timeout: .seconds(15))
            let client = prober.report(since: start)
            let outage = client.longestGap?.milliseconds ?? .nan
            outages.append(outage)
            if watcher.report(since: start).disappeared(vip, from: holder, after: start) != nil { moves += 1 }
            let rejoined = LabClock.now()
            try await lab.rejoin(bystander)
            try await settle(cluster, watcher)
            let settledHolder = watcher.latest?.holders(of: vip).first ?? holder
            _ = await prober.waitForAnswer(from: settledHolder, after: LabClock.now() + 1_000_000_000, timeout: .seconds(15))
            let rejoinOutage = prober.report(since: rejoined).longestGap?.milliseconds ?? .nan
            rejoinOutages.append(rejoinOutage)
            progress(
                String(
                    format: "bystander trial %d/%d: isolated %@ (not holding), client's longest gap %.0f ms; after its return %.0f ms",
                    trial, trials, bystander, outage, rejoinOutage))
        }
        return BystanderRun(
            trials: trials, clientOutage: Figure(outages), rejoinOutage: Figure(rejoinOutages), moves: moves,
            dualHolderSamples: watcher.report(since: runStart).dualHolderSamples.count)
    }

    /// `sfha status` on node1 three ways: run through `lab.exec` (nsenter, env, the fd-closing script, the CLI),
    /// the CLI process alone (started from this process with `--socket` reaching node1's sfhad), and the bare
    /// request the CLI makes (GET /v1/status on sfhad's socket) from this process.
    private func statusLatency(_ cluster: LabDaemonCluster) async throws -> (Figure, Figure, Figure) {
        let node = cluster.lab.nodes[0].name
        var throughExec: [Double] = []
        var process: [Double] = []
        var onSocket: [Double] = []
        let runner = SystemProgramRunner()
        guard let socket = try cluster.controlSocketPath(on: node) else {
            throw SFHAError(.notFound, "sfhad is not running on \(node)")
        }
        for index in 0..<(statusSamples + 3) {
            let start = LabClock.now()
            let result = try await cluster.sfha(node, ["status"])
            let end = LabClock.now()
            guard result.succeeded else {
                throw SFHAError(.commandFailed, "sfha status on \(node) failed: \(result.standardError)")
            }
            let processStart = LabClock.now()
            let direct = try await runner.run(Lab.builtProduct("sfha"), ["status", "--socket", socket], timeout: .seconds(10))
            let processEnd = LabClock.now()
            guard direct.succeeded else {
                throw SFHAError(.commandFailed, "sfha status --socket \(socket) failed: \(direct.standardError)")
            }
            let socketStart = LabClock.now()
            let answer = try LabHTTPClient.get(unixSocket: socket, path: "/v1/status", timeout: .seconds(5))
            let socketEnd = LabClock.now()
            guard answer.status == 200 else { throw SFHAError(.io, "GET /v1/status answered \(answer.status)") }
            // The first few warm up page cache and connections; they are not counted.
            guard index >= 3 else { continue }
            throughExec.append(LabClock.milliseconds(from: start, to: end))
            process.append(LabClock.milliseconds(from: processStart, to: processEnd))
            onSocket.append(LabClock.milliseconds(from: socketStart, to: socketEnd))
        }
        return (Figure(throughExec), Figure(process), Figure(onSocket))
    }

    /// VmRSS of every node's sfhad, and its and corosync's CPU time (utime + stime) over `idleSeconds` with nothing
    /// happening.
    private func restingUsage(_ cluster: LabDaemonCluster) async throws -> ([String: Int], [String: Double], [String: Double]) {
        var pids: [String: Int32] = [:]
        var corosyncPIDs: [String: Int32] = [:]
        for node in cluster.lab.nodes {
            guard let pid = try cluster.sfhadPID(on: node.name) else {
                throw SFHAError(.notFound, "sfhad is not running on \(node.name)")
            }
            pids[node.name] = pid
            if let corosync = try cluster.lab.corosyncPID(on: node.name) { corosyncPIDs[node.name] = corosync }
        }
        progress("measuring sfhad and corosync at rest for \(idleSeconds) s")
        let before = pids.mapValues(Self.cpuTicks)
        let corosyncBefore = corosyncPIDs.mapValues(Self.cpuTicks)
        let start = LabClock.now()
        try await Task.sleep(for: .seconds(idleSeconds))
        let after = pids.mapValues(Self.cpuTicks)
        let corosyncAfter = corosyncPIDs.mapValues(Self.cpuTicks)
        let seconds = LabClock.milliseconds(from: start, to: LabClock.now()) / 1000
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        func percent(_ before: [String: UInt64?], _ after: [String: UInt64?]) -> [String: Double] {
            var cpu: [String: Double] = [:]
            for (node, ticks) in after {
                guard let ticks, let earlier = before[node] ?? nil else { continue }
                cpu[node] = Double(ticks - earlier) / ticksPerSecond / seconds * 100
            }
            return cpu
        }
        return (pids.compactMapValues(Self.residentKilobytes), percent(before, after), percent(corosyncBefore, corosyncAfter))
    }

    /// utime + stime (clock ticks) from /proc/PID/stat; the fields after the parenthesised command name.
    static func cpuTicks(_ pid: Int32) -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is the state (field 3 of stat); utime and stime are fields 14 and 15.
        guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return nil }
        return user + system
    }

    /// VmRSS (kB) from /proc/PID/status.
    static func residentKilobytes(_ pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap { Int($0) }
        }
        return nil
    }
}
