import CorosyncKit
import Foundation
import SFHABase
import Testing

/// TEMPORARY dev fixture: one corosync in its own network + mount namespace. To be replaced by SFHALab.
final class LiveNode: @unchecked Sendable {
    let name: String
    let stateDirectory: String
    let clusterName = "ckt"
    let runner = SystemProgramRunner()
    var configurationText: String
    private var corosync: Process?

    var endpoint: CorosyncEndpoint { .networkNamespace(path: "/run/netns/\(name)") }
    var sfhaBinary: String { URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("sfha").path }

    init() {
        name = "ckt\(UInt16.random(in: 1000...9999))"
        stateDirectory = "/tmp/\(name)"
        configurationText = """
            totem {
            \tversion: 2
            \tcluster_name: ckt
            \ttransport: knet
            \tcrypto_cipher: none
            \tcrypto_hash: none
            \ttoken: 1000
            }
            logging {
            \tto_logfile: yes
            \tlogfile: /var/log/corosync/corosync.log
            \tto_syslog: no
            \tto_stderr: no
            }
            quorum {
            \tprovider: corosync_votequorum
            }
            nodelist {
            \tnode {
            \t\tname: alpha
            \t\tnodeid: 1
            \t\tring0_addr: 127.0.0.1
            \t}
            }

            """
    }

    func up() async throws {
        for sub in ["etc", "lib", "log"] { try FileManager.default.createDirectory(atPath: "\(stateDirectory)/\(sub)", withIntermediateDirectories: true) }
        try writeConfiguration(configurationText)
        try await runner.check("ip", ["netns", "add", name])
        try await runner.check("ip", ["-n", name, "link", "set", "lo", "up"])
        try await runner.check("mount", ["--bind", stateDirectory, stateDirectory])
        try await runner.check("mount", ["--make-private", stateDirectory])
        _ = FileManager.default.createFile(atPath: "\(stateDirectory)/mnt", contents: nil)
        try await runner.check("unshare", ["--mount=\(stateDirectory)/mnt", "--propagation", "private", "true"])
        try await runner.check("nsenter", ["--mount=\(stateDirectory)/mnt", "mount", "-t", "tmpfs", "tmpfs", "/run"])
        try await runner.check("nsenter", ["--mount=\(stateDirectory)/mnt", "mount", "--bind", "\(stateDirectory)/etc", "/etc/corosync"])
        try await runner.check("nsenter", ["--mount=\(stateDirectory)/mnt", "mount", "--bind", "\(stateDirectory)/lib", "/var/lib/corosync"])
        try await runner.check("nsenter", ["--mount=\(stateDirectory)/mnt", "mount", "--bind", "\(stateDirectory)/log", "/var/log/corosync"])
        try await startCorosync()
    }

    func down() async {
        if let process = corosync { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        _ = try? await runner.run("umount", ["\(stateDirectory)/mnt"])
        _ = try? await runner.run("umount", [stateDirectory])
        _ = try? await runner.run("ip", ["netns", "delete", name])
        try? FileManager.default.removeItem(atPath: stateDirectory)
    }

    func nsenterArguments(_ argv: [String]) -> [String] {
        ["--net=/run/netns/\(name)", "--mount=\(stateDirectory)/mnt", "--"] + argv
    }

    @discardableResult
    func run(_ argv: [String]) async throws -> ProgramResult {
        try await runner.run("nsenter", nsenterArguments(argv))
    }

    func writeConfiguration(_ text: String) throws {
        configurationText = text
        try AtomicFile.write(text, to: "\(stateDirectory)/etc/corosync.conf")
    }

    func corosyncPID() throws -> Int32 {
        guard let process = corosync, process.isRunning else { throw SFHAError(.notFound, "corosync is not running") }
        return process.processIdentifier
    }

    func killCorosync() async throws {
        guard let process = corosync else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        corosync = nil
    }

    func startCorosync() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        process.arguments = nsenterArguments(["corosync", "-f"])
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        corosync = process
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let result = try? await run(["corosync-quorumtool", "-s"]), result.standardOutput.contains("Quorate:          Yes") { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw SFHAError(.timeout, "corosync in \(name) did not become quorate")
    }
}

func withSingleNodeCorosync(_ body: (LiveNode) async throws -> Void) async throws {
    let node = LiveNode()
    do {
        try await node.up()
        try await body(node)
    } catch {
        await node.down()
        throw error
    }
    await node.down()
}
