import Foundation
import SFHABase
import SFHACore
import SFHALab
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The safety promise under faults that a single isolation does not show: a flapping link, CPU load, a hung or
/// resumed daemon, a graceful stop. Every scenario runs with the watcher and the prober and asserts zero samples
/// with two holders, zero announcement overlaps and zero VIPs held without quorum.
extension LabTests {
    @Suite(.timeLimit(.minutes(20))) struct DaemonSafety {
        /// The holder's link is cut for `period`, back for a moment, cut again, for a minute, with two CPU-bound
        /// processes running on this 2-core machine (timing bugs showed only under load). Before the fix every period
        /// put the VIP on two nodes (a cut-off holder's corosync kept saying quorate while the others had formed a
        /// ring without it).
        @Test(arguments: [1, 2, 5])
        func flappingHolderLinkUnderLoad(periodSeconds: Int) async throws {
            try await CPULoad.with(processes: 2) {
                try await DaemonLab.with("lt-flap\(periodSeconds)") { lab in
                    try await lab.flapHolderLink(period: .seconds(periodSeconds), for: .seconds(60))
                }
            }
        }
    }
}

extension DaemonLab {
    /// How long a flapping link comes back between two cuts.
    static let flapReconnection: Duration = .milliseconds(200)

    /// Isolates whichever node holds the VIP (or held it last), plugs it back in after `period` for
    /// `flapReconnection`, and again, for `duration`; then heals everything and checks that the cluster settles with
    /// the VIP never on two nodes.
    func flapHolderLink(period: Duration, for duration: Duration) async throws {
        let scenario = "flapping holder link, period \(period)"
        var target = try await settle()
        let start = LabClock.now()
        let clock = ContinuousClock()
        let end = clock.now + duration
        var cycles = 0
        while clock.now < end {
            if let current = watcher.latest?.holders(of: vip).first { target = current }
            try await lab.isolate(target)
            try await Task.sleep(for: period)
            try await lab.rejoin(target)
            try await Task.sleep(for: Self.flapReconnection)
            cycles += 1
        }
        try await lab.heal()
        let holder = try await settle(timeout: .seconds(60))
        print("[\(scenario)] \(cycles) cycles, settled on \(holder)")
        expectSafety(scenario, since: start)
    }
}

/// CPU-bound processes on this machine for the duration of a test (`sha256sum /dev/zero`: pure computation, no
/// shell), killed afterwards whatever happens.
enum CPULoad {
    static func with<T>(processes count: Int, _ body: () async throws -> T) async throws -> T {
        var pids: [pid_t] = []
        for _ in 0..<count {
            var pid: pid_t = 0
            let path = SystemProgramRunner.resolve("sha256sum") ?? "/usr/bin/sha256sum"
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), strdup("/dev/zero"), nil]
            defer { for pointer in argv { free(pointer) } }
            var actions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            defer { posix_spawn_file_actions_destroy(&actions) }
            let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
            try #require(rc == 0, "started a CPU-bound process (\(path) /dev/zero): \(String(cString: strerror(rc)))")
            pids.append(pid)
        }
        defer {
            for pid in pids {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
            }
        }
        return try await body()
    }
}
