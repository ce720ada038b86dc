import Foundation
import Logging
import SFHABase
import Synchronization
import Testing

@testable import SFHACore
@testable import sfha

#if canImport(Glibc)
import Glibc
#endif

/// A Unix socket that accepts connections and never answers: a daemon that is running but stuck.
private final class SilentSocket: Sendable {
    let path: String
    private let listener: Int32
    private let accepted = Mutex<[Int32]>([])

    init(path: String) throws {
        self.path = path
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listener >= 0 else { throw SFHAError(.io, "socket failed: \(String(cString: strerror(errno)))") }
        guard Self.bind(listener, path), listen(listener, 16) == 0 else {
            let error = SFHAError(.io, "could not listen on \(path): \(String(cString: strerror(errno)))")
            close(listener)
            throw error
        }
        Thread.detachNewThread { [self] in
            while true {
                let fd = accept(listener, nil, nil)
                guard fd >= 0 else { return }  // shut down by stop()
                accepted.withLock { $0.append(fd) }
            }
        }
    }

    /// Binds `fd` to `path` (which must fit `sun_path`).
    static func bind(_ fd: Int32, _ path: String) -> Bool {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        accepted.withLock { fds in fds.forEach { close($0) } }
        unlink(path)
    }
}

/// A fresh directory under /tmp for sockets (short paths), removed by `remove()`.
private struct SocketDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/sfcli.XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw SFHAError(.io, "mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// `sfha status` tells "sfhad is not running" (fall back to corosync's view) from "sfhad is running but does not
/// answer" (say so, exit non-zero).
@Suite(.timeLimit(.minutes(2))) struct StatusCommandTests {
    /// Short: these daemons never answer.
    static let shortTimeout: Duration = .milliseconds(500)

    @Test func aSocketThatAcceptsButNeverAnswersIsADaemonNotAnswering() async throws {
        let directory = try SocketDirectory()
        defer { directory.remove() }
        let silent = try SilentSocket(path: directory.path + "/sfhad.sock")
        defer { silent.stop() }
        guard case .notAnswering(let error) = await StatusCommand.askDaemon(socket: silent.path, timeout: Self.shortTimeout) else {
            Issue.record("a daemon that accepts and never answers must be reported as not answering")
            return
        }
        #expect(error.code == .timeout)
        #expect(error.message.contains("did not answer GET /v1/status"))
        #expect(ExitStatus.forError(error.code) == ExitStatus.timeout)
        let report = DaemonErrorReport(daemon: DaemonErrorReport.notAnswering, error: error)
        let decoded = try JSONDecoder().decode(DaemonErrorReport.self, from: try StatusReport.encoder.encode(report))
        #expect(decoded.source == "sfhad")
        #expect(decoded.daemon == "not answering")
        #expect(decoded.code == "timeout")
    }

    @Test func aMissingOrStaleSocketIsADaemonNotRunning() async throws {
        let directory = try SocketDirectory()
        defer { directory.remove() }
        guard case .notRunning(let missing) = await StatusCommand.askDaemon(socket: directory.path + "/none.sock") else {
            Issue.record("no socket file must mean sfhad is not running")
            return
        }
        #expect(missing.message.contains("systemctl start sfhad"))
        #expect(ExitStatus.forError(missing.code) == ExitStatus.daemonUnavailable)
        // A socket file nobody listens on (a crashed sfhad's leftover): connect is refused.
        let stalePath = directory.path + "/stale.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #expect(SilentSocket.bind(fd, stalePath))
        close(fd)
        guard case .notRunning = await StatusCommand.askDaemon(socket: stalePath) else {
            Issue.record("a stale socket must mean sfhad is not running")
            return
        }
    }

    @Test func aBusyDaemonIsRunningNotDown() async throws {
        let directory = try SocketDirectory()
        defer { directory.remove() }
        var router = ControlRouter()
        router.get("/v1/status") { _ -> ControlEmpty in throw SFHAError(.unavailable, "sfhad is busy; try again shortly") }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let server = ControlServer(socketPath: directory.path + "/sfhad.sock", router: router, logger: logger)
        try server.start()
        let answer = await StatusCommand.askDaemon(socket: server.socketPath, timeout: .seconds(20))
        await server.stop()
        guard case .notAnswering(let error) = answer else {
            Issue.record("a daemon answering 503 is running: it must not be reported as down")
            return
        }
        #expect(error.code == .unavailable)
        #expect(ExitStatus.forError(error.code) == ExitStatus.daemonUnavailable)
    }

    /// The real command, as a script sees it: exit status and JSON on standard output.
    @Test func theCommandExitsNonZeroWithJSONWhenTheDaemonDoesNotAnswer() async throws {
        let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("sfha").path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "the built sfha is expected at \(binary)")
        let directory = try SocketDirectory()
        defer { directory.remove() }
        let silent = try SilentSocket(path: directory.path + "/sfhad.sock")
        defer { silent.stop() }
        let runner = SystemProgramRunner()
        async let jsonRun = runner.run(binary, ["status", "--json", "--socket", silent.path], timeout: .seconds(60))
        async let textRun = runner.run(binary, ["status", "--lang", "en", "--socket", silent.path], timeout: .seconds(60))
        let (json, text) = try await (jsonRun, textRun)

        #expect(json.exitCode == ExitStatus.timeout)
        let report = try JSONDecoder().decode(DaemonErrorReport.self, from: Data(json.standardOutput.utf8))
        #expect(report.daemon == DaemonErrorReport.notAnswering)
        #expect(report.code == "timeout")
        #expect(!json.standardOutput.contains("not running"))

        #expect(text.exitCode == ExitStatus.timeout)
        #expect(text.standardOutput.isEmpty)
        #expect(text.standardError.contains("sfhad is RUNNING on this node but did not answer"))

        // Without a socket: not running, corosync's view (or, without corosync either, exit 3), never "not answering".
        let down = try await runner.run(binary, ["status", "--json", "--socket", directory.path + "/none.sock"], timeout: .seconds(60))
        // corosync's view is printed, but the exit status says sfhad is not running (4), as documented.
        #expect(down.exitCode == ExitStatus.daemonUnavailable || down.exitCode == ExitStatus.corosyncUnavailable)
        let view = try JSONSerialization.jsonObject(with: Data(down.standardOutput.utf8)) as? [String: Any]
        #expect(view?["source"] as? String == "corosync")
    }
}
