import Foundation
import SFHABase
import SFHACore
import SFHALab
import Testing

/// sfhad's health checks for real: the demo web service's HTTP check fails on the holder, sfhad restarts it in place,
/// and after the restart limit the group moves — never with the VIP on two nodes.
extension LabTests {
    @Suite(.timeLimit(.minutes(10))) struct DaemonHealth {
        @Test func aFailingServiceIsRestartedThenItsGroupMovesAndCleanupUnblocksIt() async throws {
            let check = """
                critical: true
                restart_service: true
                healthcheck:
                  type: http
                  target: http://127.0.0.1:8080/index.html
                  interval_ms: 500
                  timeout_ms: 400
                  failures_before_unhealthy: 2
                  successes_before_healthy: 1
                failure_policy:
                  max_restarts: 1
                  window: 60
                """
            try await LabTests.Daemon.withCluster("lt-sfhealth", settings: .init(serviceOptions: check)) { cluster in
                let lab = cluster.lab
                let address = cluster.vip.address
                let started = try await cluster.watch(timeout: .seconds(20)) { $0.count == 1 }
                let holder = try #require(started.last.first)
                func health(_ node: String) async throws -> HealthReport? {
                    let result = try await cluster.sfha(node, ["health", "--json"])
                    return try? JSONDecoder().decode(HealthReport.self, from: Data(result.standardOutput.utf8))
                }
                // The holder runs the service's check, and it is healthy.
                let checking = try await LabTestSupport.eventually(timeout: .seconds(10)) {
                    try await health(holder)?.checks.contains { $0.name == "web" && $0.healthy && $0.probes > 0 } == true
                }
                #expect(checking)

                // Break the service on the holder only: its check now gets 404.
                let page = "\(try #require(try lab.node(holder).stateDirectory))/demo-web/index.html"
                try FileManager.default.removeItem(atPath: page)
                let moved = try await cluster.watch(timeout: .seconds(30)) { $0.count == 1 && $0[0] != holder }
                print("service check failing on \(holder): \(moved.samples) samples, \(moved.dual) with two holders, now on \(moved.last)")
                #expect(moved.dual == 0)
                let newHolder = try #require(moved.last.first)
                #expect(newHolder != holder)
                // It was restarted once in place before the group moved, and the failure is recorded.
                let report = try #require(try await health(holder))
                let failure = try #require(report.failures.first { $0.service == "web" })
                #expect(failure.failed && failure.restartsInWindow == 1)
                let served = try await LabTestSupport.eventually(timeout: .seconds(10)) {
                    LabTestSupport.trimmed(try await LabTestSupport.fetchFromClient(lab, "http://\(address):8080/").standardOutput) == newHolder
                }
                #expect(served)
                // Every node's status shows the failures counted on the old holder; cleanup forgets them.
                let counted = try await LabTestSupport.eventually(timeout: .seconds(5)) {
                    let status = try await cluster.sfha(newHolder, ["status", "--json"])
                    let decoded = try? ControlJSON.decoder().decode(DaemonStatus.self, from: Data(status.standardOutput.utf8))
                    return (decoded?.nodes.first { $0.name == holder }?.failures ?? 0) >= 2
                }
                #expect(counted)
                try AtomicFile.write("\(holder)\n", to: page, mode: 0o644)
                let cleanup = try await cluster.sfha(newHolder, ["resource", "cleanup", "default"])
                #expect(cleanup.succeeded, "\(cleanup.standardError)")
                let cleared = try await LabTestSupport.eventually(timeout: .seconds(5)) {
                    try await health(holder)?.failures.contains { $0.failed } == false
                }
                #expect(cleared)
                // Stickiness: the group stays where it is.
                let after = try await cluster.watch(timeout: .seconds(3)) { _ in false }
                #expect(after.dual == 0 && after.last == [newHolder])
            }
        }
    }
}

extension LabTests.DaemonHealth {
    /// Before: a service without a health check that was killed stayed down (`HEALTH ok`, `FAILURES 0`, the client
    /// refused). Now the unit's own state is watched: killed once, it is restarted in place; killed again with the
    /// restart spent, its group moves, the failure shows in `status`, never with the VIP on two nodes.
    @Test func aKilledUnitWithoutAHealthCheckIsRestartedThenItsGroupMoves() async throws {
        let policy = """
            critical: true
            restart_service: true
            failure_policy:
              max_restarts: 1
              window: 60
            """
        try await LabTests.Daemon.withCluster("lt-sfunit", settings: .init(serviceOptions: policy)) { cluster in
            let lab = cluster.lab
            let started = try await cluster.watch(timeout: .seconds(20)) { $0.count == 1 }
            let holder = try #require(started.last.first)
            func mainPID() async throws -> Int32? {
                let shown = try await lab.systemctl(holder, ["show", "-p", "MainPID", "--value", "sfha-demo-web"])
                return Int32(LabTestSupport.trimmed(shown.standardOutput)).flatMap { $0 > 0 ? $0 : nil }
            }
            func failures() async throws -> [HealthReport.Failure] {
                let result = try await cluster.sfha(holder, ["health", "--json"])
                return (try? JSONDecoder().decode(HealthReport.self, from: Data(result.standardOutput.utf8)))?.failures ?? []
            }
            var first: Int32?
            let running = try await LabTestSupport.eventually(timeout: .seconds(10)) {
                first = try await mainPID()
                return first != nil
            }
            try #require(running, "the demo service runs on the holder \(holder)")
            #expect(kill(try #require(first), SIGKILL) == 0)
            var second: Int32?
            let restarted = try await LabTestSupport.eventually(timeout: .seconds(15)) {
                second = try await mainPID()
                return second != nil && second != first
            }
            #expect(restarted, "sfhad restarted the killed unit in place")
            #expect(try await failures().contains { $0.service == "web" && $0.restartsInWindow == 1 && !$0.failed })
            #expect(try await cluster.holders() == [holder])

            // Killed again, the one restart spent: the group moves.
            #expect(kill(try #require(second), SIGKILL) == 0)
            let moved = try await cluster.watch(timeout: .seconds(30)) { $0.count == 1 && $0[0] != holder }
            #expect(moved.dual == 0)
            let newHolder = try #require(moved.last.first)
            #expect(newHolder != holder)
            let record = try await failures().first { $0.service == "web" }
            #expect(record?.failed == true && record?.lastReason.contains("sfha-demo-web") == true, "\(String(describing: record))")
            let shown = try await LabTestSupport.eventually(timeout: .seconds(5)) {
                let status = try await cluster.sfha(newHolder, ["status", "--json"])
                let decoded = try? ControlJSON.decoder().decode(DaemonStatus.self, from: Data(status.standardOutput.utf8))
                return (decoded?.nodes.first { $0.name == holder }?.failures ?? 0) >= 2
            }
            #expect(shown, "every node's status counts the failures on \(holder)")
            let served = try await LabTestSupport.eventually(timeout: .seconds(10)) {
                LabTestSupport.trimmed(try await LabTestSupport.fetchFromClient(lab, "http://\(cluster.vip.address):8080/").standardOutput) == newHolder
            }
            #expect(served)
        }
    }
}

extension LabTests.Daemon {
    /// `config.yml` edited on one node + SIGHUP: the cluster part is committed everywhere and the new VIP comes up on
    /// the holder; an invalid file is refused and changes nothing; the daemon and corosync keep running.
    @Test func sighupCommitsAnEditedConfigurationAndRefusesAnInvalidOne() async throws {
        try await Self.withCluster("lt-sfhup") { cluster in
            let lab = cluster.lab
            let holder = try await cluster.holders()[0]
            let editor = lab.nodes.map(\.name).first { $0 != holder }!
            let corosyncPIDs = try lab.nodes.map { node in try lab.processes(on: node.name).first { $0.name == "corosync" }?.pid }
            let path = "\(try #require(try lab.node(editor).stateDirectory))/etc-sfha/config.yml"
            let original = String(decoding: try AtomicFile.read(path), as: UTF8.self)
            let extra = try #require(IPAddress(try lab.spec.resolvedSubnet().address(host: 101)))
            try AtomicFile.write(
                original.replacingOccurrences(of: "vips:\n", with: "vips:\n  - name: vip-extra\n    ip: \(extra)/24\n"), to: path)
            let sfhad = try #require(try cluster.sfhadPID(editor))
            #expect(kill(sfhad, SIGHUP) == 0)
            let extraVIP = VirtualIP(name: "vip-extra", address: extra, prefixLength: 24, interface: "eth0")
            let up = try await LabTestSupport.eventually(timeout: .seconds(10)) {
                try await cluster.addresses[holder]!.isPresent(extraVIP)
            }
            #expect(up, "the new VIP comes up on the holder \(holder)")
            var revisions: [UInt64] = []
            for node in lab.nodes.map(\.name) {
                let status = try await cluster.sfha(node, ["status", "--json"])
                revisions.append(try ControlJSON.decoder().decode(DaemonStatus.self, from: Data(status.standardOutput.utf8)).configurationRevision)
            }
            #expect(revisions == [2, 2, 2])

            // An invalid file: refused (exit 1), the revision stays, the daemon keeps running.
            try AtomicFile.write(original + "\nvips: [\n", to: path)
            let refused = try await cluster.sfha(editor, ["reload"])
            #expect(refused.exitCode == 2 && refused.standardError.contains("invalid"), "an invalid file is an invalid configuration (exit 2)")
            #expect(kill(sfhad, SIGHUP) == 0)
            // The signal's reload is refused too: wait for its log line (the second refusal) rather than a while.
            let signalRefused = try await LabTestSupport.eventually(timeout: .seconds(10)) {
                let logs = try await cluster.sfha(editor, ["logs", "-n", "200"]).standardOutput
                return logs.components(separatedBy: "reload refused").count - 1 >= 2
            }
            #expect(signalRefused, "sfhad logged the refusal of the SIGHUP reload")
            #expect(try cluster.sfhadPID(editor) == sfhad)
            let status = try await cluster.sfha(editor, ["status", "--json"])
            #expect(try ControlJSON.decoder().decode(DaemonStatus.self, from: Data(status.standardOutput.utf8)).configurationRevision == 2)
            // corosync was not restarted by any of this (same PID on every node).
            #expect(try lab.nodes.map { node in try lab.processes(on: node.name).first { $0.name == "corosync" }?.pid } == corosyncPIDs)
        }
    }
}
