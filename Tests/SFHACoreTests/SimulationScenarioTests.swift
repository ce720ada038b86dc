import Foundation
import SFHABase
import Testing

@testable import SFHACore

/// Every scenario in Tests/Scenarios runs through the simulator; its timeline must match the golden file next to it
/// (`NAME.expected`) and it must pass (no invariant violated, every expectation met).
/// `SFHA_UPDATE_GOLDEN=1 swift test --filter SimulationScenarioTests` rewrites the golden files after a reviewed change.
@Suite("simulation scenarios", .timeLimit(.minutes(5)))
struct SimulationScenarioTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Scenarios").path

    static let scenarios: [String] = {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".scenario") }.sorted()
    }()

    @Test func thereAreAtLeastSixtyScenarios() {
        #expect(Self.scenarios.count >= 60)
    }

    @Test(arguments: scenarios)
    func scenarioMatchesItsGoldenTimeline(_ file: String) async throws {
        let path = "\(Self.directory)/\(file)"
        let result = try await Simulator.load(scenarioPath: path).run()
        #expect(result.passed, "\(file): \(result.violations + result.failedExpectations)")
        let golden = path.replacingOccurrences(of: ".scenario", with: ".expected")
        if ProcessInfo.processInfo.environment["SFHA_UPDATE_GOLDEN"] == "1" {
            try AtomicFile.write(result.text, to: golden)
        }
        let expected = try AtomicFile.readText(golden)
        #expect(result.text == expected, "\(file): timeline differs from \(golden)")
    }
}

@Suite("simulator", .timeLimit(.minutes(5)))
struct SimulatorTests {
    static let configuration: ClusterConfiguration = {
        let yaml = """
            cluster:
              name: t
              quorum_required: false
            node:
              name: node1
            vips:
              - name: v
                ip: 192.0.2.1/24
            """
        return try! SFHAConfiguration.parse(yaml: yaml, path: "test.yml").cluster
    }()

    @Test func detectsTwoHoldersWhenQuorumIsNotRequiredAndTheNetworkSplits() async throws {
        // Without quorum both sides of a split keep or take the VIP: the invariant checker must catch it.
        let scenario = try Scenario(parsing: "nodes a b c\nat 0s start\nat 5s split a | b c\nend 15s\n", name: "unsafe")
        let result = await Simulator(scenario: scenario, configuration: Self.configuration).run()
        #expect(!result.passed)
        #expect(result.violations.contains { $0.contains("on a and b at once") })
    }

    @Test func detectsTwoHoldersWhenTwoNodesSplitWithoutFencing() async throws {
        // two_node keeps both halves quorate: without STONITH each side proves itself and takes the group.
        var configuration = Self.configuration
        configuration.quorumRequired = true
        let scenario = try Scenario(parsing: "nodes a b\nat 0s start\nat 5s split a | b\nend 20s\n", name: "two-node-split")
        let result = await Simulator(scenario: scenario, configuration: configuration).run()
        #expect(result.violations.contains { $0.contains("on a and b at once") })
    }

    @Test func failedExpectationsAreReported() async throws {
        let scenario = try Scenario(parsing: "nodes a b c\nat 0s start\nat 5s expect default b\n", name: "wrong")
        let result = await Simulator(scenario: scenario, configuration: Self.configuration).run()
        #expect(result.failedExpectations.count == 1)
        #expect(result.text.contains("FAILED: default expected on b but held by a"))
    }

    @Test func scenarioErrorsNameTheLine() {
        let cases: [(String, Int, String)] = [
            ("at 1s start\n", 1, "'nodes' must come before"),
            ("nodes a b\nat 1s isolate c\n", 2, "unknown node 'c'"),
            ("nodes a b\n\nat soon start\n", 3, "usage: at TIME"),
            ("nodes a b\nat 1s dance a\n", 2, "unknown event 'dance'"),
            ("nodes a a\n", 1, "duplicate node name"),
            ("nodes a b\nat 1s split a\n", 2, "usage: split"),
            ("nodes a\nbogus\n", 2, "unknown statement 'bogus'"),
        ]
        for (text, line, reason) in cases {
            do {
                _ = try Scenario(parsing: text, name: "s")
                Issue.record("expected an error for \(text.debugDescription)")
            } catch {
                #expect(error.line == line, "\(text.debugDescription)")
                #expect(error.reason.contains(reason), "\(error.reason)")
            }
        }
    }

    @Test func parsesEveryEventAndTimeUnit() throws {
        let text = """
            config c.yml
            nodes a b c   # three nodes
            priority a 200
            detection 2500ms
            join 0.5s
            lease 1s
            token 4.25s
            at 0s start
            at 5s hang c
            at 6s resume c
            at 1m standby b
            at 1.5s split a,b | c
            at 2s failover web to c
            at 3s maintenance on
            at 4s expect web none
            end 2m
            """
        let scenario = try Scenario(parsing: text, name: "all")
        #expect(scenario.configuration == "c.yml")
        #expect(scenario.priorities == ["a": 200])
        #expect(scenario.detection == .milliseconds(2500) && scenario.join == .milliseconds(500))
        #expect(scenario.token == .milliseconds(4250))
        #expect(scenario.events.map(\.event) == [
            .start([]), .split([["a", "b"], ["c"]]), .failover(group: "web", to: "c"), .maintenance(true),
            .expect(group: "web", holder: nil), .hang("c"), .resume("c"), .standby("b"),
        ])
        #expect(scenario.end == .zero + .seconds(120))
    }
}
