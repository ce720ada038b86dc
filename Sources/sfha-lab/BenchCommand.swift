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
        subcommands: [CorosyncBenchCommand.self, VIPBenchCommand.self])
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
