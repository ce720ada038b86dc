import ArgumentParser
import Foundation
import SFHABase
import SFHACore

struct StandbyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "standby", abstract: "Put a node (this one by default) in standby: it gives up its groups and takes none.",
        discussion: "Cluster-wide and persistent (kept in the cluster document): it survives a restart of sfhad and a reboot, "
            + "until 'sfha unstandby'. Needs quorum.")

    @Argument(help: "The node (default: this one).") var node: String?
    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let result: ChangeResult = try await daemon.call { try await $0.post("/v1/standby", body: StandbyRequest(node: node)) }
        try report(result, json: json)
    }
}

struct UnstandbyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unstandby", abstract: "Take a node (this one by default) out of standby: it may hold groups again.")

    @Argument(help: "The node (default: this one).") var node: String?
    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let result: ChangeResult = try await daemon.call { try await $0.post("/v1/unstandby", body: StandbyRequest(node: node)) }
        try report(result, json: json)
    }
}

/// Prints the outcome of a change (text or JSON).
func report(_ result: ChangeResult, json: Bool) throws {
    if json { try CLI.printJSON(result) } else { print(result.message) }
}

struct FailoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failover",
        abstract: "Move a group (every group when none is named) to another node now, or keep it off a node.",
        discussion: """
            Without --to, the group leaves its current holder for the best other eligible node; with --to, it goes to \
            that node (which must run sfhad, be out of standby and healthy). The command waits until placement \
            honours the request (at most 10 s); a request that cannot be honoured is cancelled and the reason printed. \
            Stickiness applies afterwards: the group stays where it was moved.
            --ban NODE keeps the group off NODE until --clear (cluster-wide and persistent, in cluster.banned_nodes): \
            if NODE holds it, it moves away, and the command says where it went. --clear lifts the group's bans (every \
            group's when none is named).
            """)

    @Argument(help: "The group to move (default: every group).") var group: String?
    @Option(name: .long, help: "The node to move it to.") var to: String?
    @Option(name: .long, help: "Keep the group off this node until --clear.") var ban: String?
    @Flag(name: .long, help: "Lift the group's bans (every group's when none is named).") var clear = false
    @Flag(name: .long, help: "Do not ask for confirmation.") var yes = false
    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var daemon: DaemonOptions

    func validate() throws {
        if [to != nil, ban != nil, clear].filter({ $0 }).count > 1 {
            throw ValidationError("--to, --ban and --clear exclude one another")
        }
        if ban != nil && group == nil { throw ValidationError("--ban needs a group: sfha failover GROUP --ban NODE") }
    }

    func run() async throws {
        if clear {
            let result: ChangeResult = try await daemon.call { try await $0.post("/v1/unban", body: ClearBansRequest(group: group)) }
            return try report(result, json: json)
        }
        if let ban, let group {
            try CLI.confirm(
                Text(en: "Keep \(group) off \(ban) until 'sfha failover \(group) --clear'?",
                     fr: "Tenir \(group) à l'écart de \(ban) jusqu'à 'sfha failover \(group) --clear' ?"),
                yes: yes, language: daemon.language)
            let result: ChangeResult = try await daemon.call { try await $0.post("/v1/ban", body: BanRequest(group: group, node: ban)) }
            return try report(result, json: json)
        }
        let what = group ?? "every group"
        try CLI.confirm(
            Text(en: "Move \(what)\(to.map { " to \($0)" } ?? " away from its holder")?",
                 fr: "Déplacer \(group ?? "tous les groupes")\(to.map { " vers \($0)" } ?? " hors de leur nœud actuel") ?"),
            yes: yes, language: daemon.language)
        let result: ChangeResult = try await daemon.call {
            try await $0.post("/v1/failover", body: FailoverRequest(group: group, to: to))
        }
        try report(result, json: json)
    }
}

struct MaintenanceCommand: AsyncParsableCommand {
    enum Mode: String, ExpressibleByArgument, CaseIterable { case on, off }

    static let configuration = CommandConfiguration(
        commandName: "maintenance",
        abstract: "Freeze (on) or resume (off) placement cluster-wide; nothing is started, stopped or moved while on.",
        discussion: "A replicated change of the cluster configuration (committed only with quorum); corosync is not touched.")

    @Argument(help: "on or off.") var mode: Mode
    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let result: ChangeResult = try await daemon.call {
            try await $0.post("/v1/maintenance", body: MaintenanceRequest(on: mode == .on))
        }
        try report(result, json: json)
    }
}

struct ReloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Make sfhad re-read its configuration file (as SIGHUP, but asks before removing anything).",
        discussion: """
            Node settings (priority, log level) apply at once. When the file's cluster part changed since sfhad last \
            read it, it is committed cluster-wide as the next revision. Before that, the changes are listed; anything \
            the file would remove from the live cluster document (a VIP added with 'sfha vip add' and missing from \
            the file, a service, a group…) must be confirmed, or given --yes. --dry-run only shows the changes. An \
            invalid file changes nothing (exit 2). SIGHUP never removes anything: such a reload is refused and logged.
            """)

    @Flag(name: .long, help: "Show what the reload would change, change nothing.") var dryRun = false
    @Flag(name: .long, help: "Do not ask before removing resources.") var yes = false
    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let language = daemon.language
        let plan: ReloadPlan = try await daemon.call { try await $0.get("/v1/reload/plan") }
        if dryRun {
            if json { return try CLI.printJSON(plan) }
            return Self.show(plan, language: language)
        }
        var confirmed: [String]?
        if plan.commits && !plan.diff.removals.isEmpty {
            if !json { Self.show(plan, language: language) }
            let list = plan.diff.removals.joined(separator: ", ")
            try CLI.confirm(
                Text(en: "Remove \(list) cluster-wide?", fr: "Supprimer \(list) sur tout le cluster ?"), yes: yes, language: language)
            confirmed = plan.diff.removals
        }
        let result: ChangeResult = try await daemon.call {
            try await $0.post("/v1/reload", body: ReloadRequest(confirmedRemovals: confirmed))
        }
        try report(result, json: json)
    }

    static func show(_ plan: ReloadPlan, language: Language) {
        for setting in plan.nodeSettings { print("  node: \(setting)") }
        for entry in plan.diff.entries { print("  \(entry)") }
        for warning in plan.warnings { print("  warning: \(warning)") }
        print(plan.note)
    }
}

struct ResourceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resource", abstract: "Resource operations.", subcommands: [ResourceCleanupCommand.self])
}

struct ResourceCleanupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cleanup",
        abstract: "Forget service failures so that a blocked group may run again (on every node, or one).")

    @Argument(help: "The group (default: every group).") var group: String?
    @Option(name: .long, help: "Only on this node.") var node: String?
    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let result: ChangeResult = try await daemon.call {
            try await $0.post("/v1/cleanup", body: CleanupRequest(group: group, node: node))
        }
        try report(result, json: json)
    }
}
