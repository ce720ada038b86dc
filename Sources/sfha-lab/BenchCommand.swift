import ArgumentParser
import CorosyncKit
import Foundation
import SFHABase
import SFHACore
import SFHALab

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks that print figures (never pass/fail).",
        subcommands: [CorosyncBenchCommand.self, VIPBenchCommand.self, DaemonBenchCommand.self, ControlBenchCommand.self, JoinBenchCommand.self, RemoveBenchCommand.self])
}

struct ControlBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "control",
        abstract: "Round trip of a status-sized GET through the control API (ControlClient → ControlServer), as p50/p99.",
        discussion: """
            Runs in this process on a temporary Unix socket: no lab, daemon or root needed. The figure is what the \
            socket, the HTTP subset and JSON add to every sfha command.
            """)

    @Option(name: .long, help: "Calls measured (at least 100).") var calls = 1000
    @Option(name: .long, help: "Nodes in the status answer (sets its size).") var nodes = 12
    @Flag(name: .long, help: "Print JSON.") var json = false

    func validate() throws {
        guard calls >= 100 else { throw ValidationError("--calls must be at least 100") }
        guard (1...LabSpec.maximumNodeCount).contains(nodes) else { throw ValidationError("--nodes must be 1…16") }
    }

    func run() async throws {
        let result = try await ControlBenchmark(calls: calls, nodes: nodes).run()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
            return
        }
        print("control API round trip, GET /v1/status (\(result.answerBytes) B JSON, \(result.nodes) nodes), \(result.calls) calls (microseconds)")
        print("p50 \(Int(result.p50Microseconds))   p99 \(Int(result.p99Microseconds))   "
            + "min \(Int(result.minimumMicroseconds))   max \(Int(result.maximumMicroseconds))"
            + (result.mismatches == 0 ? "" : "   \(result.mismatches) answers did not match"))
    }
}

struct CorosyncBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corosync",
        abstract: "Latency of cmap write → track event and CPG send → delivery, as p50/p99.",
        discussion: """
            Uses the lab named by --name when it exists; otherwise brings up a temporary lab of --nodes nodes and \
            tears it down afterwards. Everything is measured from this process on one monotonic clock.
            """)

    @Option(name: .long, help: "Lab to use (created for the run if it does not exist).")
    var name = "bench"
    @Option(name: .long, help: "Nodes of the temporary lab.") var nodes = 3
    @Option(name: .long, help: "Samples per figure (at least 100).") var samples = 200
    @Flag(name: .long, help: "Print JSON.") var json = false

    func validate() throws {
        guard samples >= 100 else { throw ValidationError("--samples must be at least 100") }
        guard (1...LabSpec.maximumNodeCount).contains(nodes) else { throw ValidationError("--nodes must be 1…16") }
    }

    func run() async throws {
        let existing = Lab.list().contains(name)
        let lab: Lab
        if existing {
            lab = try Lab.load(name)
        } else {
            if !json { print("bringing up a temporary \(nodes)-node lab '\(name)'…") }
            lab = try await Lab.up(LabSpec(name: name, nodeCount: nodes, tokenMilliseconds: nil))
        }
        do {
            let sender = try lab.corosyncEndpoint(lab.nodes[0].name)
            let receiver = lab.nodes.count > 1 ? try lab.corosyncEndpoint(lab.nodes[1].name) : nil
            let result = try await CorosyncBenchmark(samples: samples).run(sender: sender, receiver: receiver, nodes: lab.nodes.count)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(result), as: UTF8.self))
            } else {
                print("corosync latency on a \(result.nodes)-node lab (\(samples) samples each, microseconds)")
                print(row("what", "p50", "p99", "min", "max"))
                print(row("cmap write → track event", result.cmapWriteToTrackEvent))
                if let remote = result.cpgSendToRemoteDelivery { print(row("CPG send → delivery (other node)", remote)) }
                print(row("CPG send → delivery (sender)", result.cpgSendToLocalDelivery))
            }
        } catch {
            if !existing { _ = try? await Lab.down(name) }
            throw error
        }
        if !existing { _ = try await Lab.down(name) }
    }

    private func row(_ label: String, _ figure: CorosyncBenchmark.Result.Figure) -> String {
        row(
            label, String(format: "%.0f", figure.p50Microseconds), String(format: "%.0f", figure.p99Microseconds),
            String(format: "%.0f", figure.minimumMicroseconds), String(format: "%.0f", figure.maximumMicroseconds))
    }

    private func row(_ columns: String...) -> String {
        columns[0].padding(toLength: 34, withPad: " ", startingAt: 0)
            + columns.dropFirst().map { $0.leftPadded(to: 8) }.joined()
    }
}

extension String {
    func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

struct VIPBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vip",
        abstract: "Latency of VIP add + first announcement, and of VIP removal, on a lab node's real interface.",
        discussion: """
            Uses the lab named by --name when it exists; otherwise brings up a temporary 2-node lab and tears it \
            down afterwards. The VIP is an unused address of the lab subnet on node1's eth0.
            """)

    @Option(name: .long, help: "Lab to use (created for the run if it does not exist).") var name = "benchvip"
    @Option(name: .long, help: "Add/remove cycles (at least 100).") var cycles = 500
    @Flag(name: .long, help: "Also measure the `ip` command implementation.") var compareIPCommand = false

    func validate() throws {
        guard cycles >= 100 else { throw ValidationError("--cycles must be at least 100") }
    }

    func run() async throws {
        let existing = Lab.list().contains(name)
        let lab = existing ? try Lab.load(name) : try await Lab.up(LabSpec(name: name, nodeCount: 2, tokenMilliseconds: nil))
        do {
            let node = lab.nodes[0]
            let subnet = try lab.spec.resolvedSubnet()
            guard let address = IPAddress(subnet.address(host: 200)) else { throw ValidationError("bad lab subnet") }
            var implementations: [VIPBenchmark.Implementation] = [.netlink]
            if compareIPCommand { implementations.append(.ipCommand) }
            print("VIP latency on \(node.name) (\(node.networkNamespace), eth0), \(cycles) cycles each")
            for implementation in implementations {
                let report = try await VIPBenchmark.runInNamespace(
                    node.networkNamespace, interface: "eth0", address: address, prefixLength: 24, cycles: cycles,
                    implementation: implementation)
                print(report)
            }
        } catch {
            if !existing { _ = try? await Lab.down(name) }
            throw error
        }
        if !existing { _ = try await Lab.down(name) }
    }
}

struct DaemonBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "sfhad on a lab: failover vs. detection, quorum loss → release, event → VIP up, status, RSS, CPU.",
        discussion: """
            Brings up a temporary lab of --nodes nodes (default 3; --name, token 1000 ms), starts sfhad with one \
            VIP and the demo web service, runs the watcher and the client prober throughout, and isolates the \
            holder's node --trials times for each --failover-delay-ms value (each value restarts sfhad with it in \
            config.yml; "default" leaves it unset). Prints figures next to sfha's targets; nothing passes or fails.
            """)

    @Option(name: .long, help: "Lab name (must not exist; torn down afterwards).") var name = "benchd"
    @Option(name: .long, help: "Nodes of the lab (3 for the reference figures).") var nodes = 3
    @Option(name: .long, help: "Holder isolations per failover delay (at least 10).") var trials = 10
    @Option(
        name: .customLong("failover-delay-ms"),
        help: "Comma-separated cluster.failover_delay_ms values to try, e.g. 3000,1000,500,0 (\"default\": unset).")
    var failoverDelays = "default"
    @Option(name: .long, help: "Seconds sfhad's CPU time is measured at rest (at least 10).") var idleSeconds = 10
    @Flag(name: .long, help: "Print JSON.") var json = false

    func validate() throws {
        guard trials >= 10 else { throw ValidationError("--trials must be at least 10") }
        guard (3...LabSpec.maximumNodeCount).contains(nodes) else { throw ValidationError("--nodes must be 3…16") }
        guard idleSeconds >= 10 else { throw ValidationError("--idle-seconds must be at least 10") }
        _ = try delays()
    }

    func delays() throws -> [Int?] {
        try failoverDelays.split(separator: ",").map { text -> Int? in
            let value = text.trimmingCharacters(in: .whitespaces)
            if value == "default" { return nil }
            guard let milliseconds = Int(value), (0...600_000).contains(milliseconds) else {
                throw ValidationError("--failover-delay-ms: '\(value)' is not a number of milliseconds (0…600000) or 'default'")
            }
            return milliseconds
        }
    }

    func run() async throws {
        let quiet = json
        let benchmark = DaemonBenchmark(
            trials: trials, failoverDelays: try delays(), idleSeconds: idleSeconds,
            progress: { line in if !quiet { print("  \(line)") } })
        if !json { print("bringing up a \(nodes)-node lab '\(name)' with sfhad…") }
        _ = try await Lab.down(name)
        let lab = try await Lab.up(LabSpec(name: name, nodeCount: nodes, tokenMilliseconds: 1000))
        let result: DaemonBenchmark.Result
        do {
            result = try await benchmark.run(on: lab)
        } catch {
            _ = try? await Lab.down(name)
            throw error
        }
        _ = try await Lab.down(name)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            print(DaemonBenchTable(result: result).text)
        }
    }
}

/// The daemon benchmark's figures next to sfha's targets (debug build; the lab's token is 1000 ms).
struct DaemonBenchTable {
    let result: DaemonBenchmark.Result

    var text: String {
        var lines = ["", "sfhad on a \(result.nodes)-node lab (milliseconds; targets are sfha's, shown for comparison)"]
        lines.append(row("what", "p50", "p99", "min", "max", "n", "target"))
        for run in result.runs {
            let delay = run.failoverDelayMilliseconds.map { "\($0) ms" } ?? "default"
            lines.append("failover_delay_ms \(delay): \(run.trials) trials, \(run.failedTrials) without takeover; "
                + "\(run.samples) watcher samples, \(run.dualHolderSamples) with two holders, "
                + "\(run.heldWithoutQuorumSamples) held without quorum, \(run.announcementOverlaps) overlaps")
            lines.append(row("  client-measured failover", run.clientFailover, target: "≤ detection + 300"))
            lines.append(row("  corosync detection (same trials)", run.detection, target: "—"))
            lines.append(row("  quorum lost → VIP removed", run.quorumLossToRelease, target: "p99 ≤ 20"))
            lines.append(row("  membership event → VIP up", run.membershipEventToVIPUp, target: "p99 ≤ 20 (+ delay)"))
            lines.append(row("  holder's quorum loss − survivor's event", run.sidesSkew, target: "—"))
            lines.append(row("  VIP up on new − gone from old holder", run.handoverGap, target: "min > 0"))
        }
        if let bystander = result.bystander {
            lines.append("a node holding nothing isolated: \(bystander.trials) trials, the VIP left its holder in \(bystander.moves), "
                + "\(bystander.dualHolderSamples) samples with two holders")
            lines.append(row("  client's longest gap", bystander.clientOutage, target: "—"))
            lines.append(row("  client's longest gap, its return", bystander.rejoinOutage, target: "—"))
        }
        lines.append(row("sfha status (lab exec, process start)", result.statusThroughExec, target: "p50 ≤ 10"))
        lines.append(row("sfha status (the CLI process alone)", result.statusProcess, target: "p50 ≤ 10"))
        lines.append(row("GET /v1/status on the socket", result.statusOnSocket, target: "—"))
        for node in result.residentKilobytes.keys.sorted() {
            let rss = Double(result.residentKilobytes[node] ?? 0) / 1024
            let cpu = result.idleCPUPercent[node] ?? .nan
            let corosync = result.corosyncIdleCPUPercent[node] ?? .nan
            lines.append(String(
                format: "sfhad on %@: RSS %.1f MB (target ≤ 12 MB), CPU at rest %.3f %% over %d s (target ≤ 0.2 %%); corosync %.2f %%",
                node, rss, cpu, result.idleSeconds, corosync))
        }
        return lines.joined(separator: "\n")
    }

    private func row(_ label: String, _ figure: DaemonBenchmark.Figure, target: String) -> String {
        row(
            label, String(format: "%.1f", figure.p50Milliseconds), String(format: "%.1f", figure.p99Milliseconds),
            String(format: "%.1f", figure.minimumMilliseconds), String(format: "%.1f", figure.maximumMilliseconds),
            String(figure.samples), target)
    }

    private func row(_ columns: String...) -> String {
        columns[0].padding(toLength: 40, withPad: " ", startingAt: 0)
            + columns.dropFirst().dropLast().map { $0.leftPadded(to: 9) }.joined() + "   " + columns.last!
    }
}

struct JoinBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join",
        abstract: "Joins measured: sfha join start → quorate member with sfhad in the group, its phases, a held VIP's outage.",
        discussion: """
            Builds --rounds clusters of --nodes bare hosts one after the other (lab --name, torn down after each):             each node's config.yml (a VIP and the demo web service), 'sfha init' on the first (--token; 0: corosync's \
            default), then 'sfha token' on the previous node and 'sfha join' on the next, while the founder holds the \
            VIP and a client probes it every 25 ms. Prints each join's time, p50 and max, each phase's mean, the \
            client's longest gap per join and the watcher's safety counts (targets: join ≤ 10 s, outage 0). Nothing \
            passes or fails.
            """)

    @Option(name: .long, help: "Lab name (must not exist; torn down afterwards).") var name = "benchj"
    @Option(name: .long, help: "Nodes of each cluster (2 to 5).") var nodes = 3
    @Option(name: .long, help: "Clusters built, one after the other.") var rounds = 3
    @Option(name: .long, help: "corosync's token timeout given to 'sfha init', in ms (0: corosync's default).") var token = 0
    @Flag(name: .long, help: "Print JSON.") var json = false
    @Flag(name: .long, help: "Leave the lab up when a round fails, for inspection ('sfha-lab down --name NAME' afterwards).")
    var keepOnFailure = false
    @Flag(name: .long, help: "Leave the last round's lab up, for inspection ('sfha-lab down --name NAME' afterwards).")
    var keep = false
    @Option(name: .long, help: "Keep every node's corosync and sfhad logs (and a trace of both ends' WireGuard peers) of a join that removed the VIP or took over 3 s in this directory.")
    var logs: String?

    func validate() throws {
        guard (2...5).contains(nodes) else { throw ValidationError("--nodes must be 2…5") }
        guard (1...20).contains(rounds) else { throw ValidationError("--rounds must be 1…20") }
        guard (nodes - 1) * rounds >= 5 else { throw ValidationError("measure at least 5 joins: (--nodes - 1) × --rounds ≥ 5") }
    }

    func run() async throws {
        let quiet = json
        if let logs { try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true) }
        let benchmark = JoinBenchmark(
            tokenMilliseconds: token == 0 ? nil : token, logsDirectory: logs, progress: { line in if !quiet { print("  \(line)") } })
        let rounds = try await BareLabRounds(name: name, nodes: nodes, rounds: self.rounds, quiet: json, keepOnFailure: keepOnFailure, keepLast: keep)
            .run { lab in try await benchmark.run(on: lab) }
        let result = JoinBenchmark.Result(rounds, tokenMilliseconds: token == 0 ? nil : token)
        if json { return try BareLabRounds.printJSON(result) }
        print("""
            joins: \(result.joins) in \(self.rounds) clusters of \(nodes) (token \(result.tokenMilliseconds.map { "\($0) ms" } ?? "corosync's default"))
            sfha join → quorate member, sfhad in the group: p50 \(result.p50Milliseconds) ms, max \(result.maxMilliseconds) ms (target ≤ 10000 ms); each: \(result.joinMilliseconds)
            phases (mean ms):
            """)
        for (name, _) in JoinBenchmark.phases {
            if let value = result.phaseMeanMilliseconds[name] { print("  \(name): \(value)") }
        }
        print("""
            client's longest gap through the held VIP, per join (ms; target 0): \(result.clientOutageMilliseconds); failed probes \(result.clientFailedProbes)
            VIP removed from its holder during a join (target 0): \(result.vipRemovals)
            watcher: \(result.dualHolderSamples) samples with two holders, \(result.heldWithoutQuorumSamples) with a VIP held without quorum
            """)
    }
}

struct RemoveBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Removals measured: sfha node remove → every remaining node updated (record, WireGuard, corosync's nodelist).",
        discussion: """
            Builds --rounds clusters of --nodes bare hosts one after the other (lab --name, torn down after each) by \
            'sfha init' and joins, the first node holding the VIP with a client probing it every 25 ms; then the \
            second node removes the last ones down to two members, alternately an offline node (its sfhad and \
            corosync stopped first) and an online one (--force: it hands over and is told to leave). While each \
            command runs, every remaining node is polled until its membership record, its WireGuard peers and \
            corosync's runtime nodelist are all without the node. Prints each removal's time after the node left \
            (target ≤ 1000 ms) and after the command, p50 and max, corosync restarts (target 0), the client's \
            failed probes (target 0) and the watcher's safety counts. Nothing passes or fails.
            """)

    @Option(name: .long, help: "Lab name (must not exist; torn down afterwards).") var name = "benchr"
    @Option(name: .long, help: "Nodes of each cluster (3 to 5).") var nodes = 5
    @Option(name: .long, help: "Clusters built, one after the other.") var rounds = 2
    @Flag(name: .long, help: "Print JSON.") var json = false
    @Flag(name: .long, help: "Leave the lab up when a round fails, for inspection ('sfha-lab down --name NAME' afterwards).")
    var keepOnFailure = false

    func validate() throws {
        guard (3...5).contains(nodes) else { throw ValidationError("--nodes must be 3…5") }
        guard (1...20).contains(rounds) else { throw ValidationError("--rounds must be 1…20") }
        guard (nodes - 2) * rounds >= 5 else { throw ValidationError("measure at least 5 removals: (--nodes - 2) × --rounds ≥ 5") }
    }

    func run() async throws {
        let quiet = json
        let benchmark = RemoveBenchmark(progress: { line in if !quiet { print("  \(line)") } })
        let rounds = try await BareLabRounds(name: name, nodes: nodes, rounds: self.rounds, quiet: json, keepOnFailure: keepOnFailure, keepLast: false)
            .run { lab in try await benchmark.run(on: lab) }
        let result = RemoveBenchmark.Result(rounds)
        if json { return try BareLabRounds.printJSON(result) }
        print("""
            removals: \(result.removals.count) in \(self.rounds) clusters of \(nodes)
            node left → every remaining node updated (record, WireGuard, runtime nodelist): p50 \(result.afterLeftP50Milliseconds) ms, max \(result.afterLeftMaxMilliseconds) ms (target ≤ 1000 ms); each: \(result.removals.map(\.afterLeftMilliseconds))
            sfha node remove → every remaining node updated: p50 \(result.allUpdatedP50Milliseconds) ms, max \(result.allUpdatedMaxMilliseconds) ms; each (kind): \(result.removals.map { "\($0.allUpdatedMilliseconds) (\($0.kind))" }.joined(separator: ", "))
            corosync restarts on the remaining nodes (target 0): \(result.corosyncRestarts)
            client failed probes through the VIP held elsewhere (target 0): \(result.clientFailedProbes)
            watcher: \(result.dualHolderSamples) samples with two holders, \(result.heldWithoutQuorumSamples) with a VIP held without quorum
            """)
    }
}

/// `bench join` and `bench remove`: one bare lab per round, up one after the other under one name, torn down after
/// each (kept on failure or after the last round when asked).
struct BareLabRounds {
    let name: String
    let nodes: Int
    let rounds: Int
    let quiet: Bool
    let keepOnFailure: Bool
    let keepLast: Bool

    func run<Round>(_ body: (Lab) async throws -> Round) async throws -> [Round] {
        var results: [Round] = []
        for round in 1...rounds {
            if !quiet { print("round \(round): \(nodes) bare hosts in lab '\(name)'…") }
            _ = try await Lab.down(name)
            let lab = try await Lab.up(LabSpec(name: name, nodeCount: nodes, bare: true))
            do {
                results.append(try await body(lab))
            } catch {
                if keepOnFailure {
                    print("lab '\(name)' left up: sfha-lab down --name \(name)")
                } else {
                    _ = try? await Lab.down(name)
                }
                throw error
            }
            if !(keepLast && round == rounds) { _ = try await Lab.down(name) }
        }
        return results
    }

    static func printJSON(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}
