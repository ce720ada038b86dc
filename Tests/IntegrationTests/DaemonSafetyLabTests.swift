import Foundation
import SFHABase
import SFHACore
import SFHALab
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The safety promise under faults that a single isolation does not show: a flapping link, CPU load, a hung or
/// resumed daemon, a graceful stop. Every scenario runs with the watcher and the prober and asserts zero samples
/// with two holders, zero announcement overlaps and zero VIPs held without quorum.
extension LabTests {
    @Suite(.timeLimit(.minutes(20))) struct DaemonSafety {
        /// The holder's link is cut for `period`, back for a moment, cut again, for a minute, with two CPU-bound
        /// processes running on this 2-core machine (timing bugs showed only under load). Before the fix every period
        /// put the VIP on two nodes (a cut-off holder's corosync kept saying quorate while the others had formed a
        /// ring without it).
        @Test(arguments: [1, 2, 5])
        func flappingHolderLinkUnderLoad(periodSeconds: Int) async throws {
            try await CPULoad.with(processes: 2) {
                try await DaemonLab.with("lt-flap\(periodSeconds)") { lab in
                    try await lab.flapHolderLink(period: .seconds(periodSeconds), for: .seconds(60))
                }
            }
        }

        /// Faults of the daemon itself and of what it reads, on one lab: a daemon stopped and resumed, messages
        /// forged by another process in the group, a process joining and leaving the group, 20 % packet loss,
        /// hostile configuration files on reload.
        @Test func daemonFaultsAndHostileInput() async throws {
            try await DaemonLab.with("lt-hostile") { lab in
                try await lab.resumedDaemonDoesNotTakeTheGroupBack()
                try await lab.anotherProcessInTheGroupChangesNothing()
                try await lab.forgedMessagesChangeNothing()
                try await lab.hostileConfigurationFilesOnReload()
                try await lab.packetLossKeepsEveryDaemonRunning()
            }
        }

        /// A two-node cluster (`two_node: 1`, both halves of a partition quorate): sfha says placement cannot be safe
        /// against a partition without fencing (status, config check), refuses a change made on one half (before: a
        /// `vip add` on each side was acknowledged by both and the heal dropped one), and after the heal the holder
        /// announces its VIP again so that clients reach it (before: a client stayed cut off for 6 s and more).
        @Test func twoNodeCluster() async throws {
            try await LabTestSupport.withLab("lt-2node", nodes: 2) { lab in
                let cluster = try LabDaemonCluster(lab: lab)
                let watcher = try await LabWatcher.start(lab: lab, vips: [cluster.vip])
                defer { watcher.stop() }
                try await cluster.start()
                let nodes = lab.nodes.map(\.name)
                try #require(await watcher.waitForSingleHolder(of: cluster.vip.name, timeout: .seconds(30)) != nil)
                let prober = try await LabHTTPProber.start(lab: lab, url: cluster.serviceURL)
                let status = try #require(try await cluster.status(on: nodes[0]))
                let statusText = try await cluster.sfha(nodes[0], ["status"]).standardOutput
                #expect(statusText.contains("two-node cluster without fencing"), "sfha status says it: \(statusText)")
                let check = try await cluster.sfha(nodes[0], ["config", "check"])
                #expect(check.standardError.contains("two-node cluster without fencing"), "\(check.standardError)")

                try await lab.partition([[nodes[0]], [nodes[1]]])
                let split = await watcher.waitForQuorum(of: nodes, members: 1, timeout: .seconds(30))
                try #require(split, "each node alone in its ring: \(watcher.members)")
                for (index, node) in nodes.enumerated() {
                    let address = try lab.spec.resolvedSubnet().address(host: UInt8(110 + index))
                    let added = try await cluster.sfha(node, ["vip", "add", "vip-half-\(index)", "\(address)/24", "eth0"])
                    #expect(!added.succeeded, "vip add on \(node) alone is refused")
                    #expect((added.standardError + added.standardOutput).contains("two-node"), "and says why: \(added.standardError)")
                }
                try await lab.heal()
                let healed = await watcher.waitForQuorum(of: nodes, members: 2, timeout: .seconds(30))
                try #require(healed, "both nodes together again")
                let holder = try #require(
                    await watcher.waitForSingleHolder(of: cluster.vip.name, stable: .seconds(1), timeout: .seconds(30)),
                    "one holder after the heal")
                let settledAt = LabClock.now()
                for node in nodes {
                    #expect(try await cluster.status(on: node)?.configurationRevision == status.configurationRevision, "nothing committed on \(node)")
                }
                let answered = await prober.waitForAnswer(from: holder, after: settledAt, timeout: .seconds(4))
                #expect(answered != nil, "the client reaches \(holder) after the heal: \(prober.report(since: settledAt))")
                await prober.stop()
            }
        }

        /// SIGTERM the holder's sfhad 20 times: it exits cleanly every time, its service stops there, another node
        /// takes over at once, and the VIP is never on two nodes.
        @Test func gracefulStopOfTheHolderTwentyTimes() async throws {
            try await DaemonLab.with("lt-sigterm") { lab in
                try await lab.stopTheHolderGracefully(times: 20)
            }
        }
    }
}

extension DaemonLab {
    /// How long a flapping link comes back between two cuts.
    static let flapReconnection: Duration = .milliseconds(200)

    /// Isolates whichever node holds the VIP (or held it last), plugs it back in after `period` for
    /// `flapReconnection`, and again, for `duration`; then heals everything and checks that the cluster settles with
    /// the VIP never on two nodes.
    func flapHolderLink(period: Duration, for duration: Duration) async throws {
        let scenario = "flapping holder link, period \(period)"
        var target = try await settle()
        let start = LabClock.now()
        let clock = ContinuousClock()
        let end = clock.now + duration
        var cycles = 0
        while clock.now < end {
            if let current = watcher.latest?.holders(of: vip).first { target = current }
            try await lab.isolate(target)
            try await Task.sleep(for: period)
            try await lab.rejoin(target)
            try await Task.sleep(for: Self.flapReconnection)
            cycles += 1
        }
        try await lab.heal()
        let holder = try await settle(timeout: .seconds(60))
        print("[\(scenario)] \(cycles) cycles, settled on \(holder)")
        expectSafety(scenario, since: start)
    }
}

extension DaemonLab {
    /// `kill -STOP` the holder's sfhad for 12 s, then `kill -CONT`: the others take over meanwhile; the resumed
    /// daemon's reports written before the stop count for nothing, and the group stays where it went.
    func resumedDaemonDoesNotTakeTheGroupBack() async throws {
        let scenario = "holder's sfhad stopped 12 s and resumed"
        let holder = try await settle()
        let pid = try #require(try cluster.sfhadPID(on: holder))
        let start = LabClock.now()
        #expect(kill(pid, SIGSTOP) == 0)
        let stoppedAt = ContinuousClock.now
        let newHolder = try await takeover(from: holder, scenario: scenario, since: start)
        try await Task.sleep(until: stoppedAt + .seconds(12))
        #expect(kill(pid, SIGCONT) == 0)
        let resumed = LabClock.now()
        // Give the resumed daemon time to send what it had queued and to catch up.
        let movedBack = await watcher.waitForSample(timeout: .seconds(8)) { $0.holders(of: vip).contains(holder) }
        #expect(movedBack == nil, "[\(scenario)] the VIP stayed on \(newHolder): \(watcher.report(since: resumed))")
        // Resumed after 12 s without a beat, its stall watchdog ends it so that it restarts clean (systemd would
        // restart it; the lab's stand-in does not).
        if try cluster.sfhadPID(on: holder) != pid {
            let log = try await lab.exec(holder, ["tail", "-n", "20", "/var/log/corosync/sfhad.log"])
            #expect(log.standardOutput.contains("has not run for"), "[\(scenario)] it was its stall watchdog: \(log.standardOutput)")
            try await cluster.startDaemon(on: holder)
        }
        let final = try await settle()
        #expect(final == newHolder, "[\(scenario)] the group stays on \(newHolder)")
        expectSafety(scenario, since: start)
    }

    /// Another process joins and leaves the sfha group on the holder's node, again and again: it is not a daemon,
    /// nothing happens (before: the holder dropped its VIP on every leave).
    func anotherProcessInTheGroupChangesNothing() async throws {
        let scenario = "another process joins and leaves the group on the holder's node"
        let holder = try await settle()
        let start = LabClock.now()
        for _ in 0..<10 {
            _ = try await lab.exec(
                holder, [Lab.builtProduct("sfha-lab"), "probe", "cpg", "--group", DaemonRuntime.processGroupName, "--receive", "1"],
                timeout: .seconds(10))
        }
        let report = watcher.report(since: start)
        #expect(report.vipChanges.filter { $0.vip == vip }.isEmpty, "[\(scenario)] the VIP never moved: \(report.vipChanges)")
        let client = prober.report(since: start)
        #expect(client.answeredBy == [holder], "[\(scenario)] only \(holder) answered: \(client)")
        expectSafety(scenario, since: start)
    }

    /// A process in the sfha group forges messages: a document with revision 2^64−1, a report naming another node,
    /// a claim of the group, an invented node, proposals config.yml would refuse. Every daemon keeps running with
    /// the same document, and the VIP stays where it is.
    func forgedMessagesChangeNothing() async throws {
        let scenario = "forged messages from another process in the group"
        let holder = try await settle()
        let other = nodeNames.first { $0 != holder }!
        let pids = try nodeNames.map { try cluster.sfhadPID(on: $0) }
        let before = try #require(try await status(on: other))
        let document = try forgedDocumentBase(on: other, revision: before.configurationRevision)
        var maximal = document
        maximal.revision = .max
        var invalid = document.configuration
        invalid.groups[0].vips[0].interface = "../../etc"
        var negative = document.configuration
        negative.takeoverDelay = .milliseconds(-5)
        let otherID = try nodeID(other)
        let holderID = try nodeID(holder)
        let forged: [ClusterMessage] = [
            .document(maximal),
            .report(NodeStateReport(
                report: NodeReport(name: holder, nodeID: holderID), configurationRevision: document.revision,
                configurationHash: document.contentHash, sequence: 1 << 40)),
            .report(NodeStateReport(
                report: NodeReport(name: other, nodeID: otherID, holdings: [ResourceGroup.defaultName]),
                configurationRevision: document.revision, configurationHash: document.contentHash, sequence: 1 << 40)),
            .report(NodeStateReport(
                report: NodeReport(name: "ghost", nodeID: 99, holdings: [ResourceGroup.defaultName]),
                configurationRevision: document.revision, configurationHash: document.contentHash, sequence: 1 << 40)),
            .proposal(ConfigurationProposal(id: "forged-1", proposer: other, baseRevision: document.revision, configuration: invalid)),
            .proposal(ConfigurationProposal(id: "forged-2", proposer: other, baseRevision: document.revision, configuration: negative)),
        ]
        let payloads = try forged.map { String(decoding: try $0.encoded(), as: UTF8.self) } + ["{not json", String(repeating: "x", count: 2000)]
        let start = LabClock.now()
        var arguments = [Lab.builtProduct("sfha-lab"), "probe", "cpg", "--group", DaemonRuntime.processGroupName, "--receive", "\(payloads.count)"]
        for payload in payloads { arguments += ["--payload", payload] }
        let sent = try await lab.exec(other, arguments, timeout: .seconds(20))
        #expect(sent.succeeded, "[\(scenario)] the forging process ran: \(sent.standardError)")
        // Every daemon has seen them (it delivers in the same order as the forger, which has seen its own).
        let heartbeat = LabClock.now()
        _ = await watcher.waitForSample(timeout: .seconds(3)) { $0.time > heartbeat + 2_000_000_000 }
        #expect(try nodeNames.map { try cluster.sfhadPID(on: $0) } == pids, "[\(scenario)] no daemon crashed")
        for node in nodeNames {
            let after = try await status(on: node)
            #expect(after?.configurationRevision == before.configurationRevision, "[\(scenario)] \(node) kept revision \(before.configurationRevision)")
            #expect(after?.nodes.contains { $0.name == "ghost" } == false, "[\(scenario)] no ghost node on \(node)")
        }
        let report = watcher.report(since: start)
        #expect(report.vipChanges.filter { $0.vip == vip }.isEmpty, "[\(scenario)] the VIP never moved: \(report.vipChanges)")
        // The next real change commits normally (a forged maximal revision would have made it overflow).
        try await sfhaSucceeds(other, ["maintenance", "on"])
        try await sfhaSucceeds(other, ["maintenance", "off"])
        expectSafety(scenario, since: start)
    }

    /// The cluster document as a node started it (from its config.yml), at `revision` (the forger builds on it).
    private func forgedDocumentBase(on node: String, revision: UInt64) throws -> ClusterDocument {
        let configuration = try SFHAConfiguration.parse(yaml: cluster.configuration(for: node)).cluster
        return ClusterDocument(revision: revision, configuration: configuration)
    }

    /// config.yml replaced by a FIFO, a symlink to /dev/zero and a 10 MB invalid file, each followed by SIGHUP: each
    /// reload is refused and nothing else happens (before: the stall watchdog fired, or a lease expired).
    func hostileConfigurationFilesOnReload() async throws {
        let scenario = "hostile config.yml on reload"
        let holder = try await settle()
        let pid = try #require(try cluster.sfhadPID(on: holder))
        let directory = try #require(try lab.node(holder).stateDirectory)
        let path = "\(directory)/etc-sfha/config.yml"
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        let start = LabClock.now()
        defer { try? original.write(to: URL(fileURLWithPath: path)) }
        let replacements: [(String, () throws -> Void)] = [
            ("a FIFO", {
                try? FileManager.default.removeItem(atPath: path)
                #expect(mkfifo(path, 0o644) == 0)
            }),
            ("a symlink to /dev/zero", {
                try? FileManager.default.removeItem(atPath: path)
                try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/zero")
            }),
            ("a 10 MB invalid file", {
                try? FileManager.default.removeItem(atPath: path)
                try Data(repeating: UInt8(ascii: "x"), count: 10 << 20).write(to: URL(fileURLWithPath: path))
            }),
        ]
        func refusals() async throws -> Int {
            let logs = try await cluster.sfha(holder, ["logs", "-n", "200"])
            return logs.standardOutput.components(separatedBy: "reload refused").count - 1
        }
        for (what, replace) in replacements {
            let before = try await refusals()
            try replace()
            #expect(kill(pid, SIGHUP) == 0)
            let refused = try await LabTestSupport.eventually(timeout: .seconds(10)) { try await refusals() > before }
            #expect(refused, "[\(scenario)] \(what): the reload was refused and logged")
            #expect(try cluster.sfhadPID(on: holder) == pid, "[\(scenario)] \(what): sfhad kept running")
        }
        try? FileManager.default.removeItem(atPath: path)
        try original.write(to: URL(fileURLWithPath: path))
        let report = watcher.report(since: start)
        #expect(report.vipChanges.filter { $0.vip == vip }.isEmpty, "[\(scenario)] the VIP never moved: \(report.vipChanges)")
        expectSafety(scenario, since: start)
    }

    /// 20 % of the holder's packets lost for half a minute while the cluster stays quorate: every daemon keeps
    /// running (before: the holder's stall watchdog ended it, the VIP was on no node for 10.9 s).
    func packetLossKeepsEveryDaemonRunning() async throws {
        let scenario = "20 % packet loss on the holder"
        let holder = try await settle()
        let pids = try nodeNames.map { try cluster.sfhadPID(on: $0) }
        let start = LabClock.now()
        try await lab.netem(holder, delayMs: 0, lossPercent: 20)
        try await Task.sleep(for: .seconds(30))
        try await lab.clearNetem(holder)
        let after = try nodeNames.map { try cluster.sfhadPID(on: $0) }
        #expect(after == pids, "[\(scenario)] no daemon exited")
        if after != pids { printLogs(lastLines: 60) }
        let logs = try await cluster.sfha(holder, ["logs", "-n", "200"])
        #expect(!logs.standardOutput.contains("has not run for"), "[\(scenario)] the stall watchdog never fired")
        try await settle(timeout: .seconds(60))
        let client = prober.report(since: start)
        print("[\(scenario)] client: \(client)")
        expectSafety(scenario, since: start)
    }

    /// SIGTERM (systemctl stop) of the holder's sfhad, `times` times: a clean exit, its unit stopped there, a
    /// takeover elsewhere at once, never two holders.
    func stopTheHolderGracefully(times: Int) async throws {
        let scenario = "SIGTERM of the holder's sfhad"
        let start = LabClock.now()
        var takeovers: [Double] = []
        for round in 1...times {
            let holder = try await settle()
            let stopped = LabClock.now()
            try await lab.check(holder, ["systemctl", "stop", "sfhad"])
            let newHolder = try #require(
                await watcher.waitForSingleHolder(of: vip, among: Set(nodeNames.filter { $0 != holder }), timeout: .seconds(15)),
                "[\(scenario) \(round)] another node takes over")
            if let up = watcher.report(since: stopped).appeared(vip, on: newHolder, after: stopped) {
                takeovers.append(LabClock.milliseconds(from: stopped, to: up))
            }
            let unit = try await lab.exec(holder, ["systemctl", "is-active", cluster.settings.serviceUnit])
            #expect(LabTestSupport.trimmed(unit.standardOutput) != "active", "[\(scenario) \(round)] the unit stopped on \(holder)")
            let log = try await lab.exec(holder, ["tail", "-n", "5", "/var/log/corosync/sfhad.log"])
            #expect(log.standardOutput.contains("sfhad stopped"), "[\(scenario) \(round)] a clean exit: \(log.standardOutput)")
            #expect(!log.standardOutput.contains("exiting so that it is restarted"), "[\(scenario) \(round)] not the stall watchdog")
            // The handover told the others before leaving: nobody waited for its VIP lease to run out.
            let newLog = try await lab.exec(newHolder, ["tail", "-n", "30", "/var/log/corosync/sfhad.log"])
            #expect(
                !newLog.standardOutput.contains("before taking over from \(holder)"),
                "[\(scenario) \(round)] \(newHolder) took over at once: \(newLog.standardOutput)")
            try await cluster.startDaemon(on: holder)
        }
        print("[\(scenario)] \(times) stops, VIP up elsewhere after (ms): \(takeovers.sorted().map { String(format: "%.0f", $0) })")
        expectSafety(scenario, since: start)
    }
}

/// CPU-bound processes on this machine for the duration of a test (`sha256sum /dev/zero`: pure computation, no
/// shell), killed afterwards whatever happens.
enum CPULoad {
    static func with<T>(processes count: Int, _ body: () async throws -> T) async throws -> T {
        var pids: [pid_t] = []
        for _ in 0..<count {
            var pid: pid_t = 0
            let path = SystemProgramRunner.resolve("sha256sum") ?? "/usr/bin/sha256sum"
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), strdup("/dev/zero"), nil]
            defer { for pointer in argv { free(pointer) } }
            var actions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            defer { posix_spawn_file_actions_destroy(&actions) }
            let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
            try #require(rc == 0, "started a CPU-bound process (\(path) /dev/zero): \(String(cString: strerror(rc)))")
            pids.append(pid)
        }
        defer {
            for pid in pids {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
            }
        }
        return try await body()
    }
}
