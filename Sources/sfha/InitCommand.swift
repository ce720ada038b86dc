import ArgumentParser
import CorosyncKit
import Foundation
import MeshKit
import P2PKit
import SFHABase
import SFHACore

/// Where a node's sfha files live (the same on every node; the lab binds them per node).
struct NodePaths {
    var corosyncConf = CorosyncConf.defaultPath
    var authKey = CorosyncAuthKey.defaultPath
    var stateDirectory = "/var/lib/sfha"
    var configuration = "/etc/sfha/config.yml"
    var p2pKey = "/etc/sfha/p2p.key"
    var membership: String { "\(stateDirectory)/membership.json" }
}

/// Reads what `sfha init` must know about this machine before touching it.
struct NodeInspector {
    let paths: NodePaths
    let runner: any ProgramRunner

    func facts() async throws(SFHAError) -> NodeFacts {
        var corosyncCluster: String??
        if FileManager.default.fileExists(atPath: paths.corosyncConf) {
            if let conf = try? CorosyncConf.load(from: paths.corosyncConf) {
                if !conf.nodes.isEmpty { corosyncCluster = .some(conf.clusterName) }
            } else {
                corosyncCluster = .some(nil)
            }
        }
        let mesh = try await runner.run("ip", ["-o", "link", "show", "dev", MeshInterfaceSpec.defaultName], timeout: .seconds(10)).succeeded
        let routes = try await runner.run("ip", ["-o", "-4", "route", "show"], timeout: .seconds(10)).standardOutput
        let addresses = try await runner.run("ip", ["-o", "-4", "address", "show"], timeout: .seconds(10)).standardOutput
        let wireGuard = SystemProgramRunner.resolve("wg") != nil
            && (FileManager.default.fileExists(atPath: "/sys/module/wireguard") || SystemProgramRunner.resolve("wireguard-go") != nil)
        return NodeFacts(
            corosyncCluster: corosyncCluster, hasMembershipRecord: FileManager.default.fileExists(atPath: paths.membership),
            meshInterfaceExists: mesh, localNetworks: ClusterInit.localNetworks(routes: routes, addresses: addresses),
            wireGuardAvailable: wireGuard, configurationExists: FileManager.default.fileExists(atPath: paths.configuration))
    }

    /// The address this node uses to reach the world (`ip route get`'s `src`), for the default endpoint.
    func outboundAddress() async -> IPAddress? {
        guard let output = try? await runner.run("ip", ["-o", "-4", "route", "get", "192.0.2.1"], timeout: .seconds(10)).standardOutput else { return nil }
        let words = output.split(separator: " ")
        guard let index = words.firstIndex(of: "src"), index + 1 < words.count else { return nil }
        return IPAddress(words[index + 1])
    }
}

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a new cluster on this bare node: WireGuard mesh, membership record, corosync, sfhad.",
        discussion: """
            Writes the mesh (wg-sfha, /etc/wireguard/wg-sfha.conf), the membership record, the P2P key, corosync's \
            authkey and corosync.conf (knet over the mesh address), config.yml when there is none (an existing one is \
            never overwritten), then starts corosync — its only start — and sfhad, and waits until sfhad reports a \
            quorate cluster. Nodes are added with 'sfha token' here and 'sfha join' on each new node. Refused on a node \
            already in a cluster, with a mesh network that overlaps this node's networks, or without WireGuard.
            """)

    @Option(name: .long, help: "Cluster name (as corosync's cluster_name).") var name: String
    @Option(name: .long, help: "The mesh network (CIDR).") var meshNetwork = ClusterInitRequest.defaultMeshNetwork.description
    @Option(name: .long, help: "Where the other nodes reach this node: HOST[:PORT] (an IP address; default: this node's outbound address).")
    var endpoint: String?
    @Option(name: .long, help: "The mesh's UDP port.") var port: UInt16 = MeshInterfaceSpec.defaultPort
    @Option(name: .long, help: "corosync's token timeout in milliseconds (default: corosync's own, 3000).") var token: Int?
    @Flag(name: .long, help: "Print what would be done, change nothing.") var dryRun = false
    @Flag(name: .long, help: "Print JSON.") var json = false
    @Option(name: .long, help: "Language of messages: en or fr (default: $SFHA_LANG, then $LANG).") var lang: Language?

    struct Report: Encodable {
        var cluster: String
        var node: String
        var meshAddress: String
        var endpoint: String
        var dryRun: Bool
        var steps: [Step]
        var next: String
    }

    struct Step: Encodable {
        var step: String
        var result: String
        var milliseconds: Int?
    }

    func run() async throws {
        let language = Language.resolve(lang)
        do {
            try await initialize(language)
        } catch {
            CLI.fail(error, language: language)
            throw ExitCode(ExitStatus.forError(error.code))
        }
    }

    private func initialize(_ language: Language) async throws(SFHAError) {
        let paths = NodePaths()
        let runner = SystemProgramRunner()
        let inspector = NodeInspector(paths: paths, runner: runner)
        let facts = try await inspector.facts()
        let network = try IPv4Network(parsing: meshNetwork)
        let endpoint = try await resolveEndpoint(inspector)
        let nodeName = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? ""
        let request = ClusterInitRequest(clusterName: name, nodeName: nodeName, meshNetwork: network, endpoint: endpoint, tokenMilliseconds: token)
        let meshKey = WireGuardPrivateKey.generate()
        let plan = try ClusterInit.plan(request, facts, meshKey: meshKey, at: Date())
        let next = "add nodes with 'sfha token' here and 'sfha join TOKEN' on each new node"
        var report = Report(
            cluster: name, node: nodeName, meshAddress: "\(plan.mesh.address.address)", endpoint: "\(endpoint)", dryRun: dryRun,
            steps: [], next: next)
        if dryRun {
            report.steps = plan.steps.map { Step(step: $0, result: "planned") }
            if json { return try printJSON(report) }
            print("sfha init (dry run): cluster \(name), node \(nodeName), mesh address \(plan.mesh.address.address), endpoint \(endpoint)")
            for step in plan.steps { print("  would \(step)") }
            return
        }
        if !json { print("sfha init: cluster \(name), node \(nodeName), mesh address \(plan.mesh.address.address), endpoint \(endpoint)") }
        var undo: [() async -> Void] = []
        func step(_ what: String, _ body: () async throws(SFHAError) -> Void) async throws(SFHAError) {
            let clock = ContinuousClock()
            let start = clock.now
            do {
                try await body()
            } catch {
                if !json { print("  ✗ \(what): \(error.message)") }
                report.steps.append(Step(step: what, result: "failed: \(error.message)"))
                for action in undo.reversed() { await action() }
                throw SFHAError(error.code, "sfha init stopped at '\(what)': \(error.message); what it had done was undone, the node is as before")
            }
            let elapsed = clock.now - start
            let milliseconds = Int(elapsed.milliseconds)
            if !json { print("  ✓ \(what) (\(milliseconds) ms)") }
            report.steps.append(Step(step: what, result: "done", milliseconds: milliseconds))
        }
        let mesh = WireGuardCommandController(runner: runner)
        try await step("write \(WireGuardConfigFile.path(for: plan.mesh.name)) and bring up \(plan.mesh.name) at \(plan.mesh.address)") { () throws(SFHAError) in
            try Self.makeDirectory("/etc/wireguard", mode: 0o700)
            try WireGuardConfigFile.write(plan.mesh, peers: [])
            undo.append { try? FileManager.default.removeItem(atPath: WireGuardConfigFile.path(for: plan.mesh.name)) }
            undo.append { try? await mesh.tearDown(plan.mesh.name) }
            try await mesh.bringUp(plan.mesh)
        }
        try await step("write the membership record (\(name): \(nodeName) = node id 1)") { () throws(SFHAError) in
            try Self.makeDirectory(paths.stateDirectory, mode: 0o755)
            let document = MembershipDocument(revision: 1, record: plan.record)
            try AtomicFile.write(Self.encode(document), to: paths.membership, mode: 0o600)
            undo.append { try? FileManager.default.removeItem(atPath: paths.membership) }
        }
        try await step("write the P2P key and corosync's authkey") { () throws(SFHAError) in
            try Self.makeDirectory("/etc/sfha", mode: 0o755)
            try AtomicFile.write(P2PKey.generate().fileText, to: paths.p2pKey, mode: 0o600)
            undo.append { try? FileManager.default.removeItem(atPath: paths.p2pKey) }
            try Self.makeDirectory("/etc/corosync", mode: 0o755)
            try CorosyncAuthKey.write(try CorosyncAuthKey.generate(), to: paths.authKey)
            undo.append { try? FileManager.default.removeItem(atPath: paths.authKey) }
        }
        try await step("write \(paths.corosyncConf) (knet over \(plan.mesh.address.address))") { () throws(SFHAError) in
            try AtomicFile.write(plan.corosyncConf, to: paths.corosyncConf, mode: 0o644)
            undo.append { try? FileManager.default.removeItem(atPath: paths.corosyncConf) }
        }
        if let configuration = plan.configuration {
            try await step("write \(paths.configuration)") { () throws(SFHAError) in
                try AtomicFile.write(configuration, to: paths.configuration, mode: 0o600)
                undo.append { try? FileManager.default.removeItem(atPath: paths.configuration) }
            }
        }
        try await step("start corosync") { () throws(SFHAError) in
            try await runner.check("systemctl", ["start", "corosync"], timeout: .seconds(60))
            undo.append { _ = try? await runner.run("systemctl", ["stop", "corosync"], timeout: .seconds(60)) }
        }
        try await step("start sfhad") { () throws(SFHAError) in
            try await runner.check("systemctl", ["start", "sfhad"], timeout: .seconds(60))
            undo.append { _ = try? await runner.run("systemctl", ["stop", "sfhad"], timeout: .seconds(60)) }
        }
        try await step("wait until sfhad reports a quorate cluster") { () throws(SFHAError) in try await Self.waitForQuorum() }
        if json { return try printJSON(report) }
        print("cluster \(name) is up with \(nodeName); next: \(next)")
    }

    private func resolveEndpoint(_ inspector: NodeInspector) async throws(SFHAError) -> MeshEndpoint {
        try await Self.resolveEndpoint(endpoint, port: port, inspector)
    }

    /// `--endpoint HOST[:PORT]` (HOST an IP address; `port` when none is given), or this node's outbound address.
    static func resolveEndpoint(_ endpoint: String?, port: UInt16, _ inspector: NodeInspector) async throws(SFHAError) -> MeshEndpoint {
        if let endpoint {
            if endpoint.contains("]:") || (endpoint.filter { $0 == ":" }.count == 1) { return try MeshEndpoint(parsing: endpoint) }
            guard let address = IPAddress(endpoint.hasPrefix("[") ? String(endpoint.dropFirst().dropLast()) : endpoint) else {
                throw SFHAError(.invalidArgument, "--endpoint \(String(reflecting: endpoint)) is not an IP address (HOST[:PORT], HOST an IP address)")
            }
            return try MeshEndpoint(address: address, port: port)
        }
        guard let address = await inspector.outboundAddress() else {
            throw SFHAError(.invalidArgument, "this node has no default route to guess its public address from: give it with --endpoint ADDRESS")
        }
        return try MeshEndpoint(address: address, port: port)
    }

    /// sfhad answers and says the cluster is quorate (corosync formed its ring of one).
    private static func waitForQuorum() async throws(SFHAError) {
        try await waitForStatus(within: .seconds(60), hint: "see 'journalctl -u sfhad' and 'journalctl -u corosync'") { status in
            status.quorate ? nil : "sfhad answers but the cluster is not quorate yet"
        }
    }

    /// Polls the local sfhad's status until `pending` finds nothing missing (it returns what is, for the error).
    static func waitForStatus(within limit: Duration, hint: String, _ pending: (DaemonStatus) -> String?) async throws(SFHAError) {
        let client = ControlClient(socketPath: ControlServer.defaultSocketPath, timeout: .seconds(5))
        let deadline = ContinuousClock.now + limit
        var last = "sfhad did not answer"
        while ContinuousClock.now < deadline {
            do {
                let status: DaemonStatus = try await client.get("/v1/status")
                guard let missing = pending(status) else { return }
                last = missing
            } catch {
                last = error.message
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        throw SFHAError(.timeout, "\(last) after \(limit.sfhaText): \(hint)")
    }

    static func makeDirectory(_ path: String, mode: Int) throws(SFHAError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
        } catch {
            throw SFHAError(.io, "cannot create \(path): \(error)")
        }
    }

    /// The JSON of a file init or join writes (the membership record, the cluster document).
    static func encode(_ value: some Encodable) throws(SFHAError) -> [UInt8] {
        do {
            return Array(try JSONEncoder().encode(value))
        } catch {
            throw SFHAError(.internalError, "cannot encode \(type(of: value)): \(error)")
        }
    }

    private func printJSON(_ report: Report) throws(SFHAError) {
        do {
            try CLI.printJSON(report)
        } catch {
            throw SFHAError(.internalError, "cannot print JSON: \(error)")
        }
    }
}
