import ArgumentParser
import CorosyncKit
import Foundation
import SFHACore

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Check or print sfha configuration.",
        subcommands: [ConfigCheckCommand.self, ConfigExampleCommand.self, ConfigExportCommand.self])
}

struct ConfigCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a configuration file (nothing is changed); every error with file:line:column.",
        discussion: """
            The file is FILE, or --config FILE, or \(SFHAConfiguration.defaultPath). \
            Exit status: 0 valid (warnings are printed), 2 invalid, 64 usage error.
            """)

    @Argument(help: "Configuration file (default: \(SFHAConfiguration.defaultPath)).")
    var file: String?

    @Option(name: [.customShort("c"), .customLong("config")], help: "Configuration file (the same as FILE).")
    var configOption: String?

    /// The file to check: FILE, else --config, else the default path.
    var config: String { file ?? configOption ?? SFHAConfiguration.defaultPath }

    func validate() throws {
        if let file, let configOption, file != configOption {
            throw ValidationError("two configuration files given ('\(file)' and --config '\(configOption)'): give one")
        }
    }

    @Flag(name: .long, help: "Print JSON: {valid, errors, warnings, counts}.") var json = false

    @Option(name: .long, help: "corosync.conf to read quorum settings from (a two-node cluster without fencing is warned about).")
    var corosyncConf = "/etc/corosync/corosync.conf"

    @Option(name: .long, help: "Language of messages: en or fr (default: $SFHA_LANG, then $LANG).")
    var lang: Language?

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
        let language = Language.resolve(lang)
        let fr = language == .fr
        let loaded: SFHAConfiguration
        do {
            loaded = try SFHAConfiguration.load(path: config)
        } catch {
            if json {
                try CLI.printJSON(Report(path: config, valid: false, errors: "\(error)".split(separator: "\n").map(String.init), warnings: []))
            } else {
                // The loader's lines follow, one per problem (the first ones, when there are very many).
                FileHandle.standardError.write(Data((fr ? "\(config) : configuration invalide :\n" : "\(config): invalid configuration:\n").utf8))
                let lines = fr ? error.items.map { Self.line(forError: $0) } : [error.description]
                FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
            }
            throw ExitCode(ExitStatus.invalidConfiguration)
        }
        let cluster = loaded.cluster
        let vips = cluster.groups.reduce(0) { $0 + $1.vips.count }
        let services = cluster.groups.reduce(0) { $0 + $1.services.count }
        let twoNodeUnfenced = !cluster.fences && Self.isTwoNode(corosyncConf)
        if json {
            var warnings = loaded.warnings.map { "\($0)" }
            if twoNodeUnfenced { warnings.append("warning: \(TwoNodeWarning.text)") }
            return try CLI.printJSON(Report(
                path: config, valid: true, errors: [], warnings: warnings, cluster: cluster.name,
                node: loaded.node.name, groups: cluster.groups.count, vips: vips, services: services, nodeChecks: cluster.nodeChecks.count))
        }
        var lines = loaded.warnings.map { Self.line(for: $0, language) }
        if twoNodeUnfenced { lines.append((fr ? "avertissement : " : "warning: ") + DaemonText.configurationMessage(TwoNodeWarning.text, language)) }
        for line in lines { FileHandle.standardError.write(Data("\(line)\n".utf8)) }
        let checks = cluster.nodeChecks.count
        print(fr
            ? "\(config) : valide — cluster \(cluster.name), nœud \(loaded.node.name), \(cluster.groups.count) groupe(s), "
                + "\(vips) VIP, \(services) service(s), \(checks) contrôle(s) de nœud"
            : "\(config): valid — cluster \(cluster.name), node \(loaded.node.name), \(cluster.groups.count) group(s), "
                + "\(vips) VIP(s), \(services) service(s), \(checks) node check(s)")
    }

    /// `file:line:column: key.path : message`, the message in French.
    static func line(forError item: ConfigurationDiagnostic) -> String {
        var text = item.file
        if item.line > 0 { text += ":\(item.line):\(item.column)" }
        text += ": "
        if !item.keyPath.isEmpty { text += "\(item.keyPath) : " }
        return text + ConfigurationFrench.translate(item.message)
    }

    /// `file:line:column: warning: key.path: message`, with the label (and the messages sfha translates) in French.
    static func line(for warning: ConfigurationWarning, _ language: Language) -> String {
        guard language == .fr else { return warning.description }
        var text = warning.file
        if warning.line > 0 { text += ":\(warning.line):\(warning.column)" }
        text += ": avertissement : "
        if !warning.keyPath.isEmpty { text += "\(warning.keyPath) : " }
        return text + DaemonText.configurationMessage(warning.message, language)
    }
}

extension ConfigCheckCommand {
    /// Whether corosync.conf (when there is one) makes votequorum keep both halves of a two-node cluster quorate.
    static func isTwoNode(_ path: String) -> Bool {
        guard FileManager.default.isReadableFile(atPath: path), let conf = try? CorosyncConf.load(from: path) else { return false }
        return conf.value(at: "quorum.two_node") == "1"
    }
}

struct ConfigExampleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "example",
        abstract: "Print a commented example configuration using every key (--minimal: one VIP and one service).")

    @Flag(name: .long, help: "Print a short example instead: one VIP and one service, every other key left at its default.")
    var minimal = false

    func run() async throws {
        // The YAML has no final newline of its own; a file written from this output must end with one.
        print(minimal ? SFHAConfiguration.minimalExampleYAML : SFHAConfiguration.exampleYAML)
    }
}
