import ArgumentParser
import CorosyncKit
import Foundation
import Logging
import MeshKit
import P2PKit
import Metrics
import Prometheus
import SFHABase
import SFHACore
import SFHAMetricsHTTP
import ServiceLifecycle

/// `sfhad`: keeps each resource group on exactly one live, quorate, healthy node.
@main
struct SFHADaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sfhad",
        abstract: "The sfha daemon: VIPs and services on one live, quorate, healthy node of a corosync cluster.",
        discussion: """
            Signals: SIGTERM/SIGINT hand the node's groups over and stop; SIGHUP reloads the configuration (an \
            invalid file is refused and the running configuration kept); SIGUSR1/SIGUSR2 put the node in / out of \
            standby.
            """)

    @Option(name: [.short, .long], help: "Configuration file.")
    var config = SFHAConfiguration.defaultPath

    @Option(name: .long, help: "Directory for the replicated cluster document.")
    var stateDirectory = "/var/lib/sfha"

    @Option(name: .long, help: "Control socket (the sfha CLI talks to sfhad through it).")
    var socket = ControlServer.defaultSocketPath

    @Option(name: .long, help: "Log level (trace, debug, info, notice, warning, error); default: the configuration's.")
    var logLevel: String?

    func run() async throws {
        let loaded: SFHAConfiguration
        do {
            loaded = try SFHAConfiguration.load(path: config)
        } catch {
            FileHandle.standardError.write(Data("sfhad: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let level = DaemonLogLevel(logLevel.flatMap(Logger.Level.init(rawValue:)) ?? loaded.node.logLevel.loggerLevel)
        let logBuffer = DaemonLogBuffer()
        // Logging never waits for standard error (see BackgroundLineWriter); flushed before every exit.
        let logWriter = BackgroundLineWriter()
        LoggingSystem.bootstrap { label in DaemonLogHandler(label: label, level: level, buffer: logBuffer, write: logWriter.write) }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "sfha.daemon")
        for warning in loaded.warnings { logger.warning("\(warning)") }
        let notifier = SystemdNotifier()

        // Who am I in corosync? Wait for corosync (it may still be starting), then check the names agree.
        notifier.notify(["STATUS": "waiting for corosync"])
        let snapshot = await Self.waitForCorosync(logger: logger)
        let localName = snapshot.member(snapshot.localNodeID)?.name
        if let localName, localName != loaded.node.name {
            logger.error("node.name '\(loaded.node.name)' is not this node's corosync name '\(localName)'; fix \(config)")
            logWriter.flush()
            throw ExitCode(1)
        }

        let documentPath = "\(stateDirectory)/cluster.json"
        let document = Self.loadDocument(path: documentPath, configuration: loaded.cluster, logger: logger)
        try? FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        let liveness = DaemonLiveness(notifier: notifier, watchdogInterval: notifier.watchdogInterval)
        // When this node can no longer prove it is in the quorate ring, its VIP leases are no longer extended: the
        // kernel removes the VIPs by itself (a proof that comes back in time keeps them, without a gap).
        let proof = MembershipProof()
        let runtime = DaemonRuntime(
            node: loaded.node, nodeID: snapshot.localNodeID, document: document,
            effects: .system(vipLease: DaemonTimings.vipLease), documentPath: documentPath, seededFrom: loaded.cluster,
            liveness: liveness, proof: proof, mesh: WireGuardCommandController(), corosyncReloader: LibcfgReloader(), logger: logger)
        await runtime.start()
        StallWatchdog(
            liveness: liveness, release: { StallWatchdog.removeWithNetlink($0) },
            terminate: { message in
                logger.critical("\(message)")
                logWriter.flush()
                Foundation.exit(StallWatchdog.exitStatus)
            }
        ).start()
        logger.notice("sfhad started", metadata: ["node": "\(loaded.node.name)", "node_id": "\(snapshot.localNodeID)", "revision": "\(document.revision)"])

        let configPath = config
        // SIGHUP confirms no removal (nobody to ask): a reload that would remove anything is refused and logged.
        let reload: @Sendable (ReloadRequest) async throws(SFHAError) -> ChangeResult = { request in
            notifier.notify(["RELOADING": "1", "MONOTONIC_USEC": SystemdNotifier.monotonicMicroseconds()])
            defer { notifier.notify(["READY": "1", "STATUS": "running"]) }
            return try await runtime.reload(path: configPath, confirmedRemovals: request.confirmedRemovals) { level.level = $0.loggerLevel }
        }
        let emitMetrics: @Sendable () -> [UInt8] = {
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return buffer
        }
        let router = runtime.controlRouter(
            reload: reload, configurationPath: configPath,
            metrics: emitMetrics,
            logs: logBuffer,
            meshStatus: { () async throws(SFHAError) -> MeshStatusReport in
                try await runtime.meshStatus(mesh: WireGuardCommandController()) { record in
                    guard let key = P2PService.loadKey() else { return [:] }
                    return await P2PService.ping(record, key: key)
                }
            },
            membershipPeers: P2PService.loadKey().map { P2PMembershipPeers(key: $0) },
            repairPeers: P2PService.loadKey().map { P2PMembershipPeers(key: $0) })
        // A graceful stop ends the services in reverse order, each awaited: the handover (in ProcessGroupService)
        // runs while the lease refresh (the core loop's beat), the message sender, corosync's counters and the
        // corosync watch still run.
        var services: [any Service] = [
            LeaseService(runtime: runtime), SenderService(runtime: runtime), TotemService(runtime: runtime),
            CorosyncWatchService(runtime: runtime), ProcessGroupService(runtime: runtime, logger: logger),
            ReconcileService(runtime: runtime), HeartbeatService(runtime: runtime), MachineService(runtime: runtime),
            HealthService(runtime: runtime, probe: SystemHealthProbe()),
            ControlService(router: router, socketPath: socket, logger: logger),
            SignalService(runtime: runtime, reload: reload, logger: logger),
            ReadinessService(notifier: notifier),
            P2PService(runtime: runtime, logger: logger),
        ]
        if let listen = loaded.node.metricsListen {
            services.append(MetricsListenerService(
                server: MetricsHTTPServer(host: "\(listen.address)", port: Int(listen.port), logger: logger, render: emitMetrics),
                logger: logger))
        }
        let group = ServiceGroup(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
        logger.notice("sfhad stopped", metadata: ["node": "\(loaded.node.name)"])
        logWriter.flush()
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
                // The same rules as config.yml: a document damaged or forged on disk is not run.
                return try JSONDecoder().decode(ClusterDocument.self, from: Data(bytes)).validated(origin: path)
            } catch {
                logger.warning("ignoring \(path), which is not a valid cluster document (starting from config.yml's cluster part): \(error)")
            }
        }
        return ClusterDocument(revision: 1, configuration: configuration)
    }
}
