/// One line of a simulation timeline.
public struct TimelineEntry: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        case event, corosync, daemon, decision, action, health, expectation, violation
    }
    public var time: Timestamp
    public var kind: Kind
    /// The nodes the line is about (empty for cluster-wide lines).
    public var nodes: [String]
    public var text: String
}

/// The outcome of a simulation: the timeline, and every invariant violation and failed expectation.
public struct SimulationResult: Sendable, Equatable, Codable {
    public var scenario: String
    public var timeline: [TimelineEntry]
    public var violations: [String]
    public var failedExpectations: [String]

    public var passed: Bool { violations.isEmpty && failedExpectations.isEmpty }

    /// The timeline as readable text (the golden-file format).
    public var text: String {
        var lines = timeline.map { entry in
            let ms = entry.time.nanoseconds / 1_000_000
            let time = "\(ms / 1000).\(String(ms % 1000).leftPadded(3, "0"))s".leftPadded(9, " ")
            let who = entry.nodes.isEmpty ? "" : entry.nodes.joined(separator: ",") + ": "
            return "\(time)  \(entry.kind.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0))\(who)\(entry.text)"
        }
        lines.append(passed ? "result: ok (no invariant violated, every expectation met)" : "result: FAILED")
        return lines.joined(separator: "\n") + "\n"
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int, _ pad: Character) -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}

/// Runs sfhad's real state machine (`DaemonState`: placement, the process-group protocol, claims, fences, hung
/// peers, proposals) and its real `LocalReconciler` (with fake effects: addresses and units live in memory) on
/// simulated nodes and a virtual clock. corosync is modelled: losses are noticed after `detection`, joins after
/// `join`; a ring that lost a member circulates no token until the next one forms (so no member is proven, and the
/// process group delivers nothing, meanwhile); VIPs carry a lease the daemon extends only while it may
/// (`EffectGate.mayRefresh`), and the kernel removes them when it runs out. `SimulationEngine.swift` has the model.
/// After every step it checks the invariants: never two holders of a group's VIPs, nothing held without quorum,
/// services only with their VIPs; and at every start, that the groups it starts after already run.
public struct Simulator {
    public let scenario: Scenario
    public private(set) var configuration: ClusterConfiguration

    public init(scenario: Scenario, configuration: ClusterConfiguration) {
        self.scenario = scenario
        self.configuration = configuration
    }

    public func run() async -> SimulationResult {
        var engine = Engine(scenario: scenario, configuration: configuration)
        await engine.run()
        return SimulationResult(
            scenario: scenario.name, timeline: engine.timeline, violations: engine.violations,
            failedExpectations: engine.failedExpectations)
    }
}
