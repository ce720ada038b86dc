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

    /// Every loader message in `config check --lang fr` is French: two files that take most of the loader's error
    /// paths (names, addresses, units, checks, constraints, groups, STONITH), YAML syntax errors, and a valid file
    /// with most of its warnings.
    @Test func configurationErrorsAreFrench() async throws {
        let sfha = try builtSFHA()
        let runner = SystemProgramRunner()
        let directory = try CLITemporaryDirectory()
        defer { directory.remove() }
        let files = [
            ("many.yml", """
            cluster:
              name: "bad name!"
              quorum_required: yes
              failover_delay_ms: -5
              maintenance: "true"
              node_priorities:
                "bad node!": 5
                n2:
              colour: blue
            node:
              name: n1
              priority: 5000
              log_level: loud
              prio: 3
            vips:
              - name: v1
                ip: 10.0.0.300
              - name: v2
                ip: 10.0.0.1/40
                interface: "eth/0"
              - name: v3
                ip: 10.0.0.2/24
                cidr: 16
              - name: v1
                ip: 127.0.0.1
              -
            services:
              - name: s1
                unit: "-bad"
                type: docker
              - name: "bad unit name@"
              - name: s3
                unit: s3
                restart_service: true
                failure_policy:
                  max_restarts: 0
              - name: s4
                unit: s4
                healthcheck:
                  type: bogus
              - name: s5
                unit: s5
                healthcheck:
                  type: http
                  target: "ftp://x"
                  interval_ms: 100
                  timeout_ms: 5s
                  verify_certificate: false
              - name: s6
                unit: s6
                healthcheck:
                  type: exec
                  command: "/bin/check --x"
              - name: s7
                unit: s7
                healthcheck:
                  type: tcp
                  target: "::1:80"
            health_checks:
              - name: c1
                type: tcp
                target: "host"
              - name: c2
                type: exec
                command: []
            constraints:
              - type: sometimes
              - type: colocation
                resource: c1
                with: c2
              - type: order
                first: v1
                then: nothing
            groups:
              - name: g1
                vips: [v2, s1, nope]
                start_after: [g1]
                failback_delay: 5s
              - name: g2
            stonith:
              enabled: true
              provider: magic

            """),
            ("more.yml", """
            cluster:
              name: c
            node:
              name: n1
            vips:
              - name: v
                ip: 10.0.0.1/24
              - name: w
                ip: 10.0.0.0/24
            services:
              - name: a
                unit: a
              - name: b
                unit: b
                healthcheck:
                  type: systemd
              - name: c
                unit: c
                healthcheck:
                  type: http
                  target: "http://user:pw@h/"
                  interval: 5s
                  interval_ms: 100
            constraints:
              - type: order
                first: a
                then: v
              - type: colocation
                resource: a
                with: v
                first: x
            groups:
              - name: g
                vips: [v]
                services: [a]
              - name: h
                vips: [w]
                services: [b]
                start_after: [i]
              - name: i
                services: [c]
                start_after: [h]
                failback_delay: 10s
            stonith:
              enabled: true
              provider: proxmox
              proxmox:
                api_url: "https://pve:8006"
                token_id: "bad"
                token_secret: ""

            """),
            ("tab.yml", "cluster:\n  name: c\n\tnode: x\n"),
            ("twice.yml", "cluster: {name: c, name: d}\nnode:\n  name: n\n"),
            // Valid, with most of the loader's warnings.
            ("warnings.yml", """
            cluster:
              name: c
              quorum_required: false
              banned_nodes:
                nogroup: [n2]
            node:
              name: n1
            vips:
              - name: v
                ip: 10.0.0.1/24
            services:
              - name: a
                unit: a
                healthcheck:
                  type: http
                  target: "http://127.0.0.1/"
                  interval_ms: 1000
                  timeout_ms: 2000
                  verify_certificate: false
            constraints:
              - type: order
                first: v
                then: a
                with: x
            groups:
              - name: g
                vips: [v]
                services: [a]
                failback_delay: 5s
              - name: empty
            stonith:
              enabled: true
              provider: webhook
              webhook:
                fence_url: "https://f/{{node}}"
                method: GET
                body: "x"

            """),
        ]
        for (name, text) in files {
            let path = try directory.write(name, text)
            let english = try await runner.run(sfha, ["config", "check", path, "--lang", "en"], timeout: .seconds(60))
            let french = try await runner.run(sfha, ["config", "check", path, "--lang", "fr"], timeout: .seconds(60))
            #expect(french.exitCode == (name == "warnings.yml" ? 0 : ExitStatus.invalidConfiguration))
            #expect(french.standardError.split(separator: "\n").count == english.standardError.split(separator: "\n").count)
            // What the file says is data (names, keys, values), and so are the values sfha lists as expected.
            // Words French uses as they are here: cycle, port, token, shell, URL, YAML, IPv6, API, webhook, "sur place", …
            let cognates = "cycle port token shell url yaml ipv api webhook proxmox arguments place indentation"
            let data = [path, text, "http, https, tcp, systemd, exec", "user@realm!tokenid", "[/usr/bin/check, --quiet]", "body_template", cognates]
            #expect(Self.leaked(french: french.standardError, english: english.standardError, data: data) == [], "\(french.standardError)")
        }
    }
}
