import ArgumentParser
import Foundation
import SFHABase
import SFHACore

struct MeshCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mesh", abstract: "The WireGuard mesh (wg-sfha) of a cluster built by 'sfha init'.",
        subcommands: [MeshStatusCommand.self])
}

struct MeshStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Every member: its mesh address, endpoint, WireGuard handshake, corosync membership and whether its sfhad answers over the mesh.")

    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let report: MeshStatusReport = try await daemon.call { try await $0.get("/v1/mesh") }
        if json { return try CLI.printJSON(report) }
        print("Mesh       \(report.interfaceUp ? "wg-sfha up" : "wg-sfha DOWN")\(report.listenPort.map { ", port \($0)" } ?? "")   cluster \(report.cluster)   membership revision \(report.membershipRevision)")
        print("")
        let rows = [["NODE", "ID", "MESH ADDRESS", "ENDPOINT", "ONLINE", "SFHAD", "HANDSHAKE"]] + report.members.map { member in
            [
                member.name + (member.local ? " *" : ""), "\(member.nodeId)", member.meshAddress, member.endpoint, member.online ? "yes" : "no",
                member.sfhaRunning ? "answers" : "no answer",
                member.local ? "-" : member.latestHandshake.map { "\(Int(Date().timeIntervalSince($0))) s ago" } ?? "never",
            ]
        }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            print(zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
        if !report.invitations.isEmpty {
            print("")
            for invitation in report.invitations {
                print("pending join token for \(invitation.address), issued by \(invitation.issuer), expires \(invitation.expiresAt)")
            }
        }
    }
}
