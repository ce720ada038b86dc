import ArgumentParser
import CorosyncKit
import Foundation

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the cluster: quorum, votes and members.",
        discussion: """
            Reads corosync directly through its C libraries (cmap, quorum, votequorum), so it works whether or not \
            sfhad runs. Exit status: 0 on success, 3 when corosync cannot be reached on this node.
            """)

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    func run() async throws {
        let snapshot: ClusterSnapshot
        do {
            snapshot = try await ClusterMonitor.readSnapshot()
        } catch {
            let message = "corosync is not reachable on this node (\(error)). Start corosync (or check that this "
                + "command runs in corosync's network namespace), then retry."
            if json {
                print(String(decoding: try StatusReport.encoder.encode(UnavailableReport(message: message)), as: UTF8.self))
            } else {
                FileHandle.standardError.write(Data("sfha: \(message)\n".utf8))
            }
            throw ExitCode(ExitStatus.corosyncUnavailable)
        }
        let report = StatusReport(snapshot)
        if json {
            print(String(decoding: try StatusReport.encoder.encode(report), as: UTF8.self))
        } else {
            print(report.text, terminator: "")
        }
    }
}

private struct UnavailableReport: Encodable {
    let source = "corosync"
    let corosyncReachable = false
    let message: String
}

/// `sfha status` as a stable JSON document (and its text rendering).
struct StatusReport: Encodable {
    struct Quorum: Encodable {
        let quorate: Bool
        let expectedVotes: UInt32
        let highestExpected: UInt32
        let totalVotes: UInt32
        let quorum: UInt32
        let flags: [String]
    }
    struct Member: Encodable {
        let nodeId: UInt32
        let name: String?
        let addresses: [String]
        let online: Bool
        let votes: UInt32?
        let local: Bool
    }

    let source = "corosync"
    let corosyncReachable = true
    let daemon = "not queried"
    let clusterName: String?
    let localNodeId: UInt32
    let ring: String?
    let quorum: Quorum
    let members: [Member]

    init(_ snapshot: ClusterSnapshot) {
        clusterName = snapshot.clusterName
        localNodeId = snapshot.localNodeID
        ring = snapshot.ring?.description
        quorum = Quorum(
            quorate: snapshot.quorate, expectedVotes: snapshot.expectedVotes, highestExpected: snapshot.highestExpected,
            totalVotes: snapshot.totalVotes, quorum: snapshot.quorum, flags: snapshot.flags.names)
        members = snapshot.members.map {
            Member(nodeId: $0.nodeID, name: $0.name, addresses: $0.addresses, online: $0.online, votes: $0.votes, local: $0.isLocal)
        }
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return encoder
    }

    var text: String {
        var lines: [String] = []
        lines.append("Cluster    \(clusterName ?? "(unnamed)")   (corosync view; sfhad not queried)")
        let state = quorum.quorate ? "QUORATE" : "NOT QUORATE"
        lines.append(
            "Quorum     \(state)   votes \(quorum.totalVotes)/\(quorum.expectedVotes) expected, quorum \(quorum.quorum)"
                + (quorum.flags.isEmpty ? "" : "   flags \(quorum.flags.joined(separator: " "))"))
        lines.append("Ring       \(ring ?? "-")   local node \(localNodeId)")
        lines.append("")
        let rows = [["NODE ID", "NAME", "ADDRESSES", "STATE", "VOTES", ""]]
            + members.map {
                [
                    String($0.nodeId), $0.name ?? "-", $0.addresses.isEmpty ? "-" : $0.addresses.joined(separator: ","),
                    $0.online ? "online" : "offline", $0.votes.map(String.init) ?? "-", $0.local ? "(local)" : "",
                ]
            }
        let widths = (0..<6).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            let cells = row.enumerated().map { index, cell in cell.padding(toLength: widths[index], withPad: " ", startingAt: 0) }
            lines.append(cells.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
