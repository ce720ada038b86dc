import ArgumentParser
import SFHABase
import SFHALab

struct KillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill", abstract: "Send a signal to every process of that name inside a lab host.")

    @OptionGroup var lab: LabNameOption
    @Argument(help: "node1…nodeN or client.") var host: String
    @Argument(help: "Process name, e.g. corosync.") var process: String
    @Option(name: .long, help: "Signal name or number.") var signal: String = "KILL"

    func run() async throws {
        guard let number = LabSignals.number(signal) else {
            throw SFHAError(
                .invalidArgument, "unknown signal '\(signal)'; use e.g. KILL, TERM, HUP, STOP, CONT or a number")
        }
        let pids = try await lab.load().kill(host, process: process, signal: number)
        let pidList = pids.map(String.init).joined(separator: " ")
        print(pids.isEmpty ? "no \(process) runs in \(host)" : "sent signal \(signal) to \(process) in \(host): pids \(pidList)")
    }
}

struct StopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop corosync in a node.")
    @OptionGroup var lab: LabNameOption
    @Argument(help: "node1…nodeN.") var node: String

    func run() async throws {
        try await lab.load().stopCorosync(node)
        print("corosync stopped in \(node)")
    }
}

struct StartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Start corosync in a node.")
    @OptionGroup var lab: LabNameOption
    @Argument(help: "node1…nodeN.") var node: String

    func run() async throws {
        try await lab.load().startCorosync(node)
        print("corosync started in \(node)")
    }
}

struct IsolateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "isolate", abstract: "Unplug a host: its veth goes down on the bridge side.")
    @OptionGroup var lab: LabNameOption
    @Argument(help: "node1…nodeN or client.") var host: String

    func run() async throws {
        try await lab.load().isolate(host)
        print("\(host) is isolated (rejoin with: sfha-lab rejoin --name \(lab.name) \(host))")
    }
}

struct RejoinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rejoin", abstract: "Plug an isolated host back in.")
    @OptionGroup var lab: LabNameOption
    @Argument(help: "node1…nodeN or client.") var host: String

    func run() async throws {
        try await lab.load().rejoin(host)
        print("\(host) rejoined")
    }
}

struct PartitionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "partition",
        abstract: "Split the lab into groups that cannot reach each other.",
        discussion: "Groups are separated by '|', hosts by ','. Example: sfha-lab partition 'node1,node2|node3'")
    @OptionGroup var lab: LabNameOption
    @Argument(help: "Groups, e.g. node1,node2|node3.") var groups: String

    func run() async throws {
        let parsed = groups.split(separator: "|").map { group in
            group.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        try await lab.load().partition(parsed)
        print("partitioned: \(parsed.map { $0.joined(separator: ",") }.joined(separator: " | ")) (undo with: sfha-lab heal)")
    }
}

struct HealCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heal", abstract: "Undo partitions, drop-incoming and isolation (not netem).")
    @OptionGroup var lab: LabNameOption

    func run() async throws {
        try await lab.load().heal()
        print("lab '\(lab.name)' healed")
    }
}

struct DropIncomingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drop-incoming", abstract: "A host receives nothing but can still send (undo with heal).")
    @OptionGroup var lab: LabNameOption
    @Argument(help: "node1…nodeN or client.") var host: String

    func run() async throws {
        try await lab.load().dropIncoming(host)
        print("\(host) now drops all incoming traffic (undo with: sfha-lab heal)")
    }
}

struct NetemCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netem",
        abstract: "Delay and/or drop what a host sends (--delay 0 --loss 0 clears it).")
    @OptionGroup var lab: LabNameOption
    @Argument(help: "node1…nodeN or client.") var host: String
    @Option(name: .long, help: "Delay in milliseconds.") var delay: Int = 0
    @Option(name: .long, help: "Loss in percent.") var loss: Double = 0

    func run() async throws {
        try await lab.load().netem(host, delayMs: delay, lossPercent: loss)
        print(delay == 0 && loss == 0 ? "netem cleared on \(host)" : "netem on \(host): delay \(delay) ms, loss \(loss) %")
    }
}

