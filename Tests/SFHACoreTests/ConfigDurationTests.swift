@testable import SFHACore
import Testing

@Suite("Durations", .timeLimit(.minutes(2)))
struct ConfigDurationTests {
    @Test(arguments: [
        ("5000", DurationUnit.milliseconds, 5000),
        ("5", .seconds, 5000),
        ("1.5", .seconds, 1500),
        ("0", .seconds, 0),
        ("500ms", .seconds, 500),
        ("5s", .milliseconds, 5000),
        ("2m", .seconds, 120_000),
        ("1h", .seconds, 3_600_000),
        ("1m30s", .seconds, 90_000),
        ("1h2m3s4ms", .seconds, 3_723_004),
        ("0.25s", .milliseconds, 250),
        ("1.5m", .seconds, 90_000),
    ])
    func accepted(text: String, unit: DurationUnit, milliseconds: Int64) throws {
        let duration = try DurationParser.parse(text, defaultUnit: unit).get()
        #expect(duration == .milliseconds(milliseconds))
    }

    @Test(arguments: [
        ("", "it is empty"),
        ("-1", "it is negative"),
        ("5 s", "it contains spaces (write 5s or 1m30s)"),
        ("5x", "unknown unit \"x\""),
        ("5d", "unknown unit \"d\""),
        ("1m30", "every number needs a unit"),
        ("s", "a number is missing"),
        ("1.", "a digit must follow the decimal point"),
        ("0.0001s", "it is not a whole number of milliseconds"),
        ("1.5ms", "it is not a whole number of milliseconds"),
        ("99999999999999999999", "it is too large"),
    ])
    func refused(text: String, problem: String) {
        let result = DurationParser.parse(text, defaultUnit: .seconds)
        #expect(result == .failure(DurationProblem(message: problem)))
    }

    @Test func keysUseTheirOwnUnitForBareNumbers() throws {
        let config = try ConfigTest.load(ConfigTest.minimal("""
            cluster:
              failover_delay_ms: 1500
            services:
              - name: a
                healthcheck: {type: tcp, target: "h:1", interval: 3, timeout: 1}
              - name: b
                healthcheck: {type: tcp, target: "h:1", interval_ms: 750ms, timeout_ms: 2s}
              - name: c
                healthcheck: {type: tcp, target: "h:1", interval: "1m", timeout_ms: 500}

            """))
        #expect(config.cluster.takeoverDelay == .milliseconds(1500))
        let checks = try #require(config.cluster.groups.first).services.compactMap(\.healthCheck)
        #expect(checks.map(\.interval) == [.seconds(3), .milliseconds(750), .seconds(60)])
        #expect(checks.map(\.timeout) == [.seconds(1), .seconds(2), .milliseconds(500)])
        // timeout (2 s) > interval (750 ms) is allowed but warned about.
        #expect(config.warnings.count == 1)
        #expect(config.warnings.first?.keyPath == "services[1].healthcheck")
    }

    @Test func bounds() {
        #expect(ConfigTest.errors(ConfigTest.minimal("cluster:\n  failover_delay_ms: 11m\n")) == [
            "/etc/sfha/config.yml:4:22: cluster.failover_delay_ms: 11m is out of range (expected 0s to 10m)",
        ])
        #expect(ConfigTest.errors(ConfigTest.minimal("health_checks:\n  - {name: c, target: \"h:1\", timeout: 0}\n")) == [
            "/etc/sfha/config.yml:4:39: health_checks[0].timeout: 0s is out of range (expected 100ms to 10m)",
        ])
        #expect(ConfigTest.errors(ConfigTest.minimal("health_checks:\n  - {name: c, target: \"h:1\", interval: [1]}\n")) == [
            "/etc/sfha/config.yml:4:40: health_checks[0].interval: expected a duration, found a list",
        ])
    }

    @Test func humanText() {
        #expect(Duration.milliseconds(500).sfhaText == "500ms")
        #expect(Duration.milliseconds(1500).sfhaText == "1500ms")
        #expect(Duration.seconds(90).sfhaText == "1m30s")
        #expect(Duration.seconds(7200).sfhaText == "2h")
        #expect(Duration.zero.sfhaText == "0s")
    }
}
