import ArgumentParser
import Foundation
import SFHACore

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Check or print sfha configuration.",
        subcommands: [ConfigCheckCommand.self, ConfigExampleCommand.self])
}

struct ConfigCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a configuration file (nothing is changed); every error with file:line:column.",
        discussion: "Exit status: 0 valid (warnings are printed), 2 invalid.")

    @Option(name: [.short, .long], help: "Configuration file.")
    var config = SFHAConfiguration.defaultPath

    @Flag(name: .long, help: "Print JSON: {valid, errors, warnings, counts}.") var json = false

    struct Report: Encodable {
        var path: String
        var valid: Bool
        var errors: [String]
        var warnings: [String]
        var cluster: String?
        var node: String?
        var groups = 0, vips = 0, services = 0, nodeChecks = 0
    }

    func run() async throws {
        let loaded: SFHAConfiguration
        do {
            loaded = try SFHAConfiguration.load(path: config)
        } catch {
            if json {
                try CLI.printJSON(Report(path: config, valid: false, errors: "\(error)".split(separator: "\n").map(String.init), warnings: []))
            } else {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
            }
            throw ExitCode(ExitStatus.invalidConfiguration)
        }
        let cluster = loaded.cluster
        let vips = cluster.groups.reduce(0) { $0 + $1.vips.count }
        let services = cluster.groups.reduce(0) { $0 + $1.services.count }
        if json {
            return try CLI.printJSON(Report(
                path: config, valid: true, errors: [], warnings: loaded.warnings.map { "\($0)" }, cluster: cluster.name,
                node: loaded.node.name, groups: cluster.groups.count, vips: vips, services: services, nodeChecks: cluster.nodeChecks.count))
        }
        for warning in loaded.warnings { FileHandle.standardError.write(Data("\(warning)\n".utf8)) }
        print("\(config): valid — cluster \(cluster.name), node \(loaded.node.name), \(cluster.groups.count) group(s), "
            + "\(vips) VIP(s), \(services) service(s), \(cluster.nodeChecks.count) node check(s)")
    }
}

struct ConfigExampleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "example", abstract: "Print a commented example configuration using every key.")

    func run() async throws {
        print(SFHAConfiguration.exampleYAML, terminator: "")
    }
}
