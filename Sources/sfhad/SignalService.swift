import Logging
import SFHABase
import SFHACore
import SFHAMetricsHTTP
import ServiceLifecycle
import UnixSignals

/// SIGHUP reloads the configuration; SIGUSR1 / SIGUSR2 put the node in / out of standby (as the original sfha).
struct SignalService: Service {
    let runtime: DaemonRuntime
    let reload: @Sendable (ReloadRequest) async throws(SFHAError) -> ChangeResult
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup, .sigusr1, .sigusr2)
        for await signal in signals.cancelOnGracefulShutdown() {
            switch signal {
            case .sighup:
                do {
                    let result = try await reload(ReloadRequest())
                    logger.notice("SIGHUP: \(result.message)")
                } catch {
                    // Invalid configuration, unconfirmed removals, no quorum: the old one is kept and the runtime has
                    // said why (once, as for `sfha reload`); never crash, unlike the original.
                }
            case .sigusr1:
                logger.notice("SIGUSR1: standby on")
                await runtime.setStandby(true)
            case .sigusr2:
                logger.notice("SIGUSR2: standby off")
                await runtime.setStandby(false)
            default:
                break
            }
        }
    }
}

/// Tells systemd the daemon is ready once every service runs, and that it is stopping on shutdown.
struct ReadinessService: Service {
    let notifier: any ServiceNotifier

    func run() async throws {
        notifier.notify(["READY": "1", "STATUS": "running"])
        try? await gracefulShutdown()
        notifier.notify(["STOPPING": "1", "STATUS": "handing over and stopping"])
    }
}

/// The optional TCP /metrics listener (`metrics.listen`). One that cannot listen (an address not on this node, a
/// port in use) is an error in the log, not a reason to stop sfhad: the groups it keeps matter more than a scrape.
struct MetricsListenerService: Service {
    let server: MetricsHTTPServer
    let logger: Logger

    func run() async throws {
        do {
            try await server.run()
        } catch {
            logger.error("\(error); /metrics stays available on the control socket ('sfha metrics')")
            try? await gracefulShutdown()
        }
    }
}
