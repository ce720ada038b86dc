import ArgumentParser
import Foundation
import SFHABase
import SFHACore

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Make a single-use join token for a new node (give it to 'sfha join' on that node).",
        discussion: """
            The cluster commits an invitation — the public half of a fresh one-time WireGuard key and the mesh \
            address the new node will get — and this node's mesh accepts that key for that address only. The token \
            carries the private half: treat it as a secret until it is used. It is worthless once redeemed, and \
            expires (1 h by default); joined nodes never depend on it. Needs a cluster built by 'sfha init'.
            """)

    @Option(name: .long, help: "How long the token may be used (e.g. 30m, 2h; at most 7 days).") var expires = "1h"
    @Flag(name: .long, help: "Print JSON (the token, the joiner's address, the expiry).") var json = false
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let lifetime: Duration
        switch DurationParser.parse(expires, defaultUnit: .seconds) {
        case .success(let value): lifetime = value
        case .failure(let problem): throw ValidationError("--expires \(String(reflecting: expires)) is not a duration: \(problem.message) (e.g. 30m, 2h)")
        }
        guard lifetime >= .seconds(1), lifetime <= MembershipRecord.maximumInvitationLifetime else {
            throw ValidationError("--expires must be from 1s to 7 days")
        }
        let answer: TokenAnswer = try await daemon.call {
            try await $0.post("/v1/token", body: TokenRequest(expiresSeconds: Int(lifetime.components.seconds)))
        }
        if json { return try CLI.printJSON(answer) }
        print(answer.token)
        FileHandle.standardError.write(Data(
            "single use, expires \(answer.expiresAt); the new node gets mesh address \(answer.address). On it: sfha join TOKEN\n".utf8))
    }
}
