import ArgumentParser
import Foundation
import SFHACore

struct ConfigExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "The live cluster document as a loadable config.yml (this node's node: and logging: included).",
        discussion: """
            Asks sfhad for the cluster document it runs (every node runs the same revision). Secrets (STONITH token, \\
            webhook headers and body) are printed as <redacted> unless --include-secrets is given. Writing the output \\
            to /etc/sfha/config.yml makes this node's file match the cluster again.
            """)

    @Flag(name: .long, help: "Print the document as JSON (revision, hash, configuration).") var json = false
    @Flag(name: .long, help: "Include the secrets (keep the output 0600).") var includeSecrets = false
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let path = includeSecrets ? ControlClient.path("v1", "config", query: ["secrets": "include"]) : "/v1/config"
        let export: ConfigurationExport = try await daemon.call { try await $0.get(path) }
        if json { return try CLI.printJSON(export) }
        print(export.yaml, terminator: export.yaml.hasSuffix("\n") ? "" : "\n")
    }
}
