import CorosyncKit
import Foundation
import SFHABase
import Testing

@testable import SFHACore
@testable import sfha

/// With --lang fr, what sfha itself says is French: `status` (sfhad's view and corosync's), error summaries and
/// `config check`. A message left in English shows as words it shares with the English output that are neither
/// data (names, addresses, paths, sfhad's own detail) nor words both languages use.
@Suite(.timeLimit(.minutes(2))) struct CLIFrenchTests {
    /// Words French uses as they are: product names, cognates, units.
    static let shared: Set<String> = [
        "cluster", "quorum", "id", "sfha", "sfhad", "vip", "vips", "service", "services", "ok", "maintenance", "votes",
        "local", "corosync", "stonith", "enabled", "false", "fencing", "root", "journalctl", "systemctl", "start",
        "configuration", "mode", "partition", "placement", "socket", "version", "status",
    ]

    static func words(_ text: String) -> Set<String> {
        Set(text.lowercased().split { !$0.isLetter }.map(String.init).filter { $0.count >= 2 })
    }

    /// English words of `english` that `french` repeats, other than data and shared words.
    static func leaked(french: String, english: String, data: [String] = []) -> [String] {
        let dataWords = data.reduce(into: Set<String>()) { $0.formUnion(words($1)) }
        return words(french).intersection(words(english)).subtracting(dataWords).subtracting(shared).sorted()
    }

    static let timestamp = Timestamp(nanoseconds: 16_000_000_000)
    static let reasons: [PlacementReason] = [
        .noQuorum, .maintenance, .kept, .highestPriority, .failback(from: "n2"), .requested, .colocated(with: "g1"),
        .waitingForTakeover(previousHolder: "n2", until: timestamp), .waitingForRelease(by: "n2", next: "n3"),
        .waitingForOrder(after: "g1"), .waitingForReports(from: [2, 3]), .waitingForFence(until: timestamp),
        .noEligibleNode([:]), .noEligibleNode(Dictionary(uniqueKeysWithValues: Ineligibility.allCases.enumerated().map { ("n\($0.offset)", $0.element) })),
    ]

    /// A status that takes every branch of the text: every reason, every node state, every known warning.
    static func status(quorate: Bool, proven: Bool) -> DaemonStatus {
        let nodes = [
            DaemonStatus.Node(name: "n1", nodeId: 1, member: true, daemonAlive: true, standby: false, healthy: true, priority: 100,
                              holdings: ["g0"], local: true, failures: 0),
            DaemonStatus.Node(name: "n2", nodeId: 2, member: false, daemonAlive: false, standby: true, healthy: false, priority: 5,
                              holdings: [], local: false, failures: 3),
        ]
        var groups = reasons.enumerated().map { index, reason in
            DaemonStatus.Group(name: "g\(index)", holder: index == 0 ? "n1" : nil, reason: reason.description,
                               vips: ["192.0.2.\(index + 1)/24 dev eth0"], services: ["u\(index).service"], why: reason)
        }
        groups.append(DaemonStatus.Group(name: "gx", holder: nil, reason: DaemonText.notDecided, vips: [], services: []))
        return DaemonStatus(
            clusterName: "c1", node: "n1", nodeId: 1, quorate: quorate, maintenance: true, configurationRevision: 7,
            configurationHash: "abc", nodes: nodes, groups: groups, proven: proven,
            warnings: [
                TwoNodeWarning.text, "stonith.enabled: \(StonithConfiguration.notImplementedWarning)",
                "revision 7 is committed in memory only: could not write /var/lib/sfha/cluster.json: No space left on device",
            ])
    }

    @Test func statusFromSfhadIsFrench() {
        for (quorate, proven) in [(true, true), (false, false)] {
            let status = Self.status(quorate: quorate, proven: proven)
            let english = DaemonStatusText.render(status, language: .en)
            let french = DaemonStatusText.render(status, language: .fr)
            let data = status.groups.flatMap { [$0.name] + $0.vips + $0.services } + ["No space left on device", "/var/lib/sfha/cluster.json"]
            #expect(Self.leaked(french: french, english: english, data: data) == [], "\(french)")
            // Nothing is lost in translation: every data value is still there.
            #expect(french.contains("192.0.2.3/24 dev eth0") && french.contains("u2.service") && french.contains("16.000s"))
        }
        #expect(DaemonStatusText.render(Self.status(quorate: true, proven: true)).contains("highest-priority eligible node"))
    }

    /// `resources`, `vip list`, `service list`, `health` and `constraints`: every table in French, data kept.
    @Test func theResourceTablesAreFrench() {
        let resources = ResourcesReport(
            node: "n1",
            vips: [.init(name: "v1", address: "192.0.2.3/24", interface: "eth0", group: "g1", holder: "n1", presentHere: true),
                   .init(name: "v2", address: "192.0.2.4/24", interface: "eth0", group: "g2", holder: nil, presentHere: false)],
            services: [.init(name: "s1", unit: "u1.service", group: "g1", holder: "n1", activeHere: true),
                       .init(name: "s2", unit: "u2.service", group: "g2", holder: nil, activeHere: false)])
        let health = HealthReport(
            node: "n1", nodeHealthy: false,
            checks: [.init(name: "c1", healthy: false, probes: 3, consecutiveFailures: 2, consecutiveSuccesses: 0, lastResult: "x1"),
                     .init(name: "c2", healthy: true, probes: 3, consecutiveFailures: 0, consecutiveSuccesses: 3, lastResult: nil)],
            failures: [.init(group: "g1", service: "s1", unit: "u1.service", failures: 2, restartsInWindow: 1, failed: true, lastReason: "x2"),
                       .init(group: "g2", service: "s2", unit: "u2.service", failures: 0, restartsInWindow: 0, failed: false, lastReason: "x3")])
        let healthy = HealthReport(node: "n1", nodeHealthy: true, checks: [], failures: [])
        let constraints = ConstraintsReport(
            constraints: ["colocation s1 with c1"],
            groups: [.init(name: "g1", resources: ["v1", "s1"], colocatedWith: ["g2"], startAfter: [], requiredChecks: ["c1"])])
        let texts: [(Language) -> String] = [
            { ResourceTables.resources(resources, $0) }, { ResourceTables.vips(resources, $0) },
            { ResourceTables.services(resources, $0) }, { ResourceTables.health(health, $0) }, { ResourceTables.health(healthy, $0) },
            { ResourceTables.constraints(constraints, $0) },
        ]
        for text in texts {
            let (english, french) = (text(.en), text(.fr))
            #expect(Self.leaked(french: french, english: english, data: ["colocation s1 with c1", "eth0"]) == [], "\(french)")
            #expect(english != french)
        }
        #expect(ResourceTables.resources(resources, .fr).contains("u2.service"))
    }

    @Test func corosyncsViewIsFrench() {
        let ring = RingID(nodeID: 1, sequence: 8)
        for quorate in [true, false] {
            let snapshot = ClusterSnapshot(
                clusterName: quorate ? "c1" : nil, localNodeID: 1, ring: ring, quorate: quorate, expectedVotes: 2, highestExpected: 2,
                totalVotes: 2, quorum: 2, flags: quorate ? [.quorate, .twoNode] : [],
                members: [
                    ClusterMember(nodeID: 1, name: "n1", addresses: ["10.0.0.1"], online: true, votes: 1, isLocal: true),
                    ClusterMember(nodeID: 2, name: nil, addresses: [], online: false, votes: nil, isLocal: false),
                ])
            let report = StatusReport(snapshot)
            #expect(Self.leaked(french: report.text(.fr), english: report.text(.en), data: snapshot.flags.names) == [], "\(report.text(.fr))")
        }
    }

    @Test func everyErrorSummaryIsFrench() {
        let codes: [SFHAError.Code] = [
            .notRunning, .unavailable, .notQuorate, .conflict, .invalidState, .exists, .notFound, .invalidArgument, .timeout,
            .unauthorized, .io, .commandFailed, .internalError, SFHAError.Code(rawValue: "something_new"),
        ]
        for code in codes {
            let summary = CLI.summary(of: code)
            #expect(summary(.fr) != summary(.en), "\(code.rawValue)")
            #expect(Self.leaked(french: summary(.fr), english: summary(.en)) == [], "\(code.rawValue): \(summary(.fr))")
        }
    }

    /// The commands as an operator runs them: sfhad not running (an error) and `config check`.
    @Test func theCommandsSpeakFrench() async throws {
        let sfha = try builtSFHA()
        let runner = SystemProgramRunner()
        let directory = try CLITemporaryDirectory()
        defer { directory.remove() }
        let socket = directory.path + "/none.sock"
        let english = try await runner.run(sfha, ["standby", "--lang", "en", "--socket", socket], timeout: .seconds(60))
        let french = try await runner.run(sfha, ["standby", "--lang", "fr", "--socket", socket], timeout: .seconds(60))
        #expect(french.exitCode == ExitStatus.daemonUnavailable && english.exitCode == french.exitCode)
        // The summary is French; sfhad's (here the socket layer's) own text follows, labelled as the detail.
        let lines = french.standardError.split(separator: "\n").map(String.init)
        #expect(lines.count == 2 && lines[1].hasPrefix("sfha: détail : "), "\(lines)")
        #expect(Self.leaked(french: lines[0], english: english.standardError, data: [socket]) == [], "\(lines[0])")

        let config = try directory.write("config.yml", SFHAConfiguration.minimalExampleYAML + """

            logging:
              levle: info
            stonith:
              colour: blue
              enabled: true
              provider: webhook
              webhook:
                fence_url: "https://fence.example.com/{{node}}/{{action}}"
              nodes:
                node1: {type: lxc}

            """)
        let corosync = try directory.write("corosync.conf", """
            totem {
                version: 2
                cluster_name: production
            }
            quorum {
                provider: corosync_votequorum
                two_node: 1
            }
            nodelist {
                node {
                    name: node1
                    nodeid: 1
                    ring0_addr: 10.0.0.1
                }
            }

            """)
        let arguments = ["config", "check", config, "--corosync-conf", corosync]
        let checkEnglish = try await runner.run(sfha, arguments + ["--lang", "en"], timeout: .seconds(60))
        let checkFrench = try await runner.run(sfha, arguments + ["--lang", "fr"], timeout: .seconds(60))
        #expect(checkFrench.exitCode == 0, "\(checkFrench.standardError)")
        let frenchText = checkFrench.standardOutput + checkFrench.standardError
        let englishText = checkEnglish.standardOutput + checkEnglish.standardError
        #expect(frenchText.contains("avertissement : stonith.enabled : accepté, pas encore implémenté"), "\(frenchText)")
        #expect(frenchText.contains("logging.levle : clé inconnue, ignorée (vouliez-vous dire \"level\" ?)"), "\(frenchText)")
        #expect(frenchText.contains("stonith.colour : clé inconnue, ignorée (clés connues ici : enabled, provider,"), "\(frenchText)")
        let keys = ["stonith.enabled", "logging.levle", "level", "stonith.colour", "enabled, provider, proxmox, webhook, nodes, safety"]
        #expect(Self.leaked(french: frenchText, english: englishText, data: [config, "production", "node1"] + keys) == [], "\(frenchText)")
        // SFHA_LANG chooses the language when --lang is not given.
        let fromEnvironment = try await runner.run("env", ["SFHA_LANG=fr", sfha] + arguments, timeout: .seconds(60))
        #expect(fromEnvironment.standardOutput == checkFrench.standardOutput)

        let invalid = try directory.write("invalid.yml", "node:\n  name: node1\nvips:\n  - name: v\n    ip: 192.168.1.300\n")
        let refused = try await runner.run(sfha, ["config", "check", invalid, "--lang", "fr"], timeout: .seconds(60))
        #expect(refused.exitCode == ExitStatus.invalidConfiguration)
        #expect(refused.standardError.hasPrefix("\(invalid) : configuration invalide :\n"), "\(refused.standardError)")
    }
}
