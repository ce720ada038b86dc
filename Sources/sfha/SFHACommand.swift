import ArgumentParser

@main
struct SFHACommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sfha",
        abstract: "Lightweight, safe high availability for Linux: floating IPs and services over corosync.",
        discussion: """
            Exit status: 0 success; 1 failure; 2 invalid configuration; 3 corosync unreachable; 4 sfhad not running \
            (or running but unable to serve the request: busy, shutting down); 5 refused for lack of quorum; \
            6 refused (conflict or state); 7 not found; 8 no answer in time; 10 not confirmed; 64 usage error. \
            Messages in French with --lang fr, SFHA_LANG=fr or a French LANG.
            """,
        version: "0.1.0",
        subcommands: [
            StatusCommand.self, ResourcesCommand.self, HealthCommand.self, ConstraintsCommand.self, StandbyCommand.self,
            UnstandbyCommand.self, FailoverCommand.self, MaintenanceCommand.self, ResourceCommand.self, VIPCommand.self,
            ServiceCommand.self, ReloadCommand.self, ConfigCommand.self, SimulateCommand.self, LogsCommand.self,
            HistoryCommand.self, InitCommand.self, TokenCommand.self, JoinCommand.self, MeshCommand.self, NodeCommand.self, PropagateCommand.self, LeaveCommand.self,
        ])
}
