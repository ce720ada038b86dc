import Foundation
import Logging
import SFHABase
import Testing

@testable import SFHACore

/// `sfha logs -f | grep …`: before, stdout was block-buffered when piped, so nothing came out until 4 KiB had
/// piled up. Each page now goes out as it arrives.
@Suite(.timeLimit(.minutes(1))) struct LogsCommandTests {
    @Test func followingIntoAPipePrintsEachLineAsItArrives() async throws {
        let directory = try CLITemporaryDirectory()
        defer { directory.remove() }
        var router = ControlRouter()
        router.get("/v1/logs") { _ in
            DaemonLogPage(entries: [DaemonLogEntry(sequence: 1, time: "2026-12-04T10:00:00.000Z", level: "notice", message: "hello")], last: 1)
        }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let server = ControlServer(socketPath: directory.path + "/sfhad.sock", router: router, logger: logger)
        try server.start()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try builtSFHA())
        process.arguments = ["logs", "-f", "--socket", server.socketPath]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        // The first line must arrive while the command keeps following (it never exits on its own).
        let reader = pipe.fileHandleForReading
        let line = await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
            Thread.detachNewThread {
                let data = reader.availableData
                continuation.resume(returning: String(decoding: data, as: UTF8.self))
            }
        }
        #expect(line.contains("notice hello"), "\(line)")
        #expect(process.isRunning, "still following")
        await server.stop()
    }
}
