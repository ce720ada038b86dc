import ArgumentParser
import Foundation
import SFHABase
import SFHALab

struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up", abstract: "Create a lab and wait until every node is quorate.")

    @OptionGroup var lab: LabNameOption

    @Option(name: .long, help: "Number of corosync nodes (1…16).")
    var nodes: Int

    @Option(name: .long, help: "Corosync token timeout in milliseconds.")
    var token: Int?

    @Option(name: .long, help: "Lab subnet as a.b.c.0/24 (default: 10.231.X.0/24 derived from the name).")
    var subnet: String?

    @Option(name: .long, help: "Seconds to wait for quorum.")
    var timeout: Int = 60

    @Flag(name: .long, help: "Bare hosts: no corosync configuration and corosync not started (for 'sfha init' and 'sfha join').")
    var bare = false

    func run() async throws {
        let spec = LabSpec(name: lab.name, nodeCount: nodes, tokenMilliseconds: token, subnet: subnet, bare: bare)
        let clock = ContinuousClock()
        let start = clock.now
        let created = try await Lab.up(
            spec, quorumTimeout: .seconds(timeout))
        let elapsed = clock.now - start
        let seconds = elapsed.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1)))
        print(bare
            ? "lab '\(created.name)' is up with \(created.nodes.count) bare hosts in \(seconds) (no cluster yet: run 'sfha init' in one)"
            : "lab '\(created.name)' is up with \(created.nodes.count) quorate nodes in \(seconds)")
        for host in created.nodes + [created.clientHost] {
            print("  \(column(host.name, 8)) \(column(host.address, 15)) netns \(host.networkNamespace)")
        }
        print("state: \(created.stateDirectory)/lab.json   tear down: sfha-lab down --name \(created.name)")
    }
}

struct DownCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "down",
        abstract: "Tear a lab down completely (idempotent; works from lab.json or, after a crash, by name).")

    @OptionGroup var lab: LabNameOption

    @Flag(name: .long, help: "Tear down every lab that has a state directory on this machine.")
    var all = false

    func run() async throws {
        let names = all ? Lab.list() : [lab.name]
        if all && names.isEmpty { print("no labs to tear down") }
        var failures: [SFHAError] = []
        for name in names {
            do {
                let report = try await Lab.down(name)
                if report.nothingFound {
                    print("lab '\(name)': nothing to tear down")
                } else {
                    print("lab '\(name)' is down; removed \(report.removed.count) items:")
                    for item in report.removed { print("  \(item)") }
                }
            } catch {
                // With --all, one stubborn lab must not keep the others up.
                failures.append(error)
            }
        }
        if let first = failures.first {
            for failure in failures.dropFirst() { print("Error: \(failure)") }
            throw first
        }
    }
}

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the labs on this machine.")

    func run() async throws {
        for name in Lab.list() { print(name) }
    }
}

/// What `status --json` prints.
struct LabStatusReport: Codable {
    struct Host: Codable {
        var name: String
        var address: String
        var networkNamespace: String
        var quorum: String?
        var processes: [LabProcess]
    }

    var name: String
    var subnet: String
    var bridge: String
    var hosts: [Host]
    var faults: LabFaults
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show a lab's hosts, addresses, processes, quorum and faults.")

    @OptionGroup var lab: LabNameOption

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() async throws {
        let current = try lab.load()
        var hosts: [LabStatusReport.Host] = []
        for host in current.nodes + [current.clientHost] {
            let quorum = host.isClientHost ? nil : try await current.quorum(on: host.name).description
            hosts.append(LabStatusReport.Host(
                name: host.name, address: host.address, networkNamespace: host.networkNamespace, quorum: quorum,
                processes: try current.processes(on: host.name)))
        }
        let report = LabStatusReport(
            name: current.name, subnet: current.state.subnet, bridge: current.bridge, hosts: hosts,
            faults: current.state.faults)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        print("lab \(report.name): subnet \(report.subnet), bridge \(report.bridge)")
        for host in report.hosts {
            let processes = host.processes.map { "\($0.name)[\($0.pid)]" }.joined(separator: " ")
            print("  \(column(host.name, 8)) \(column(host.address, 15)) \(host.quorum ?? "-")")
            print("           processes: \(processes.isEmpty ? "none" : processes)")
        }
        let faults = report.faults
        var lines: [String] = []
        if !faults.isolated.isEmpty { lines.append("isolated: \(faults.isolated.joined(separator: ", "))") }
        if let partition = faults.partition {
            lines.append("partition: \(partition.map { $0.joined(separator: ",") }.joined(separator: " | "))")
        }
        if !faults.droppingIncoming.isEmpty {
            lines.append("dropping incoming: \(faults.droppingIncoming.joined(separator: ", "))")
        }
        for (host, setting) in faults.netem.sorted(by: { $0.key < $1.key }) { lines.append("netem \(host): \(setting)") }
        print(lines.isEmpty ? "faults: none" : "faults:\n" + lines.map { "  \($0)" }.joined(separator: "\n"))
    }
}

/// `text` left-aligned in a column of `width` characters.
func column(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text.padding(toLength: width, withPad: " ", startingAt: 0)
}
