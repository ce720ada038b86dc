import ArgumentParser

@main
struct SFHACommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sfha",
        abstract: "Lightweight, safe high availability for Linux: floating IPs and services over corosync.",
        version: "0.1.0",
        subcommands: [StatusCommand.self, StandbyCommand.self, UnstandbyCommand.self, ConfigCommand.self, SimulateCommand.self])
}

/// Exit codes shared by every sfha command (documented in Docs/Operations.md).
enum ExitStatus {
    static let corosyncUnavailable: Int32 = 3
    static let daemonUnavailable: Int32 = 4
}
