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
            for await event in monitor.events.cancelOnGracefulShutdown() { await runtime.corosync(event) }
            tasks.cancelAll()
        }
    }
}

/// Keeps this daemon in the `sfha` process group (rejoining after corosync comes back) and feeds what it delivers
/// to the runtime. On graceful shutdown it hands the node's groups over before leaving.
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
                    for try await event in group.events { await runtime.groupEvent(event) }
                } catch {
                    logger.debug("process group unavailable, retrying", metadata: ["error": "\(error)"])
                }
                await runtime.attach(nil)
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(2))
            }
        } onGracefulShutdown: {
            Task { await runtime.shutdown() }
        }
    }
}

/// The low-rate heartbeat: re-publishes this node's report (a hung daemon stops doing so) and re-evaluates timed
/// rules (takeover delay, failback delay, failure timeouts).
public struct HeartbeatService: Service {
    let runtime: DaemonRuntime
    let interval: Duration

    public init(runtime: DaemonRuntime, interval: Duration = .seconds(1)) {
        self.runtime = runtime
        self.interval = interval
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: interval)
            await runtime.tick()
        }
    }
}

/// Refreshes the held VIPs' leases. VIPs are added with a short lifetime (`DaemonTimings.vipLease`) so that they
/// disappear by themselves when sfhad is killed or hangs; this service keeps them alive while sfhad runs.
public struct LeaseService: Service {
    let runtime: DaemonRuntime
    let interval: Duration

    public init(runtime: DaemonRuntime, interval: Duration = DaemonTimings.leaseRefresh) {
        self.runtime = runtime
        self.interval = interval
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await runtime.refreshLeases()
            try? await Task.sleep(for: interval)
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
