import Foundation
import SFHABase
import SFHACore

#if canImport(Glibc)
import Glibc
#endif

/// A lab running sfhad on its nodes with one VIP and the demo web service in one group: the setup shared by the
/// daemon scenario tests, the `bench daemon` command and the demo.
public struct LabDaemonCluster: Sendable {
    /// What each node's /etc/sfha/config.yml says.
    public struct Settings: Sendable, Equatable {
        public var vipName = "vip-web"
        /// The VIP is this host number of the lab's /24.
        public var vipHost: UInt8 = 100
        public var serviceName = "web"
        public var serviceUnit = "sfha-demo-web"
        /// `cluster.failover_delay_ms`; nil leaves sfhad's default.
        public var failoverDelayMilliseconds: Int?
        /// More keys of the service's entry (YAML, indented as under `- name:`), e.g. a health check.
        public var serviceOptions: String
        /// Each node also serves /metrics over TCP on its lab address, this port (`metrics.listen`).
        public var metricsPort = 9469

        public init(failoverDelayMilliseconds: Int? = nil, serviceOptions: String = "") {
            self.failoverDelayMilliseconds = failoverDelayMilliseconds
            self.serviceOptions = serviceOptions
        }
    }

    public let lab: Lab
    public let settings: Settings
    /// The VIP as the watcher follows it.
    public let vip: WatchedVIP
    /// The demo service's URL through the VIP.
    public var serviceURL: String { "http://\(vip.address):8080/" }

    public init(lab: Lab, settings: Settings = Settings()) throws(SFHAError) {
        self.lab = lab
        self.settings = settings
        self.vip = WatchedVIP(name: settings.vipName, address: try lab.spec.resolvedSubnet().address(host: settings.vipHost))
    }

    /// The configuration sfhad reads on `node`.
    public func configuration(for node: String) -> String {
        var text = "cluster:\n  name: \(lab.name)\n"
        if let delay = settings.failoverDelayMilliseconds { text += "  failover_delay_ms: \(delay)\n" }
        text += """
            node:
              name: \(node)
            vips:
              - name: \(settings.vipName)
                ip: \(vip.address)/24
            services:
              - name: \(settings.serviceName)
                unit: \(settings.serviceUnit)

            """
        for line in settings.serviceOptions.split(separator: "\n", omittingEmptySubsequences: true) { text += "    \(line)\n" }
        if let address = try? lab.node(node).address {
            text += "metrics:\n  listen: \(address):\(settings.metricsPort)\n"
        }
        return text
    }

    /// Writes every node's config.yml, forgets any replicated cluster document (so the new file is what the
    /// daemons start from) and starts the node's `sfhad` unit everywhere (the built sfhad, see `LabSpec.sfhadCommand`).
    public func start() async throws(SFHAError) {
        try writeConfigurations()
        for node in lab.nodes {
            guard let directory = node.stateDirectory else { continue }
            try? FileManager.default.removeItem(atPath: "\(directory)/var-lib-sfha/cluster.json")
        }
        for node in lab.nodes { try await startDaemon(on: node.name) }
    }

    /// Every node's config.yml, as `configuration(for:)` says.
    func writeConfigurations() throws(SFHAError) {
        for node in lab.nodes {
            guard let directory = node.stateDirectory else { continue }
            try AtomicFile.write(configuration(for: node.name), to: "\(directory)/etc-sfha/config.yml", mode: 0o644)
        }
    }

    /// Stops sfhad everywhere (SIGTERM through the node's systemctl).
    public func stop() async throws(SFHAError) {
        for node in lab.nodes { try await lab.check(node.name, ["systemctl", "stop", "sfhad"]) }
    }

    public func startDaemon(on node: String) async throws(SFHAError) {
        try await lab.check(node, ["systemctl", "start", "sfhad"])
    }

    /// Runs the built `sfha` CLI inside `node`.
    public func sfha(_ node: String, _ arguments: [String], timeout: Duration = .seconds(30)) async throws(SFHAError)
        -> ProgramResult
    {
        try await lab.exec(node, [Lab.builtProduct("sfha")] + arguments, timeout: timeout)
    }

    /// `sfha status --json` on `node` (SFHACore's `DaemonStatus`: the CLI's contract), or nil when it fails or prints
    /// something else.
    public func status(on node: String) async throws(SFHAError) -> DaemonStatus? {
        let result = try await sfha(node, ["status", "--json"], timeout: .seconds(10))
        guard result.succeeded else { return nil }
        return try? ControlJSON.decoder().decode(DaemonStatus.self, from: Data(result.standardOutput.utf8))
    }

    /// Polls `sfha status --json` on `node` until every node's daemon is alive in a quorate cluster and every
    /// group has a holder; returns that status, or nil after `timeout`.
    public func waitUntilSettled(asSeenFrom node: String, timeout: Duration = .seconds(30)) async throws(SFHAError)
        -> DaemonStatus?
    {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if let status = try await status(on: node), status.quorate, status.nodes.count == lab.nodes.count,
                status.nodes.allSatisfy(\.daemonAlive), status.groups.allSatisfy({ $0.holder != nil })
            {
                return status
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return nil
    }

    /// sfhad's pid in `node`, if it runs.
    public func sfhadPID(on node: String) throws(SFHAError) -> Int32? {
        try lab.processes(on: node).first { ProcessTable.matches($0, name: "sfhad") }?.pid
    }

    /// The path of sfhad's control socket as seen from this process: through `/proc/<pid>/root`, which resolves
    /// in the node's mount namespace (its /run is a tmpfs only the node sees).
    public func controlSocketPath(on node: String) throws(SFHAError) -> String? {
        try sfhadPID(on: node).map { "/proc/\($0)/root/run/sfha/sfhad.sock" }
    }
}

/// One `sfha join` as a client of the held VIP and the watcher saw it (`LabDaemonCluster.join(_:issuer:observedBy:_:)`).
public struct LabObservedJoin: Sendable {
    public var report: LabJoinReport
    /// The client's longest gap without an answer through the VIP, from the `sfha token` call to the end of
    /// `sfha join` (milliseconds, 0: no failed probe).
    public var clientGapMilliseconds: Int
    /// Times the VIP went from a node meanwhile.
    public var vipRemovals: Int
}

/// One `sfha join` as the lab ran it: the node, how long the command took, and the steps it reported.
public struct LabJoinReport: Sendable {
    public struct Step: Sendable, Decodable {
        public var step: String
        public var node: String
        public var result: String
        public var milliseconds: Int
    }

    public var node: String
    public var milliseconds: Int
    public var steps: [Step]

    /// The milliseconds of the first step whose text starts with `prefix` (the report's own phases).
    public func phase(_ prefix: String) -> Int? { steps.first { $0.step.hasPrefix(prefix) }?.milliseconds }
}

extension LabDaemonCluster {
    /// Builds the cluster the way an operator does, on a bare lab (`LabSpec.bare`): every node's config.yml (VIP +
    /// web service) is written first (init and join keep it), `sfha init` runs on the first node, then each other
    /// node joins with a token issued by the node before it (`sfha token` on any member works). Returns each join's
    /// report.
    public func formByJoining(tokenMilliseconds: Int? = nil, progress: (String) -> Void = { _ in }) async throws(SFHAError) -> [LabJoinReport] {
        try await found(tokenMilliseconds: tokenMilliseconds)
        progress("\(lab.nodes[0].name): sfha init done")
        var reports: [LabJoinReport] = []
        for (index, node) in lab.nodes.enumerated().dropFirst() {
            reports.append(try await join(node.name, issuer: lab.nodes[index - 1].name))
            progress("\(node.name): joined in \(reports.last?.milliseconds ?? 0) ms")
        }
        return reports
    }

    /// Every node's config.yml (VIP + web service), then `sfha init` on the first node.
    public func found(tokenMilliseconds: Int? = nil) async throws(SFHAError) {
        try writeConfigurations()
        guard let founder = lab.nodes.first else { throw SFHAError(.invalidArgument, "the lab has no node") }
        var initArguments = ["init", "--name", lab.name, "--endpoint", founder.address]
        if let tokenMilliseconds { initArguments += ["--token", String(tokenMilliseconds)] }
        let founded = try await sfha(founder.name, initArguments, timeout: .seconds(120))
        guard founded.succeeded else { throw SFHAError(.commandFailed, "sfha init on \(founder.name) failed: \(founded.standardError)") }
    }

    static let tokenRetryWindow: Duration = .seconds(20)

    /// `join(_:issuer:)`, with what the client probing the VIP and the watcher saw meanwhile.
    public func join(_ node: String, issuer: String, observedBy prober: LabHTTPProber, _ watcher: LabWatcher) async throws(SFHAError)
        -> LabObservedJoin
    {
        let from = LabClock.now()
        let report = try await join(node, issuer: issuer)
        let client = prober.report(since: from)
        return LabObservedJoin(
            report: report,
            clientGapMilliseconds: client.failures == 0 ? 0 : Int((client.longestGap?.milliseconds ?? 0).rounded()),
            vipRemovals: watcher.report(since: from).vipChanges.filter { !$0.present }.count)
    }

    /// `sfha token` on `issuer` (retried while it is refused, for a while), then `sfha join TOKEN --json` on `node`.
    public func join(_ node: String, issuer: String) async throws(SFHAError) -> LabJoinReport {
        // The issuer may have just joined itself: its ring can still be settling for a moment.
        let deadline = ContinuousClock.now + Self.tokenRetryWindow
        var issued = try await sfha(issuer, ["token", "--json"])
        while !issued.succeeded, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(500))
            issued = try await sfha(issuer, ["token", "--json"])
        }
        guard issued.succeeded, let object = try? JSONSerialization.jsonObject(with: Data(issued.standardOutput.utf8)) as? [String: Any],
            let token = object["token"] as? String
        else { throw SFHAError(.commandFailed, "sfha token on \(issuer) failed: \(issued.standardError)") }
        let joined = try await sfha(node, ["join", token, "--endpoint", try lab.node(node).address, "--json"], timeout: .seconds(180))
        struct Report: Decodable {
            var milliseconds: Int?
            var steps: [LabJoinReport.Step]
        }
        guard joined.succeeded, let report = try? JSONDecoder().decode(Report.self, from: Data(joined.standardOutput.utf8)) else {
            throw SFHAError(.commandFailed, "sfha join on \(node) failed: \(joined.standardError)")
        }
        return LabJoinReport(node: node, milliseconds: report.milliseconds ?? 0, steps: report.steps)
    }
}
