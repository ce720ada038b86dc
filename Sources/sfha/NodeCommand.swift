import ArgumentParser
import Foundation
import SFHABase
import MeshKit
import SFHACore

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node", abstract: "Change the cluster's membership.", subcommands: [NodeRemoveCommand.self])
}

struct NodeRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a node from the cluster (run on any other member).",
        discussion: """
            In this order: the removal is checked (not this node, a member, this partition quorate and still quorate \
            without it, the node offline, in standby, or --force); an online node hands its groups over and is told \
            to leave (it stops corosync and sfhad, takes its mesh down, moves its files aside); every other online \
            member writes corosync.conf \
            without it and acknowledges with the file's hash (one that does not answer is a warning: it catches up \
            later); the removal is committed in the membership record, and every other member drops the node's \
            WireGuard peer; then this node writes its corosync.conf, corosync is reloaded once (never restarted), and \
            only then this node drops its own WireGuard peer of it. The node's id, mesh address and key are never \
            reused. --dry-run prints the plan and changes nothing.
            """)

    @Argument(help: "Name of the node to remove.") var name: String
    @Flag(name: .long, help: "Remove it even when it is online and not in standby.") var force = false
    @Flag(name: .long, help: "Print the plan (steps, quorum arithmetic, refusals) and change nothing.") var dryRun = false
    @Flag(name: .long, help: "Do not ask for confirmation.") var yes = false
    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let plan: NodeRemoveAnswer = try await daemon.call {
            try await $0.post("/v1/node/remove", body: NodeRemoveRequest(name: name, force: force, dryRun: true))
        }
        if dryRun || (plan.plan.alreadyRemoved && plan.unfinished == nil) {
            if json { return try CLI.printJSON(plan) }
            print(Self.describe(plan))
            return
        }
        if !json { print(Self.describe(plan)) }
        try CLI.confirm(
            Text(en: "Remove \(name) from the cluster?", fr: "Retirer \(name) du cluster ?"), yes: yes, language: daemon.language)
        let answer: NodeRemoveAnswer = try await daemon.call {
            try await $0.post("/v1/node/remove", body: NodeRemoveRequest(name: name, force: force, dryRun: false))
        }
        if json { return try CLI.printJSON(answer) }
        for step in answer.steps { print(Self.line(step)) }
        for warning in answer.warnings { print("⚠ \(warning)") }
        if let revision = answer.revision {
            print("✓ \(name) removed (membership revision \(revision))"
                + (answer.corosyncNodelist.map { "; corosync's nodelist here: \($0.joined(separator: ", "))" } ?? ""))
        }
    }

    static func line(_ step: JoinStep) -> String {
        let mark = step.result == "done" ? "✓" : step.result.hasPrefix("warning") ? "⚠" : "✗"
        return "\(mark) \(step.node): \(step.step)\(step.result == "done" ? "" : " — \(step.result)") (\(step.milliseconds) ms)"
    }

    static func describe(_ answer: NodeRemoveAnswer) -> String {
        let plan = answer.plan
        if plan.alreadyRemoved {
            return answer.unfinished.map { "\(plan.target) is removed from the record, but \($0)" } ?? "\(plan.target) is already removed: nothing to do"
        }
        var lines = ["Removing \(plan.target) (run on \(plan.coordinator)): \(plan.arithmetic)"]
        if let overrides = plan.forceOverrides { lines.append("--force: \(overrides)") }
        for (index, step) in plan.steps.enumerated() { lines.append("  \(index + 1). \(step.node): \(step.action)") }
        if let preview = answer.preview {
            lines.append("Files that would change:")
            lines += PropagateCommand.diffLines(preview)
        }
        return lines.joined(separator: "\n")
    }
}

struct PropagateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "propagate",
        abstract: "Repair: make every reachable member's corosync.conf and WireGuard peers match the membership record.",
        discussion: """
            The newest membership record a reachable member has is used (fetched when it is newer than this node's). \
            On every member that answers over the mesh, this one included: corosync.conf's nodelist is rewritten \
            where it differs (exact names, never renumbering) and corosync reloaded — or started where it does not \
            run —, and the WireGuard peers are made what the record says. Prints what changed on each node; a second \
            run prints nothing to do. --dry-run says what would change and changes nothing.
            """)

    @Flag(name: .long, help: "Say what would change, change nothing.") var dryRun = false
    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let answer: PropagateAnswer = try await daemon.call {
            try await $0.post("/v1/propagate", body: PropagateRequest(dryRun: dryRun))
        }
        if json { return try CLI.printJSON(answer) }
        print("membership revision \(answer.revision)\(answer.dryRun ? " (dry run: nothing changed)" : "")")
        for node in answer.nodes { print(Self.describe(node, dryRun: answer.dryRun)) }
        let diffs = Self.diffLines(answer.nodes.filter { $0.error == nil })
        if !diffs.isEmpty {
            print(answer.dryRun ? "Files that would change:" : "Files changed:")
            print(diffs.joined(separator: "\n"))
        }
    }

    /// Each node's file diffs, indented under the node's name (a node that could not say: its error).
    static func diffLines(_ reports: [MembershipRepairReport]) -> [String] {
        var lines: [String] = []
        for report in reports {
            if let error = report.error {
                lines.append("  ⚠ \(report.node): \(error)")
                continue
            }
            guard let diffs = report.diffs, !diffs.isEmpty else { continue }
            for file in diffs {
                lines.append("  \(report.node): \(file.path)")
                lines += file.diff.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { "    \($0)" }
            }
        }
        return lines
    }

    static func describe(_ report: MembershipRepairReport, dryRun: Bool) -> String {
        if let error = report.error { return "⚠ \(report.node): \(error)" }
        if report.nothingToDo { return "✓ \(report.node): nothing to do" }
        var changes: [String] = []
        if report.nodelistBefore != report.nodelistAfter {
            changes.append("corosync.conf nodelist \(report.nodelistBefore.joined(separator: ",")) → \(report.nodelistAfter.joined(separator: ","))")
        }
        if let runtime = report.runtimeNodelistBefore {
            changes.append("corosync's runtime nodelist \(runtime.joined(separator: ",")) differs from the file (a change interrupted before its reload)")
        }
        if let corosync = report.corosync { changes.append(dryRun ? "corosync would be \(corosync)" : "corosync \(corosync)") }
        if !report.peersAdded.isEmpty { changes.append("WireGuard peers added: \(report.peersAdded.joined(separator: ", "))") }
        if !report.peersRemoved.isEmpty { changes.append("WireGuard peers removed: \(report.peersRemoved.joined(separator: ", "))") }
        return "\(dryRun ? "→" : "✓") \(report.node): \(changes.joined(separator: "; "))"
    }
}

struct LeaveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leave",
        abstract: "This node leaves the cluster (run on it).",
        discussion: """
            Another online member runs this node's removal (its groups handed over first; every other member's \
            corosync.conf and WireGuard peers changed, one reload), then this command stops and disables corosync \
            here, takes the mesh down, moves the cluster's files aside (*.removed-<UTC time>) and stops sfhad. \
            Refused on the last member, with no other member online, or when the rest would lose quorum — unless \
            --force, which then cleans this node up alone and says what the others still have to do. --dry-run \
            prints the plan and changes nothing.
            """)

    @Flag(name: .long, help: "Leave even when the others cannot run the removal (local clean-up only).") var force = false
    @Flag(name: .long, help: "Print the plan and change nothing.") var dryRun = false
    @Flag(name: .long, help: "Do not ask for confirmation.") var yes = false
    @Flag(name: .long, help: "Print JSON (the removal as the other member ran it).") var json = false
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let plan: LeaveCommandAnswer = try await daemon.call {
            try await $0.post("/v1/leave", body: LeaveCommandRequest(force: force, dryRun: true))
        }
        if !json || dryRun {
            if json { return try CLI.printJSON(plan) }
            if let removal = plan.removal?.plan, let coordinator = plan.coordinator {
                print("\(coordinator) runs the removal of \(plan.node): \(removal.arithmetic)")
                for (index, step) in removal.steps.enumerated() where !step.action.hasPrefix("told to leave") {
                    print("  \(index + 1). \(step.node): \(step.action)")
                }
            } else {
                print("\(plan.reason ?? "no member can run the removal"): only this node is cleaned up (--force)")
            }
            print("  then here: stop and disable corosync, take the mesh down, move the cluster's files aside, stop sfhad")
            if let preview = plan.removal?.preview, !preview.isEmpty {
                print("Files that would change on the other members (this node's are moved aside):")
                print(PropagateCommand.diffLines(preview).joined(separator: "\n"))
            }
            if dryRun { return }
        }
        try CLI.confirm(
            Text(en: "\(plan.node) leaves the cluster?", fr: "\(plan.node) quitte le cluster ?"), yes: yes, language: daemon.language)
        let answer: LeaveCommandAnswer = try await daemon.call {
            try await $0.post("/v1/leave", body: LeaveCommandRequest(force: force, dryRun: false))
        }
        if !json {
            for step in answer.removal?.steps ?? [] { print(NodeRemoveCommand.line(step)) }
            for warning in answer.removal?.warnings ?? [] { print("⚠ \(warning)") }
        }
        // The removal is committed (or --force with nobody to run it): this node stops being a member here.
        var local: [JoinStep] = []
        await NodeDeparture.run(node: answer.node, effects: SystemDepartureEffects(mesh: WireGuardCommandController()), at: Date()) { step in
            local.append(step)
            if !json { print(NodeRemoveCommand.line(step)) }
        }
        if json {
            struct Report: Encodable {
                var leave: LeaveCommandAnswer
                var local: [JoinStep]
            }
            return try CLI.printJSON(Report(leave: answer, local: local))
        }
        if answer.localOnly, answer.lastMember == true {
            print("✓ \(answer.node) cleaned up: it was the cluster's last member, so nothing is left to remove anywhere")
        } else if answer.localOnly {
            print("⚠ \(answer.node) cleaned up alone (\(answer.reason ?? "")): on a member, run 'sfha node remove \(answer.node)' (it is offline now)")
        } else {
            print("✓ \(answer.node) left the cluster (membership revision \(answer.removal?.revision.map(String.init) ?? "?"))")
        }
    }
}
