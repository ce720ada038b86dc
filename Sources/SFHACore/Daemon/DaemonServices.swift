import AsyncAlgorithms
import CorosyncKit
import Logging
import ServiceLifecycle

/// Follows corosync (membership, quorum, connection loss) and feeds the runtime.
public struct CorosyncWatchService: Service {
    let runtime: DaemonRuntime
    let monitor: ClusterMonitor

    public init(runtime: DaemonRuntime, monitor: ClusterMonitor = ClusterMonitor()) {
        self.runtime = runtime
        self.monitor = monitor
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { tasks in
            tasks.addTask { await monitor.run() }
            for await event in monitor.events.cancelOnGracefulShutdown() {
                switch event {
                case .connected, .nodeListChanged:
                    // The token settings size the proof window and the fence; read them beside the event loop.
                    tasks.addTask { await Self.readTotemSettings(into: runtime) }
                default:
                    break
                }
                await runtime.corosync(event)
            }
            tasks.cancelAll()
        }
    }

    static func readTotemSettings(into runtime: DaemonRuntime) async {
        guard let cmap = try? CMap() else { return }
        defer { cmap.close() }
        func milliseconds(_ key: String) async -> Duration? {
            (try? await cmap.get(key))??.unsignedValue.map { .milliseconds(Int64(clamping: $0)) }
        }
        guard let token = await milliseconds("runtime.config.totem.token") else { return }
        let hold = await milliseconds("runtime.config.totem.hold") ?? token / 4
        await runtime.setTotemSettings(token: token, hold: hold)
    }
}

/// Keeps this daemon in the `sfha` process group (rejoining after corosync comes back) and feeds what it delivers
/// to the runtime. On graceful shutdown it hands the node's groups over before leaving: the services listed before
/// it in the group (lease refresh, message sender, corosync's counters) are still running meanwhile.
public struct ProcessGroupService: Service {
    let runtime: DaemonRuntime
    let logger: Logger

    public init(runtime: DaemonRuntime, logger: Logger) {
        self.runtime = runtime
        self.logger = logger
    }

    public func run() async throws {
        var pause = Duration.milliseconds(100)
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                do {
                    let group = try ProcessGroup(joining: DaemonRuntime.processGroupName)
                    await runtime.attach(group)
                    pause = .milliseconds(100)
                    // Not cancelled on graceful shutdown: that would close the connection before the handover's last
                    // report; the handover leaves the group, which ends this stream.
                    for try await event in group.events { await runtime.groupEvent(event) }
                } catch {
                    logger.debug("process group unavailable, retrying", metadata: ["error": "\(error)"])
                }
                guard !Task.isShuttingDownGracefully else { break }
                await runtime.attach(nil)
                let wait = pause
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
                pause = min(pause * 2, .seconds(2))
            }
        } onGracefulShutdown: {
            logger.notice("stopping: handing this node's groups over")
            Task { await runtime.shutdown() }
        }
        // The handover has run (or runs now, if the group was never joined) while the services started before this
        // one still run.
        await runtime.shutdown()
    }
}

/// Reads corosync's totem counters on a real-time thread (`TotemActivityMonitor`) into the membership proof, and
/// feeds the proof's events to the runtime.
public struct TotemService: Service {
    let runtime: DaemonRuntime
    let endpoint: CorosyncEndpoint

    public init(runtime: DaemonRuntime, endpoint: CorosyncEndpoint = .local) {
        self.runtime = runtime
        self.endpoint = endpoint
    }

    public func run() async throws {
        let proof = runtime.proof
        let monitor = TotemActivityMonitor(
            endpoint: endpoint, interval: DaemonTimings.totemPollInterval, pauseAfterGather: DaemonTimings.totemPauseLimit,
            resumeSignal: { proof.synchronisationsFinished }, observe: { proof.observe($0) })
        monitor.start()
        defer { monitor.stop() }
        for await event in proof.events.cancelOnGracefulShutdown() { await runtime.proofEvent(event) }
    }
}

/// Hands this daemon's messages to corosync, beside the core loop (`GroupSender`).
public struct SenderService: Service {
    let runtime: DaemonRuntime

    public init(runtime: DaemonRuntime) { self.runtime = runtime }

    public func run() async throws {
        // The handover's last report still goes out: the runtime finishes the sender when it is done, and the service
        // then waits for its own turn to stop (a service that ends early fails the whole group).
        await runtime.sender.run()
        try? await gracefulShutdown()
    }
}

/// Brings the machine to the newest assignment, beside the core loop (`DaemonRuntime.runReconciler`).
public struct ReconcileService: Service {
    let runtime: DaemonRuntime

    public init(runtime: DaemonRuntime) { self.runtime = runtime }

    public func run() async throws {
        for await _ in runtime.reconcileWakeups.cancelOnGracefulShutdown() { await runtime.reconcileOnce() }
    }
}

/// Re-reads what the machine has (`DaemonRuntime.readMachine`): at start, after every commit, and every
/// `DaemonTimings.machineRefresh` (an interface or a unit file may come or go at any time).
public struct MachineService: Service {
    let runtime: DaemonRuntime
    let interval: Duration

    public init(runtime: DaemonRuntime, interval: Duration = DaemonTimings.machineRefresh) {
        self.runtime = runtime
        self.interval = interval
    }

    public func run() async throws {
        await runtime.readMachine()
        await withDiscardingTaskGroup { tasks in
            tasks.addTask {
                for await _ in runtime.machineWakeups.cancelOnGracefulShutdown() { await runtime.readMachine() }
            }
            tasks.addTask {
                for await _ in AsyncTimerSequence(interval: interval, clock: .continuous).cancelOnGracefulShutdown() {
                    await runtime.readMachine()
                }
            }
        }
    }
}

/// The low-rate heartbeat: re-publishes this node's report (a hung daemon stops doing so) and re-evaluates timed
/// rules (failback delay, failure timeouts).
public struct HeartbeatService: Service {
    let runtime: DaemonRuntime
    let interval: Duration

    public init(runtime: DaemonRuntime, interval: Duration = DaemonTimings.heartbeat) {
        self.runtime = runtime
        self.interval = interval
    }

    public func run() async throws {
        for await _ in AsyncTimerSequence(interval: interval, clock: .continuous).cancelOnGracefulShutdown() {
            await runtime.tick()
        }
    }
}

/// The core loop's beat and the VIP leases. VIPs are added with a short lifetime (`DaemonTimings.vipLease`) so
/// that they disappear by themselves when sfhad is killed, hangs, or cannot prove it is in the quorate ring; this
/// service extends them while all is well. It runs until the very end of a graceful stop (it is the first service of
/// the group), so the stall watchdog keeps being fed through the handover.
public struct LeaseService: Service {
    let runtime: DaemonRuntime
    let interval: Duration

    public init(runtime: DaemonRuntime, interval: Duration = DaemonTimings.leaseRefresh) {
        self.runtime = runtime
        self.interval = interval
    }

    public func run() async throws {
        let gate = runtime.gate
        let reconciler = runtime.reconciler
        await runtime.beat()
        for await _ in AsyncTimerSequence(interval: interval, clock: .continuous).cancelOnGracefulShutdown() {
            await runtime.beat()
            let lapsed = await reconciler.refreshLeases(allowed: gate.mayRefresh())
            if !lapsed.isEmpty { await runtime.leasesLapsed(lapsed) }
        }
    }
}

/// Runs the health checks the runtime asks for (node checks, and the service checks of the groups held here) and
/// feeds their state changes back. A new set of checks (a group acquired or released, a new configuration)
/// replaces the running monitor.
public struct HealthService: Service {
    let runtime: DaemonRuntime
    let probe: any HealthProbe

    public init(runtime: DaemonRuntime, probe: any HealthProbe) {
        self.runtime = runtime
        self.probe = probe
    }

    public func run() async throws {
        await withDiscardingTaskGroup { tasks in
            var current: HealthMonitor?
            for await checks in runtime.healthCheckSets.cancelOnGracefulShutdown() {
                await current?.stop()
                let monitor = HealthMonitor(checks: checks, probe: probe)
                current = monitor
                await runtime.healthMonitorStarted(monitor)
                await monitor.start()
                // Ends when the monitor is stopped (its event stream finishes).
                tasks.addTask { for await event in monitor.events { await runtime.health(event) } }
            }
            await current?.stop()
        }
    }
}
