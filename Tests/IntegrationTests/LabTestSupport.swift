import Foundation
import SFHABase
import SFHALab
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// All lab tests run one after another (nested suites inherit `.serialized`): each builds real namespaces and
/// corosync clusters, and timing-sensitive quorum checks should not compete for the 2 cores.
@Suite(.serialized, .timeLimit(.minutes(20)))
struct LabTests {}

enum LabTestSupport {
    /// The lab needs root. CI runs as root; elsewhere the tests fail with this message instead of skipping.
    static func requireRoot() throws {
        try #require(
            geteuid() == 0,
            "lab tests create network namespaces, bridges and mounts and must run as root (CI does); rerun as root")
    }

    /// Builds a lab (after removing leftovers of an earlier crashed run), runs `body`, and always tears it down.
    static func withLab<T>(
        _ name: String, nodes: Int = 3, authKey: [UInt8]? = nil, _ body: (Lab) async throws -> T
    ) async throws -> T {
        try requireRoot()
        try await Lab.down(name)
        let lab = try await Lab.up(
            LabSpec(name: name, nodeCount: nodes, tokenMilliseconds: 1000), corosyncConf: Lab.corosyncConfiguration, authKey: authKey)
        let result: T
        do {
            result = try await body(lab)
        } catch {
            _ = try? await Lab.down(name)
            throw error
        }
        try await Lab.down(name)
        return result
    }

    /// Polls `condition` every 100 ms until it holds or `timeout` passes; returns whether it held.
    static func eventually(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    /// Fetches a URL from the client host (curl when installed, else python3's urllib), as an argument array.
    static func fetchFromClient(_ lab: Lab, _ url: String) async throws -> ProgramResult {
        if SystemProgramRunner.resolve("curl") != nil {
            return try await lab.exec("client", ["curl", "-s", "-m", "3", url])
        }
        return try await lab.exec(
            "client",
            ["python3", "-c", "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())", url])
    }

    static func trimmed(_ text: String) -> String { text.trimmingCharacters(in: .whitespacesAndNewlines) }

    /// Runs the built `sfha-lab` CLI on the host, as an operator would.
    static func labCLI(_ arguments: [String], timeout: Duration = .seconds(60)) async throws -> ProgramResult {
        try await SystemProgramRunner().run(Lab.builtProduct("sfha-lab"), arguments, input: nil, timeout: timeout)
    }

    /// Starts the built `sfha-lab` CLI in the background (like `sfha-lab exec node1 -- sleep 1000 &` in a shell),
    /// its output discarded.
    static func startLabCLI(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Lab.builtProduct("sfha-lab"))
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Live (not zombie) processes on the machine whose command line is exactly `commandLine`.
    static func livePIDs(commandLine: [String]) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                data.split(separator: 0).map({ String(decoding: $0, as: UTF8.self) }) == commandLine,
                let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
            else { return false }
            return !stat.contains(") Z")
        }
    }

    /// Whether `path` is a mount point in this process's mount namespace (field 5 of mountinfo).
    static func isMountPoint(_ path: String) -> Bool {
        let text = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").contains { $0.split(separator: " ").dropFirst(4).first.map(String.init) == path }
    }

    /// Kills what a test left behind when the code under test failed to (so one failure does not leak processes).
    static func killLeftovers(commandLines: [[String]]) {
        for commandLine in commandLines {
            for pid in livePIDs(commandLine: commandLine) { kill(pid, SIGKILL) }
        }
    }
}
