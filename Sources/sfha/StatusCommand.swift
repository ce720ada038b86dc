import ArgumentParser
import CorosyncKit
import Foundation
import SFHABase
import SFHACore

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the cluster: nodes, quorum, each group's holder and why, VIPs, services, health.",
        discussion: """
            Asks sfhad for its cluster-wide view. When sfhad is not running, reads corosync directly through its C \
            libraries (cmap, quorum, votequorum) and says that the daemon is down. Exit status: 0 on success, 3 when \
            neither sfhad nor corosync can be reached on this node.
            """)

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    @OptionGroup var daemon: DaemonOptions

    static func fetchDaemonStatus(socket: String) async -> Result<DaemonStatus, SFHAError> {
        let client = ControlClient(socketPath: socket, timeout: .seconds(5))
        do {
            let status: DaemonStatus = try await client.get("/v1/status")
            return .success(status)
        } catch {
            return .failure(error)
        }
    }

    func run() async throws {
        // The daemon's cluster-wide view first; corosync's own view when sfhad is not running.
        let answer = await Self.fetchDaemonStatus(socket: daemon.socket)
        if case .failure(let error) = answer {
            guard error.code == .unavailable else {
                CLI.fail(error, language: daemon.language)
                throw ExitCode(ExitStatus.forError(error.code))
            }
            if !json {
                CLI.printError(Text(
                    en: "sfhad is DOWN on this node (\(error.message)); showing corosync's view",
                    fr: "sfhad est ARRÊTÉ sur ce nœud (\(error.message)) ; vue de corosync")(daemon.language))
            }
        }
        if case .success(let daemonStatus) = answer {
            if json {
                print(String(decoding: try StatusReport.encoder.encode(daemonStatus), as: UTF8.self))
            } else {
                print(DaemonStatusText.render(daemonStatus), terminator: "")
            }
            return
        }
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
    let daemon = "not running"
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

/// `sfha status` when sfhad answers.
enum DaemonStatusText {
    static func render(_ status: DaemonStatus) -> String {
        var lines: [String] = []
        lines.append("Cluster    \(status.clusterName)   node \(status.node) (id \(status.nodeId))   "
            + "config revision \(status.configurationRevision)" + (status.maintenance ? "   MAINTENANCE" : ""))
        lines.append("Quorum     \(status.quorate ? "QUORATE" : "NOT QUORATE")")
        lines.append("")
        let nodeRows = [["NODE", "ID", "MEMBER", "SFHAD", "STANDBY", "HEALTH", "FAILURES", "PRIORITY", "HOLDS"]]
            + status.nodes.map {
                [
                    $0.name + ($0.local ? " *" : ""), String($0.nodeId), $0.member ? "yes" : "no", $0.daemonAlive ? "up" : "down",
                    $0.standby ? "yes" : "no", $0.healthy ? "ok" : "failing", String($0.failures), String($0.priority),
                    $0.holdings.isEmpty ? "-" : $0.holdings.joined(separator: ","),
                ]
            }
        lines += table(nodeRows)
        lines.append("")
        let groupRows = [["GROUP", "HOLDER", "WHY", "VIPS", "SERVICES"]]
            + status.groups.map {
                [$0.name, $0.holder ?? "none", $0.reason, $0.vips.joined(separator: "; "), $0.services.joined(separator: ", ")]
            }
        lines += table(groupRows)
        return lines.joined(separator: "\n") + "\n"
    }

    static func table(_ rows: [[String]]) -> [String] {
        let widths = (0..<(rows.first?.count ?? 0)).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in cell.padding(toLength: widths[index], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
    }
}
