/// A simulation scenario: the cluster's nodes, corosync timings, and timed events. Text, one statement per line:
///
///     # comment
///     config basic.yml               (the configuration, relative to the scenario; `--config` overrides it)
///     nodes node1 node2 node3        (required; node ids 1, 2, 3 in this order)
///     priority node2 150             (a node's own priority, as its node.priority)
///     detection 3s                   (corosync: time to notice a lost node; default 3s)
///     join 1s                        (corosync: time for a node to join; default 1s)
///     lease 1s                       (VIP lifetime a live daemon keeps refreshing; default 1s)
///     at 10s isolate node1           (see `ScenarioEvent` for every event)
///     at 15s expect web node2        (an expectation, checked and reported in the timeline)
///     end 60s                        (default: 20 s after the last event)
public struct Scenario: Sendable, Equatable {
    public var name: String
    public var configuration: String?
    public var nodes: [String]
    public var priorities: [String: Int] = [:]
    public var detection: Duration = .seconds(3)
    public var join: Duration = .seconds(1)
    public var lease: Duration = .seconds(1)
    /// corosync's token timeout (the acquisition fence counts one per further absent node).
    public var token: Duration = .seconds(1)
    public var events: [(time: Timestamp, event: ScenarioEvent, line: Int)] = []
    public var end: Timestamp

    public static func == (lhs: Scenario, rhs: Scenario) -> Bool {
        lhs.name == rhs.name && lhs.configuration == rhs.configuration && lhs.nodes == rhs.nodes && lhs.priorities == rhs.priorities && lhs.detection == rhs.detection
            && lhs.join == rhs.join && lhs.lease == rhs.lease && lhs.token == rhs.token && lhs.end == rhs.end
            && lhs.events.map(\.time) == rhs.events.map(\.time) && lhs.events.map(\.event) == rhs.events.map(\.event)
    }
}

/// Everything that can happen in a scenario.
public enum ScenarioEvent: Sendable, Equatable, CustomStringConvertible {
    /// Power on nodes (corosync and sfhad start). No names: every node.
    case start([String])
    /// The machine dies at once (corosync, sfhad, addresses and services gone) / comes back.
    case powerOff(String), powerOn(String)
    /// The node's network cable is pulled / plugged back.
    case isolate(String), rejoin(String)
    /// The network splits into groups (nodes in no group keep their links) / every cut is healed.
    case split([[String]]), heal
    /// The node receives nothing (it can still send): for corosync it is cut off like `isolate`.
    case dropIncoming(String)
    /// sfhad is killed (SIGKILL) / started again / stopped gracefully (it hands its groups over first).
    case crash(String), restart(String), stop(String)
    case hang(String), resume(String)
    /// corosync stops / starts on the node.
    case corosyncStop(String), corosyncStart(String)
    /// A managed service's health check starts failing / passes again on a node.
    case serviceFail(node: String, service: String), serviceRecover(node: String, service: String)
    /// A node-level health check fails / recovers.
    case checkFail(node: String, check: String), checkRecover(node: String, check: String)
    case standby(String), unstandby(String)
    case maintenance(Bool)
    /// `sfha failover GROUP [--to NODE]`.
    case failover(group: String, to: String?)
    /// `sfha resource cleanup GROUP [NODE]`: forget failures.
    case cleanup(group: String, node: String?)
    /// Configuration changes (a new committed revision of the cluster document).
    case setNodePriority(node: String, priority: Int), setFailback(group: String, enabled: Bool)
    /// Expect a group's holder (`nil`: nobody) at this instant.
    case expect(group: String, holder: String?)

    public var description: String {
        switch self {
        case .start(let nodes): nodes.isEmpty ? "start all nodes" : "start \(nodes.joined(separator: " "))"
        case .powerOff(let n): "power off \(n)"
        case .powerOn(let n): "power on \(n)"
        case .isolate(let n): "isolate \(n)"
        case .rejoin(let n): "rejoin \(n)"
        case .split(let groups): "split " + groups.map { $0.joined(separator: ",") }.joined(separator: " | ")
        case .heal: "heal the network"
        case .dropIncoming(let n): "\(n) receives nothing"
        case .crash(let n): "sfhad killed on \(n)"
        case .restart(let n): "sfhad started on \(n)"
        case .stop(let n): "sfhad stopped on \(n)"
        case .hang(let n): "sfhad frozen on \(n) (SIGSTOP)"
        case .resume(let n): "sfhad resumed on \(n) (SIGCONT)"
        case .corosyncStop(let n): "corosync stopped on \(n)"
        case .corosyncStart(let n): "corosync started on \(n)"
        case .serviceFail(let n, let s): "service \(s) fails on \(n)"
        case .serviceRecover(let n, let s): "service \(s) recovers on \(n)"
        case .checkFail(let n, let c): "check \(c) fails on \(n)"
        case .checkRecover(let n, let c): "check \(c) recovers on \(n)"
        case .standby(let n): "standby \(n)"
        case .unstandby(let n): "unstandby \(n)"
        case .maintenance(let on): "maintenance \(on ? "on" : "off")"
        case .failover(let g, let to): "failover \(g)" + (to.map { " to \($0)" } ?? "")
        case .cleanup(let g, let n): "cleanup \(g)" + (n.map { " on \($0)" } ?? "")
        case .setNodePriority(let n, let p): "config: priority of \(n) = \(p)"
        case .setFailback(let g, let on): "config: failback of \(g) \(on ? "on" : "off")"
        case .expect(let g, let h): "expect \(g) on \(h ?? "none")"
        }
    }
}

public struct ScenarioError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var reason: String
    public var description: String { "\(file):\(line): \(reason)" }
}

extension Scenario {
    public init(parsing text: String, name: String) throws(ScenarioError) {
        var nodes: [String]?
        var scenario = Scenario(name: name, configuration: nil, nodes: [], end: .zero)
        var end: Timestamp?
        for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = offset + 1
            func fail(_ reason: String) -> ScenarioError { ScenarioError(file: name, line: line, reason: reason) }
            let content = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = content.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            guard let keyword = words.first else { continue }
            switch keyword {
            case "nodes":
                guard words.count >= 2 else { throw fail("nodes needs at least one name") }
                guard Set(words.dropFirst()).count == words.count - 1 else { throw fail("duplicate node name") }
                nodes = Array(words.dropFirst())
                scenario.nodes = nodes!
            case "config":
                guard words.count == 2 else { throw fail("usage: config FILE") }
                scenario.configuration = words[1]
            case "priority":
                guard words.count == 3, let value = Int(words[2]) else { throw fail("usage: priority NODE NUMBER") }
                scenario.priorities[words[1]] = value
            case "detection", "join", "lease", "token":
                guard words.count == 2, let value = Self.duration(words[1]) else { throw fail("usage: \(keyword) DURATION (e.g. 3s, 500ms)") }
                if keyword == "detection" { scenario.detection = value }
                if keyword == "join" { scenario.join = value }
                if keyword == "lease" { scenario.lease = value }
                if keyword == "token" { scenario.token = value }
            case "end":
                guard words.count == 2, let value = Self.duration(words[1]) else { throw fail("usage: end DURATION") }
                end = .zero + value
            case "at":
                guard let nodes else { throw fail("'nodes' must come before the first event") }
                guard words.count >= 3, let time = Self.duration(words[1]) else { throw fail("usage: at TIME EVENT …") }
                let event = try Self.event(Array(words.dropFirst(2)), nodes: nodes, fail: fail)
                scenario.events.append((.zero + time, event, line))
            default:
                throw fail("unknown statement '\(keyword)' (expected config, nodes, priority, detection, join, lease, token, at, end)")
            }
        }
        guard !scenario.nodes.isEmpty else { throw ScenarioError(file: name, line: 0, reason: "no 'nodes' line") }
        scenario.events.sort { $0.time < $1.time }  // stable: same-time events keep their file order
        scenario.end = end ?? ((scenario.events.last?.time ?? .zero) + .seconds(20))
        self = scenario
    }

    static func duration(_ text: String) -> Duration? {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            if let value = Double(number), value >= 0 { return .milliseconds(Int64((value * Double(scale)).rounded())) }
        }
        return nil
    }

    private static func event(_ words: [String], nodes: [String], fail: (String) -> ScenarioError) throws(ScenarioError)
        -> ScenarioEvent
    {
        let verb = words[0]
        let arguments = Array(words.dropFirst())
        func node(_ index: Int = 0) throws(ScenarioError) -> String {
            guard index < arguments.count else { throw fail("\(verb) needs a node name") }
            guard nodes.contains(arguments[index]) else { throw fail("unknown node '\(arguments[index])'") }
            return arguments[index]
        }
        func text(_ index: Int, _ what: String) throws(ScenarioError) -> String {
            guard index < arguments.count else { throw fail("\(verb) needs \(what)") }
            return arguments[index]
        }
        switch verb {
        case "start":
            for name in arguments where !nodes.contains(name) { throw fail("unknown node '\(name)'") }
            return .start(arguments)
        case "power-off": return .powerOff(try node())
        case "power-on": return .powerOn(try node())
        case "isolate": return .isolate(try node())
        case "rejoin": return .rejoin(try node())
        case "drop-incoming": return .dropIncoming(try node())
        case "heal": return .heal
        case "split":
            let groups = arguments.joined(separator: " ").split(separator: "|").map {
                $0.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
            }
            guard groups.count >= 2, groups.allSatisfy({ !$0.isEmpty }) else { throw fail("usage: split A,B | C") }
            for name in groups.joined() where !nodes.contains(name) { throw fail("unknown node '\(name)'") }
            return .split(groups)
        case "crash": return .crash(try node())
        case "restart": return .restart(try node())
        case "stop": return .stop(try node())
        case "hang": return .hang(try node())
        case "resume": return .resume(try node())
        case "corosync-stop": return .corosyncStop(try node())
        case "corosync-start": return .corosyncStart(try node())
        case "service-fail": return .serviceFail(node: try node(), service: try text(1, "a service name"))
        case "service-recover": return .serviceRecover(node: try node(), service: try text(1, "a service name"))
        case "check-fail": return .checkFail(node: try node(), check: try text(1, "a check name"))
        case "check-recover": return .checkRecover(node: try node(), check: try text(1, "a check name"))
        case "standby": return .standby(try node())
        case "unstandby": return .unstandby(try node())
        case "maintenance":
            guard arguments == ["on"] || arguments == ["off"] else { throw fail("usage: maintenance on|off") }
            return .maintenance(arguments[0] == "on")
        case "failover":
            let group = try text(0, "a group name")
            if arguments.count == 3, arguments[1] == "to" { return .failover(group: group, to: try node(2)) }
            guard arguments.count == 1 else { throw fail("usage: failover GROUP [to NODE]") }
            return .failover(group: group, to: nil)
        case "cleanup":
            let group = try text(0, "a group name")
            return .cleanup(group: group, node: arguments.count > 1 ? try node(1) : nil)
        case "set-priority":
            guard arguments.count == 2, let value = Int(arguments[1]) else { throw fail("usage: set-priority NODE NUMBER") }
            return .setNodePriority(node: try node(), priority: value)
        case "failback":
            guard arguments.count == 2, ["on", "off"].contains(arguments[1]) else { throw fail("usage: failback GROUP on|off") }
            return .setFailback(group: arguments[0], enabled: arguments[1] == "on")
        case "expect":
            guard arguments.count == 2 else { throw fail("usage: expect GROUP NODE|none") }
            if arguments[1] == "none" { return .expect(group: arguments[0], holder: nil) }
            return .expect(group: arguments[0], holder: try node(1))
        default:
            throw fail("unknown event '\(verb)'")
        }
    }
}
