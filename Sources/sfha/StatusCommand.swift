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
            Asks sfhad for its cluster-wide view. When sfhad is not running (no control socket, or nobody listening \
            on it), reads corosync directly through its C libraries (cmap, quorum, votequorum) and says that the \
            daemon is down. When sfhad is running but does not answer (stuck, busy, shutting down), says so and shows \
            nothing else: its view is unknown. Exit status: 0 on success, \(ExitStatus.corosyncUnavailable) when \
            neither sfhad nor corosync can be reached on this node, \(ExitStatus.daemonUnavailable) when sfhad is \
            running but cannot answer, \(ExitStatus.timeout) when it did not answer within \
            \(daemonAnswerTimeout.components.seconds) s. With --json, errors are printed as JSON on standard output too.
            """)

    /// sfhad answers a status from memory: only a stuck or overloaded daemon takes longer than this.
    static let daemonAnswerTimeout: Duration = .seconds(5)

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    @Flag(name: .long, help: "Keep showing the status, refreshed every --interval (Ctrl-C ends it); with --json, one object per line.")
    var watch = false

    @Option(name: .long, help: "Seconds between refreshes with --watch.")
    var interval: Double = 2

    @OptionGroup var daemon: DaemonOptions

    /// What asking sfhad for its status gave.
    enum DaemonAnswer {
        case status(DaemonStatus)
        /// Nothing listens on the control socket: corosync's view is the best there is.
        case notRunning(SFHAError)
        /// sfhad is there (its socket took the connection) but gave no status: timed out, busy, shutting down, or
        /// closed the connection. Its view is unknown, and corosync's alone would hide that.
        case notAnswering(SFHAError)
        /// Any other failure (permission denied, a version mismatch), reported as it is.
        case failed(SFHAError)

        init(_ error: SFHAError) {
            switch error.code {
            case .notRunning: self = .notRunning(error)
            case .timeout, .unavailable: self = .notAnswering(error)
            default: self = .failed(error)
            }
        }
    }

    static func askDaemon(socket: String, timeout: Duration = daemonAnswerTimeout) async -> DaemonAnswer {
        let client = ControlClient(socketPath: socket, timeout: timeout)
        do {
            let status: DaemonStatus = try await client.get("/v1/status")
            return .status(status)
        } catch {
            return DaemonAnswer(error)
        }
    }

    /// Pretty JSON, or one object per line while watching.
    private var encoder: JSONEncoder {
        guard watch else { return StatusReport.encoder }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    func validate() throws {
        guard interval >= 0.2 && interval <= 3600 else { throw ValidationError("--interval must be between 0.2 and 3600 seconds") }
    }

    func run() async throws {
        guard watch else { return try await showOnce() }
        while true {
            if !json { print("\u{1B}[H\u{1B}[2J", terminator: "") }
            do {
                try await showOnce()
            } catch let exit as ExitCode {
                // The daemon down or not answering is part of what is watched: keep watching.
                _ = exit
            }
            fflush(nil)
            try await Task.sleep(for: .milliseconds(Int(interval * 1000)))
        }
    }

    private func showOnce() async throws {
        switch await Self.askDaemon(socket: daemon.socket) {
        case .status(let daemonStatus):
            if json {
                print(String(decoding: try encoder.encode(daemonStatus), as: UTF8.self))
            } else {
                print(DaemonStatusText.render(daemonStatus, language: daemon.language), terminator: "")
            }
        case .notRunning(let error):
            if !json {
                CLI.printError(Text(
                    en: "sfhad is DOWN on this node (\(error.message)); showing corosync's view",
                    fr: "sfhad est ARRÊTÉ sur ce nœud (aucun sfhad n'écoute sur \(daemon.socket)) ; vue de corosync")(
                        daemon.language))
            }
            try await showCorosyncView()
            // corosync's view is shown, but sfhad is not running: exit 4, as documented.
            throw ExitCode(ExitStatus.daemonUnavailable)
        case .notAnswering(let error):
            try report(error, daemonState: DaemonErrorReport.notAnswering)
        case .failed(let error):
            try report(error, daemonState: DaemonErrorReport.unknown)
        }
    }

    /// Prints why there is no status (JSON on standard output with --json) and exits with the error's status.
    private func report(_ error: SFHAError, daemonState: String) throws {
        if json {
            let report = DaemonErrorReport(daemon: daemonState, error: error)
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else if daemonState == DaemonErrorReport.notAnswering {
            CLI.printError(Text(
                en: "sfhad is RUNNING on this node but did not answer: the cluster's state is unknown (retry, or see 'journalctl -u sfhad')",
                fr: "sfhad TOURNE sur ce nœud mais n'a pas répondu : l'état du cluster est inconnu (réessayez, ou voyez 'journalctl -u sfhad')")(
                    daemon.language))
            CLI.printDetail(error, language: daemon.language)
        } else {
            CLI.fail(error, language: daemon.language)
        }
        throw ExitCode(ExitStatus.forError(error.code))
    }

    private func showCorosyncView() async throws {
        let snapshot: ClusterSnapshot
        do {
            snapshot = try await ClusterMonitor.readSnapshot()
        } catch {
            let message = "corosync is not reachable on this node (\(error)). Start corosync (or check that this "
                + "command runs in corosync's network namespace), then retry."
            if json {
                print(String(decoding: try encoder.encode(UnavailableReport(message: message)), as: UTF8.self))
            } else if daemon.language == .fr {
                CLI.printError("corosync est injoignable sur ce nœud. Démarrez corosync (ou vérifiez que cette commande "
                    + "tourne dans l'espace réseau de corosync), puis réessayez.")
                CLI.printError("détail : \(error)")
            } else {
                CLI.printError(message)
            }
            throw ExitCode(ExitStatus.corosyncUnavailable)
        }
        let report = StatusReport(snapshot)
        if json {
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.text(daemon.language), terminator: "")
        }
    }
}

/// `sfha status --json` when sfhad gave no status although something listens on its socket.
struct DaemonErrorReport: Codable, Equatable {
    /// sfhad took the connection (so it is running) but gave no status.
    static let notAnswering = "not answering"
    /// Asking failed for another reason (`code` says which).
    static let unknown = "unknown"

    var source = "sfhad"
    var daemon: String
    var code: String
    var message: String

    init(daemon: String, error: SFHAError) {
        self.daemon = daemon
        code = error.code.rawValue
        message = error.description
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
        // A group's last move: ISO 8601, as the control API writes it.
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    func text(_ language: Language = .en) -> String {
        let fr = language == .fr
        var lines: [String] = []
        lines.append(fr
            ? "Cluster    \(clusterName ?? "(sans nom)")   (vue de corosync ; sfhad non interrogé)"
            : "Cluster    \(clusterName ?? "(unnamed)")   (corosync view; sfhad not queried)")
        let state = quorum.quorate ? (fr ? "QUORUM ATTEINT" : "QUORATE") : (fr ? "SANS QUORUM" : "NOT QUORATE")
        lines.append(
            (fr
                ? "Quorum     \(state)   votes \(quorum.totalVotes)/\(quorum.expectedVotes) attendus, quorum \(quorum.quorum)"
                : "Quorum     \(state)   votes \(quorum.totalVotes)/\(quorum.expectedVotes) expected, quorum \(quorum.quorum)")
                + (quorum.flags.isEmpty ? "" : "   \(fr ? "drapeaux" : "flags") \(quorum.flags.joined(separator: " "))"))
        lines.append(fr ? "Anneau     \(ring ?? "-")   nœud local \(localNodeId)" : "Ring       \(ring ?? "-")   local node \(localNodeId)")
        lines.append("")
        let header = fr ? ["ID NŒUD", "NOM", "ADRESSES", "ÉTAT", "VOTES", ""] : ["NODE ID", "NAME", "ADDRESSES", "STATE", "VOTES", ""]
        let rows = [header]
            + members.map {
                [
                    String($0.nodeId), $0.name ?? "-", $0.addresses.isEmpty ? "-" : $0.addresses.joined(separator: ","),
                    $0.online ? (fr ? "en ligne" : "online") : (fr ? "hors ligne" : "offline"), $0.votes.map(String.init) ?? "-",
                    $0.local ? "(local)" : "",
                ]
            }
        lines += DaemonStatusText.table(rows)
        return lines.joined(separator: "\n") + "\n"
    }
}

/// `sfha status` when sfhad answers.
enum DaemonStatusText {
    static func render(_ status: DaemonStatus, language: Language = .en) -> String {
        let fr = language == .fr
        func yesNo(_ value: Bool) -> String { value ? (fr ? "oui" : "yes") : (fr ? "non" : "no") }
        var lines: [String] = []
        lines.append(
            (fr
                ? "Cluster    \(status.clusterName)   nœud \(status.node) (id \(status.nodeId))   révision de configuration \(status.configurationRevision)"
                : "Cluster    \(status.clusterName)   node \(status.node) (id \(status.nodeId))   config revision \(status.configurationRevision)")
                + (status.maintenance ? "   MAINTENANCE" : ""))
        let votes = status.votes.map { "   votes \($0.present)/\($0.expected) (quorum \($0.quorum))" } ?? ""
        lines.append("Quorum     " + (status.quorate ? (fr ? "QUORUM ATTEINT" : "QUORATE") : (fr ? "SANS QUORUM" : "NOT QUORATE")) + votes)
        lines.append("")
        let nodeHeader =
            fr
            ? ["NŒUD", "ID", "MEMBRE", "SFHAD", "VEILLE", "SANTÉ", "ÉCHECS", "PRIORITÉ", "RÉVISION", "DÉTIENT"]
            : ["NODE", "ID", "MEMBER", "SFHAD", "STANDBY", "HEALTH", "FAILURES", "PRIORITY", "REVISION", "HOLDS"]
        // What only a node's sfhad can say is "-" when it is not running: nothing is made up.
        func known<T>(_ value: T?, _ text: (T) -> String) -> String { value.map(text) ?? "-" }
        func row(_ node: DaemonStatus.Node) -> [String] {
            let member = node.member ? yesNo(true) : (fr ? "HORS LIGNE" : "OFFLINE")
            let daemon = node.daemonAlive ? (fr ? "actif" : "up") : (fr ? "arrêté" : "down")
            let health = known(node.healthy) { $0 ? "ok" : (fr ? "en échec" : "failing") }
            let holds = node.holdings.isEmpty ? "-" : node.holdings.joined(separator: ",")
            return [
                node.name + (node.local ? " *" : ""), String(node.nodeId), member, daemon, known(node.standby, yesNo), health,
                known(node.failures) { String($0) }, known(node.priority) { String($0) }, known(node.revision) { String($0) }, holds,
            ]
        }
        let nodeRows = [nodeHeader] + status.nodes.map(row)
        lines += table(nodeRows)
        lines.append("")
        let groupHeader = fr ? ["GROUPE", "DÉTENTEUR", "POURQUOI", "VIP", "SERVICES"] : ["GROUP", "HOLDER", "WHY", "VIPS", "SERVICES"]
        let groupRows = [groupHeader]
            + status.groups.map {
                [
                    $0.name, $0.holder ?? (fr ? "aucun" : "none"), DaemonText.reason($0, language), $0.vips.joined(separator: "; "),
                    $0.services.joined(separator: ", "),
                ]
            }
        lines += table(groupRows)
        // Under the table: how each group got where it is, and who may not take it (and why).
        let time = DateFormatter()
        time.dateFormat = "yyyy-MM-dd HH:mm:ss"
        for group in status.groups {
            if let move = group.lastMove {
                let at = time.string(from: move.at)
                let cause = move.cause.text(language)
                let line =
                    switch (move.from, fr) {
                    case (let from?, false): "  \(group.name): moved from \(from) to \(move.to) at \(at) — \(cause)"
                    case (let from?, true): "  \(group.name) : déplacé de \(from) vers \(move.to) à \(at) — \(cause)"
                    case (nil, false): "  \(group.name): on \(move.to) since \(at) — \(cause)"
                    case (nil, true): "  \(group.name) : sur \(move.to) depuis \(at) — \(cause)"
                    }
                lines.append(line)
            }
            if !group.ineligible.isEmpty {
                let list = group.ineligible.map { "\($0.node) (\($0.why.text(language)))" }.joined(separator: ", ")
                lines.append(fr ? "  \(group.name) : non éligibles : \(list)" : "  \(group.name): not eligible: \(list)")
            }
        }
        for node in status.nodes {
            for (group, missing) in (node.cannotApply ?? [:]).sorted(by: { $0.key < $1.key }) {
                lines.append(fr
                    ? "  \(node.name) ne peut pas appliquer \(group) : \(missing)"
                    : "  \(node.name) cannot apply \(group): \(missing)")
            }
        }
        if !status.proven {
            lines.append("")
            lines.append(fr
                ? "Ce nœud n'est pas prouvé dans l'anneau avec quorum : il ne prend aucun groupe et ses baux de VIP ne sont pas prolongés."
                : "This node is not proven to be in the quorate ring: it takes no group, and its VIP leases are not extended.")
        }
        for warning in status.warnings {
            lines.append("")
            lines.append((fr ? "AVERTISSEMENT : " : "WARNING: ") + DaemonText.warning(warning, language))
        }
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
