import ArgumentParser
import CorosyncKit
import Foundation
import Logging
import SFHABase
import SFHACore
import ServiceLifecycle

/// `sfhad`: keeps each resource group on exactly one live, quorate, healthy node.
@main
struct SFHADaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sfhad",
        abstract: "The sfha daemon: VIPs and services on one live, quorate, healthy node of a corosync cluster.")

    @Option(name: [.short, .long], help: "Configuration file.")
    var config = SFHAConfiguration.defaultPath

    @Option(name: .long, help: "Directory for the replicated cluster document.")
    var stateDirectory = "/var/lib/sfha"

    @Option(name: .long, help: "Control socket (the sfha CLI talks to sfhad through it).")
    var socket = ControlServer.defaultSocketPath

    @Option(name: .long, help: "Log level (debug, info, notice, warning, error); default: the configuration's.")
    var logLevel: String?

    func run() async throws {
        let loaded: SFHAConfiguration
        do {
            loaded = try SFHAConfiguration.load(path: config)
        } catch {
            FileHandle.standardError.write(Data("sfhad: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let level = Logger.Level(rawValue: logLevel ?? loaded.node.logLevel.swiftLogLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "sfha.daemon")
        for warning in loaded.warnings { logger.warning("\(warning)") }

        // Who am I in corosync? Wait for corosync (it may still be starting), then check the names agree.
        let snapshot = await Self.waitForCorosync(logger: logger)
        let localName = snapshot.member(snapshot.localNodeID)?.name
        if let localName, localName != loaded.node.name {
            logger.error("node.name '\(loaded.node.name)' is not this node's corosync name '\(localName)'; fix \(config)")
            throw ExitCode(1)
        }

        let documentPath = "\(stateDirectory)/cluster.json"
        let document = Self.loadDocument(path: documentPath, configuration: loaded.cluster, logger: logger)
        try? FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        let runtime = DaemonRuntime(
            node: loaded.node, nodeID: snapshot.localNodeID, document: document,
            effects: .system(vipLease: DaemonTimings.vipLease),
            documentPath: documentPath, logger: logger)
        await runtime.start()
        logger.notice("sfhad started", metadata: ["node": "\(loaded.node.name)", "node_id": "\(snapshot.localNodeID)", "revision": "\(document.revision)"])

        let group = ServiceGroup(
            services: [
                CorosyncWatchService(runtime: runtime), ProcessGroupService(runtime: runtime, logger: logger),
                HeartbeatService(runtime: runtime, interval: DaemonTimings.heartbeat), LeaseService(runtime: runtime),
                ControlService(runtime: runtime, socketPath: socket, logger: logger),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }

    static func waitForCorosync(logger: Logger) async -> ClusterSnapshot {
        var pause = Duration.milliseconds(100)
        var warned = false
        while true {
            do {
                return try await ClusterMonitor.readSnapshot()
            } catch {
                if !warned {
                    logger.warning("waiting for corosync: \(error)")
                    warned = true
                }
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(2))
            }
        }
    }

    /// The replicated document from the last run, or revision 1 of config.yml's cluster part.
    static func loadDocument(path: String, configuration: ClusterConfiguration, logger: Logger) -> ClusterDocument {
        if let bytes = try? AtomicFile.read(path) {
            do {
                return try JSONDecoder().decode(ClusterDocument.self, from: Data(bytes))
            } catch {
                logger.warning("ignoring unreadable \(path): \(error)")
            }
        }
        return ClusterDocument(revision: 1, configuration: configuration)
    }
}

extension LogLevel {
    var swiftLogLevel: String {
        switch self {
        case .debug: "debug"
        case .info: "info"
        case .warn: "warning"
        case .error: "error"
        }
    }
}
