import ArgumentParser
import Foundation
import SFHABase
import SFHACore

struct ResourcesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resources", abstract: "VIPs and services: their group, holder, and whether they are up on this node.")

    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let report: ResourcesReport = try await daemon.call { try await $0.get("/v1/resources") }
        if json { return try CLI.printJSON(report) }
        print(ResourceTables.resources(report, daemon.language), terminator: "")
    }
}

struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health", abstract: "Health checks running on this node and the service failures counted here.")

    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let report: HealthReport = try await daemon.call { try await $0.get("/v1/health") }
        if json { return try CLI.printJSON(report) }
        print(ResourceTables.health(report, daemon.language), terminator: "")
    }
}

struct ConstraintsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "constraints", abstract: "Groups and the colocation/order rules between them, as sfhad applies them.")

    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let report: ConstraintsReport = try await daemon.call { try await $0.get("/v1/constraints") }
        if json { return try CLI.printJSON(report) }
        print(ResourceTables.constraints(report, daemon.language), terminator: "")
    }
}

extension String {
    func ifEmpty(_ replacement: String) -> String { isEmpty ? replacement : self }
}

struct VIPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vip", abstract: "Add, remove or list floating IPs (cluster-wide; corosync is not touched).",
        subcommands: [VIPAddCommand.self, VIPRemoveCommand.self, VIPListCommand.self])
}

struct VIPAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Add a VIP; the group's holder brings it up at once.")

    @Argument(help: "Name of the VIP.") var name: String
    @Argument(help: "ADDRESS or ADDRESS/PREFIX (IPv4 default /24, IPv6 /64).") var address: String
    @Argument(help: "Interface (default eth0).") var interface: String?
    @Option(name: .long, help: "Group (default: 'default').") var group: String?
    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let result: ChangeResult = try await daemon.call {
            try await $0.post("/v1/vips", body: VIPAddRequest(name: name, address: address, interface: interface, group: group))
        }
        try report(result, json: json)
    }
}

struct VIPRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a VIP; its holder takes the address down at once.")

    @Argument(help: "Name of the VIP.") var name: String
    @Flag(name: .long, help: "Do not ask for confirmation.") var yes = false
    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        try CLI.confirm(
            Text(en: "Remove VIP \(name) cluster-wide?", fr: "Supprimer la VIP \(name) sur tout le cluster ?"), yes: yes,
            language: daemon.language)
        let result: ChangeResult = try await daemon.call {
            try await $0.delete(ControlClient.path("v1", "vips", name))
        }
        try report(result, json: json)
    }
}

struct VIPListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the VIPs.")

    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let report: ResourcesReport = try await daemon.call { try await $0.get("/v1/resources") }
        if json { return try CLI.printJSON(report.vips) }
        print(ResourceTables.vips(report, daemon.language), terminator: "")
    }
}

struct ServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service", abstract: "Add, remove or list managed systemd services (cluster-wide).",
        subcommands: [ServiceAddCommand.self, ServiceRemoveCommand.self, ServiceListCommand.self])
}

struct ServiceAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Add a service; the group's holder starts it at once.")

    @Argument(help: "Name of the service.") var name: String
    @Argument(help: "systemd unit (default: the name).") var unit: String?
    @Option(name: .long, help: "Group (default: 'default').") var group: String?
    @Flag(name: .long, help: "A failure that exhausts the restarts moves the group.") var critical = false
    @Flag(name: .long, help: "Restart the unit in place before declaring it failed.") var restart = false
    @Option(name: .long, help: ArgumentHelp(
        "A health check besides the unit's own state: http://…, https://…, tcp:HOST:PORT, systemd:UNIT or 'exec:PROGRAM ARG…'.",
        valueName: "CHECK")) var check: String?
    @Option(name: .long, help: "How often the check runs (default 5s).") var checkInterval: String?
    @Option(name: .long, help: "How long one check may take (default 2s).") var checkTimeout: String?
    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let result: ChangeResult = try await daemon.call {
            try await $0.post(
                "/v1/services",
                body: ServiceAddRequest(
                    name: name, unit: unit, group: group, critical: critical, restart: restart, check: check,
                    checkInterval: checkInterval, checkTimeout: checkTimeout))
        }
        try report(result, json: json)
    }
}

struct ServiceRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Stop managing a service; its holder stops it.")

    @Argument(help: "Name of the service.") var name: String
    @Flag(name: .long, help: "Do not ask for confirmation.") var yes = false
    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        try CLI.confirm(
            Text(en: "Remove service \(name) cluster-wide (its holder stops it)?",
                 fr: "Retirer le service \(name) sur tout le cluster (le nœud qui le porte l'arrête) ?"),
            yes: yes, language: daemon.language)
        let result: ChangeResult = try await daemon.call {
            try await $0.delete(ControlClient.path("v1", "services", name))
        }
        try report(result, json: json)
    }
}

struct ServiceListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the managed services.")

    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let report: ResourcesReport = try await daemon.call { try await $0.get("/v1/resources") }
        if json { return try CLI.printJSON(report.services) }
        print(ResourceTables.services(report, daemon.language), terminator: "")
    }
}

struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "sfhad's recent log lines (from the daemon; --journal reads journald instead).")

    @Option(name: [.customShort("n"), .long], help: "Number of lines.") var lines = 50
    @Flag(name: [.short, .long], help: "Keep printing new lines.") var follow = false
    @Option(name: [.customShort("p"), .long], help: "Minimum priority: debug, info, notice, warning, error.") var priority: String?
    @Flag(name: .long, help: "Read journald (journalctl -u sfhad) instead of the daemon's buffer.") var journal = false
    @Flag(name: .long, help: "Print JSON lines.") var json = false
    @OptionGroup var daemon: DaemonOptions

    func validate() throws {
        guard lines > 0 else { throw ValidationError("--lines must be positive") }
        if let priority, !["trace", "debug", "info", "notice", "warning", "warn", "error", "err", "critical"].contains(priority) {
            throw ValidationError("--priority must be one of debug, info, notice, warning, error")
        }
    }

    private var level: String? {
        switch priority {
        case "warn": "warning"
        case "err": "error"
        default: priority
        }
    }

    func run() async throws {
        if journal { return try await runJournal() }
        var after: UInt64?
        var first = true
        repeat {
            var query = ["lines": String(first ? lines : 10_000)]
            if let after { query["after"] = String(after) }
            if let level { query["priority"] = level }
            let page: DaemonLogPage = try await daemon.call { try await $0.get(ControlClient.path("v1", "logs", query: query)) }
            for entry in page.entries {
                if json { try printJSONLine(entry) } else { print("\(entry.time) \(entry.level) \(entry.message)") }
            }
            after = page.last
            first = false
            // Piped (`sfha logs -f | grep …`), stdout is block-buffered: each page goes out as it arrives.
            fflush(nil)
            if follow { try await Task.sleep(for: .milliseconds(500)) }
        } while follow
    }

    private func printJSONLine(_ entry: DaemonLogEntry) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(entry), as: UTF8.self))
    }

    /// journalctl with an argument array (never a shell string); its exit status becomes ours.
    private func runJournal() async throws {
        var arguments = ["-u", "sfhad", "-n", String(lines), "--no-pager", "-o", json ? "json" : "short-iso"]
        if follow { arguments.append("-f") }
        if let level {
            let syslog = ["trace": "7", "debug": "7", "info": "6", "notice": "5", "warning": "4", "error": "3", "critical": "2"]
            arguments += ["-p", syslog[level] ?? "6"]
        }
        guard let journalctl = SystemProgramRunner.resolve("journalctl") else {
            CLI.printError(Text(en: "journalctl is not installed; run 'sfha logs' without --journal", fr: "journalctl n'est pas installé ; lancez 'sfha logs' sans --journal")(daemon.language))
            throw ExitCode(ExitStatus.failure)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: journalctl)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        throw ExitCode(process.terminationStatus)
    }
}
