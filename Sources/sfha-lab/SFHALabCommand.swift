import ArgumentParser

/// `sfha-lab`: builds and drives a lab of real corosync nodes in network namespaces on this machine.
@main
struct SFHALabCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sfha-lab",
        abstract: "Run a lab of real corosync nodes, each in its own network namespace, on this machine.",
        discussion: """
            Labs live in /run/sfha-lab/<name>/ (lab.json holds their state). Every command takes --name \
            (default "sfha"). Hosts are node1…nodeN and client. Requires root.
            """,
        subcommands: [
            // Lifecycle
            UpCommand.self, DownCommand.self, StatusCommand.self, ListCommand.self,
            // Running things in hosts
            ExecCommand.self, ShellCommand.self,
            // Faults
            KillCommand.self, StopCommand.self, StartCommand.self, IsolateCommand.self, RejoinCommand.self,
            PartitionCommand.self, HealCommand.self, DropIncomingCommand.self, NetemCommand.self,
            // Measurement
            ProbeCommand.self, BenchCommand.self, DemoCommand.self,
        ]
    )
}
