import Foundation
import Logging
import SFHABase
import Testing

@testable import SFHACore
@testable import sfha

#if canImport(Glibc)
import Glibc
#endif

/// The CLI waits longer than sfhad's handler timeout, so a request that overruns it in sfhad ends with sfhad's 504
/// (its reason, exit 8) instead of the client giving up at the same moment.
@Suite(.timeLimit(.minutes(2))) struct CLIClientTests {
    @Test func theCLIWaitsAMarginLongerThanSfhadsHandlerTimeout() throws {
        let options = try DaemonOptions.parse([])
        let handlerTimeout = ControlServerConfiguration().handlerTimeout
        #expect(options.client.timeout == handlerTimeout + ControlClient.handlerTimeoutMargin)
        #expect(options.client.timeout > handlerTimeout)
        #expect(ControlClient().timeout == options.client.timeout)
    }

    /// The same relation on a short handler timeout: the answer the client gets is the server's 504.
    @Test func withTheMarginTheServers504Arrives() async throws {
        var template = Array("/tmp/sfcli.XXXXXX".utf8CString)
        try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) } != nil)
        let directory = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var router = ControlRouter()
        router.post("/v1/reload") { _ -> ControlEmpty in
            try await Task.sleep(for: .seconds(3600))  // cancelled by the server at its handler timeout
            return ControlEmpty()
        }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let handlerTimeout: Duration = .milliseconds(300)
        let server = ControlServer(
            socketPath: directory + "/sfhad.sock", router: router,
            configuration: ControlServerConfiguration(handlerTimeout: handlerTimeout), logger: logger)
        try server.start()
        let client = ControlClient(socketPath: server.socketPath, timeout: handlerTimeout + ControlClient.handlerTimeoutMargin)
        let thrown = await #expect(throws: SFHAError.self) {
            let _: ControlEmpty = try await client.post("/v1/reload", body: ControlEmpty())
        }
        await server.stop()
        #expect(thrown?.code == .timeout)
        #expect(thrown?.message.hasPrefix("sfhad did not finish POST /v1/reload") == true, "\(thrown?.message ?? "")")
    }
}
