import Foundation
import SFHABase

#if canImport(Glibc)
import Glibc
#endif

/// A running lab: N corosync nodes plus a client host, each in its own network namespace on one bridge.
/// Obtain one from `Lab.up` or `Lab.load`; all state lives in `/run/sfha-lab/<name>/lab.json`, so any process can
/// drive (or tear down) a lab another process started.
public struct Lab: Sendable {
    /// The state as of `up`/`load` (faults and pids change later; `reload()` re-reads them).
    public let state: LabState
    let runner: any ProgramRunner

    public var name: String { state.spec.name }
    public var spec: LabSpec { state.spec }
    public var nodes: [LabNode] { state.nodes }
    public var clientHost: LabNode { state.clientHost }
    public var stateDirectory: String { state.stateDirectory }
    /// Holds the `systemctl` stand-in; first on PATH for everything run in a lab host.
    public var binDirectory: String { state.binDirectory }
    public var bridge: String { state.bridge }

    init(state: LabState, runner: any ProgramRunner) {
        self.state = state
        self.runner = runner
    }

    /// The lab named `name`, from its lab.json.
    public static func load(_ name: String, runner: any ProgramRunner = SystemProgramRunner()) throws(SFHAError) -> Lab {
        try LabNames.validateLabName(name)
        return Lab(state: try LabState.read(lab: name), runner: runner)
    }

    /// The same lab with freshly read state (pids, faults).
    public func reload() throws(SFHAError) -> Lab {
        Lab(state: try LabState.read(lab: name), runner: runner)
    }

    /// Names of the labs that have a state directory on this machine (running or half torn down), sorted.
    public static func list() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: LabPaths.root)) ?? []
        return entries.filter { entry in
            (try? LabNames.validateLabName(entry)) != nil
                && FileManager.default.fileExists(atPath: LabPaths.stateFile(entry))
        }.sorted()
    }

    /// A lab host by name: "node1" … "nodeN" or "client".
    public func host(_ hostName: String) throws(SFHAError) -> LabNode {
        if hostName == LabNames.clientHostName { return clientHost }
        if let node = nodes.first(where: { $0.name == hostName }) { return node }
        let valid = nodes.map(\.name).joined(separator: ", ")
        throw SFHAError(
            .invalidArgument, "lab '\(name)' has no host '\(hostName)'; its hosts are \(valid) and \(LabNames.clientHostName)")
    }

    /// A corosync node by name (the client host is rejected).
    public func node(_ nodeName: String) throws(SFHAError) -> LabNode {
        let found = try host(nodeName)
        guard !found.isClientHost else {
            throw SFHAError(.invalidArgument, "'\(nodeName)' is the client host of lab '\(name)', not a corosync node")
        }
        return found
    }

    /// PATH inside lab hosts: the lab's bin directory (systemctl stand-in) first.
    public var hostPath: String { "\(binDirectory):/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }

    /// Environment assignments added for every program run in a lab host.
    public func environment(for host: LabNode) -> [String] {
        [
            "PATH=\(hostPath)",
            "SFHA_LAB_PATH=\(hostPath)",
            "SFHA_LAB=\(name)",
            "SFHA_LAB_NODE=\(host.name)",
            "SFHA_LAB_ADDRESS=\(host.address)",
            // wireguard-go refuses to run on Linux without this; the machine has no WireGuard kernel module.
            "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1",
            "WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go",
        ]
    }

    /// The `nsenter` arguments (without the program name) that run `argv` inside `host`: its network namespace,
    /// and for nodes also its mount and UTS namespaces, with the lab environment, through the lab's
    /// `close-inherited-fds` (see `LabSystemctl.closeInheritedFDsScript`). Used by `exec`, `spawn` and the CLI's
    /// `exec`/`shell`, which replace themselves with `nsenter`.
    public func nsenterArguments(_ host: LabNode, _ argv: [String]) throws(SFHAError) -> [String] {
        guard let program = argv.first, !program.isEmpty, !program.contains("="), !program.hasPrefix("-") else {
            throw SFHAError(
                .invalidArgument,
                "no valid program to run in \(host.name) of lab '\(name)' (got \(argv)); give a program name or path first")
        }
        var arguments = ["--net=/run/netns/\(host.networkNamespace)"]
        if let mount = host.mountNamespaceFile { arguments.append("--mount=\(mount)") }
        if let uts = host.utsNamespaceFile { arguments.append("--uts=\(uts)") }
        return arguments + ["--", "/usr/bin/env"] + environment(for: host)
            + ["\(binDirectory)/\(LabSystemctl.closeInheritedFDsName)"] + argv
    }

    /// Runs `argv` inside a lab host and returns its exit code and output (exit codes pass through unchanged).
    /// Programs that daemonize (e.g. `wireguard-go wg0`) are fine: inherited descriptors are closed, so the call
    /// returns when the program itself exits. Long-running foreground programs belong in `spawn` or a unit.
    public func exec(_ hostName: String, _ argv: [String], input: [UInt8]? = nil, timeout: Duration? = .seconds(120))
        async throws(SFHAError) -> ProgramResult
    {
        let target = try host(hostName)
        return try await runner.run("nsenter", try nsenterArguments(target, argv), input: input, timeout: timeout)
    }

    /// Like `exec`, but throws unless the program exits 0.
    @discardableResult
    public func check(_ hostName: String, _ argv: [String], input: [UInt8]? = nil, timeout: Duration? = .seconds(120))
        async throws(SFHAError) -> ProgramResult
    {
        let result = try await exec(hostName, argv, input: input, timeout: timeout)
        guard result.succeeded else {
            let why = result.timedOut ? "timed out" : "exited with status \(result.exitCode)"
            let detail = (result.standardError + result.standardOutput).trimmingCharacters(in: .whitespacesAndNewlines)
            throw SFHAError(
                .commandFailed,
                "\(argv.joined(separator: " ")) in \(hostName) of lab '\(name)' \(why)" + (detail.isEmpty ? "" : ": \(detail)"))
        }
        return result
    }

    /// Starts a long-running `argv` inside a lab host, detached (own session; output appended to the host path
    /// `logTo`). The pid is recorded in lab.json; `down` kills it (and anything else left in the host).
    public func spawn(_ hostName: String, _ argv: [String], logTo logFile: String) async throws(SFHAError) -> Int32 {
        let target = try host(hostName)
        guard logFile.hasPrefix("/") else {
            throw SFHAError(.invalidArgument, "log file '\(logFile)' for spawn in \(hostName) must be an absolute host path")
        }
        guard let nsenter = SystemProgramRunner.resolve("nsenter") else {
            throw SFHAError(.notFound, "nsenter was not found in PATH; install util-linux")
        }
        let pid = try ProcessTable.spawnDetached(
            executable: nsenter, arguments: try nsenterArguments(target, argv), logFile: logFile)
        try LabState.update(lab: name) { state throws(SFHAError) in
            state.spawned.append(LabSpawnedProcess(node: hostName, pid: pid, arguments: argv, logFile: logFile))
        }
        return pid
    }

    /// Processes running inside a lab host (by namespace, so it includes processes the lab did not start).
    public func processes(on hostName: String) throws(SFHAError) -> [LabProcess] {
        let target = try host(hostName)
        return ProcessTable.processes(
            networkNamespace: ProcessTable.namespaceInode(ofFile: "/run/netns/\(target.networkNamespace)"),
            mountNamespace: target.mountNamespaceFile.flatMap(ProcessTable.namespaceInode(ofFile:)))
    }

    /// Runs the systemctl stand-in inside a node, e.g. `systemctl("node1", ["start", "sfha-demo-web"])`.
    public func systemctl(_ nodeName: String, _ arguments: [String]) async throws(SFHAError) -> ProgramResult {
        _ = try node(nodeName)
        return try await exec(nodeName, ["systemctl"] + arguments)
    }

    /// Adds or replaces a unit of the systemctl stand-in in one node (see `LabSystemctl` for the format).
    public func installUnit(on nodeName: String, name unitName: String, contents: String) throws(SFHAError) {
        try LabNames.validateSimpleName(unitName, what: "unit name")
        let target = try node(nodeName)
        guard let directory = target.stateDirectory else { return }
        try AtomicFile.write(contents, to: "\(directory)/units/\(unitName).unit", mode: 0o644)
    }
}

/// Corosync's view of quorum on one node, from `corosync-quorumtool -s`.
public struct LabQuorumStatus: Sendable, Equatable, CustomStringConvertible {
    /// False when the tool could not talk to corosync (not running, or starting).
    public var reachable: Bool
    public var quorate: Bool
    /// Members of the node's current membership ("Nodes:").
    public var members: Int
    public var output: String

    public var description: String {
        reachable ? "quorate=\(quorate ? "yes" : "no") members=\(members)" : "corosync unreachable"
    }

    static func parse(_ result: ProgramResult) -> LabQuorumStatus {
        var quorate = false
        var members = 0
        var sawQuorateLine = false
        for line in result.standardOutput.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            if parts[0] == "Quorate" {
                sawQuorateLine = true
                quorate = parts[1] == "Yes"
            } else if parts[0] == "Nodes" {
                members = Int(parts[1]) ?? 0
            }
        }
        return LabQuorumStatus(
            reachable: sawQuorateLine, quorate: quorate, members: members,
            output: result.standardOutput + result.standardError)
    }
}

extension Lab {
    /// Asks corosync on `nodeName` for its quorum state.
    public func quorum(on nodeName: String) async throws(SFHAError) -> LabQuorumStatus {
        _ = try node(nodeName)
        let result = try await exec(nodeName, ["corosync-quorumtool", "-s"], timeout: .seconds(10))
        return LabQuorumStatus.parse(result)
    }

    /// Polls (every 100 ms) until every node in `nodeNames` satisfies `condition`; returns how long it took.
    /// On timeout the error names the first node that did not and quotes its state and corosync log tail.
    @discardableResult
    public func waitForQuorum(
        on nodeNames: [String], timeout: Duration, describedAs expectation: String,
        until condition: @Sendable (LabQuorumStatus) -> Bool
    ) async throws(SFHAError) -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        while true {
            var firstFailure: (String, LabQuorumStatus)?
            for nodeName in nodeNames {
                let status = try await quorum(on: nodeName)
                if !condition(status) {
                    firstFailure = (nodeName, status)
                    break
                }
            }
            guard let (failedNode, status) = firstFailure else { return clock.now - start }
            if clock.now - start > timeout {
                throw SFHAError(
                    .timeout,
                    "lab '\(name)': \(failedNode) did not reach \(expectation) within \(timeout) (now: \(status)). "
                        + "Last corosync log lines of \(failedNode):\n\(corosyncLogTail(failedNode))")
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Waits until every node is quorate with all nodes as members.
    @discardableResult
    public func waitUntilAllQuorate(timeout: Duration = .seconds(60)) async throws(SFHAError) -> Duration {
        let count = nodes.count
        return try await waitForQuorum(
            on: nodes.map(\.name), timeout: timeout, describedAs: "quorum with all \(count) members"
        ) { $0.quorate && $0.members == count }
    }

    /// The last lines of a node's corosync output (stdout/stderr log and corosync's own log file, if any).
    public func corosyncLogTail(_ nodeName: String, lines: Int = 20) -> String {
        guard let directory = nodes.first(where: { $0.name == nodeName })?.stateDirectory else { return "" }
        var parts: [String] = []
        for file in ["corosync.stdout.log", "corosync.log"] {
            let path = "\(directory)/var-log-corosync/\(file)"
            guard let text = try? AtomicFile.readText(path), !text.isEmpty else { continue }
            let tail = text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines + 1)
            parts.append("== \(path)\n" + tail.joined(separator: "\n"))
        }
        return parts.isEmpty ? "(no corosync log in \(directory)/var-log-corosync)" : parts.joined(separator: "\n")
    }

    /// The pid of corosync in a node (by namespace and name), if it runs.
    public func corosyncPID(on nodeName: String) throws(SFHAError) -> Int32? {
        try processes(on: nodeName).first { ProcessTable.matches($0, name: "corosync") }?.pid
    }
}
