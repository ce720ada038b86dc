import ArgumentParser
import Foundation
import SFHACore

struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "What happened, as this node saw it: group moves, failures, operator commands (who, what, the answer).",
        discussion: "Kept by sfhad in /var/lib/sfha/history.jsonl across restarts (the newest entries; older ones are dropped).")

    @Option(name: [.customShort("n"), .long], help: "Number of entries.") var lines = 50
    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var daemon: DaemonOptions

    func validate() throws {
        guard lines > 0 else { throw ValidationError("--lines must be positive") }
    }

    func run() async throws {
        let entries: [HistoryEntry] = try await daemon.call {
            try await $0.get(ControlClient.path("v1", "history", query: ["lines": String(lines)]))
        }
        if json { return try CLI.printJSON(entries) }
        for entry in entries { print(entry) }
    }
}
