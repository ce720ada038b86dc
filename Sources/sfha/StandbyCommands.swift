import ArgumentParser
import Foundation
import SFHABase
import SFHACore

struct StandbyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "standby", abstract: "Put this node in standby: it gives up its groups and takes none.")

    @Option(name: .long, help: "sfhad's control socket.") var socket = ControlServer.defaultSocketPath

    func run() async throws { try await DaemonRequest.post("/v1/standby", socket: socket) }
}

struct UnstandbyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unstandby", abstract: "Take this node out of standby: it may hold groups again.")

    @Option(name: .long, help: "sfhad's control socket.") var socket = ControlServer.defaultSocketPath

    func run() async throws { try await DaemonRequest.post("/v1/unstandby", socket: socket) }
}

enum DaemonRequest {
    /// POSTs to sfhad and prints its answer; a clear message and exit status 4 when sfhad is not running.
    static func post(_ path: String, socket: String) async throws {
        do {
            let answer: DaemonAcknowledgement = try await ControlClient(socketPath: socket).post(path, body: ControlEmpty())
            print(answer.message)
        } catch {
            FileHandle.standardError.write(Data("sfha: \(error.message)\n".utf8))
            throw ExitCode(error.code == .unavailable ? ExitStatus.daemonUnavailable : 1)
        }
    }
}
