import Foundation
@testable import CorosyncKit
import SFHABase
import Testing

@Suite("corosync.conf syntax errors")
struct ConfErrorTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var label: String
        var text: String
        var line: Int
        var reason: String
        var testDescription: String { label }
    }

    static let longValue = String(repeating: "a", count: 510 - "s.k: ".utf8.count)

    static let cases: [Case] = [
        Case(label: "text after {", text: "totem {\n\tversion: 2\n}\nquorum { provider: x\n}\n", line: 4,
             reason: "Extra characters after opening bracket '{'"),
        Case(label: "{ in a key line", text: "totem {\n\tcluster_name: a{b\n}\n", line: 2,
             reason: "Extra characters after opening bracket '{'"),
        Case(label: "{{", text: "totem {{\n}\n", line: 1, reason: "Extra characters after opening bracket '{'"),
        Case(label: "no section name", text: "# c\n\t {\n}\n", line: 2,
             reason: "Missing section name before opening bracket '{'"),
        Case(label: "stray }", text: "totem {\n}\n\n}\n", line: 4, reason: "Unexpected closing brace"),
        Case(label: "unclosed section", text: "totem {\n\tversion: 2\n\n# trailing\n", line: 4,
             reason: "Missing closing brace"),
        Case(label: "unclosed nested section", text: "a {\nb {\n}", line: 3, reason: "Missing closing brace"),
        Case(label: "} with text", text: "totem {\n} # end\n", line: 2,
             reason: "Extra characters before or after closing bracket '}'"),
        Case(label: "}}", text: "a {\nb {\n}}\n", line: 3, reason: "Extra characters before or after closing bracket '}'"),
        Case(label: "} then NBSP (3.1.7 does not strip 0xA0)", text: "a {\n}\u{A0}\n", line: 2,
             reason: "Extra characters before or after closing bracket '}'"),
        Case(label: "} then extra CR", text: "a {\n}\r\r\n", line: 2,
             reason: "Extra characters before or after closing bracket '}'"),
        Case(label: "no colon", text: "totem {\n\tversion 2\n}\n", line: 2,
             reason: "Line is not opening or closing section or key value"),
        Case(label: "byte order mark", text: "\u{FEFF}# comment\n", line: 1,
             reason: "Line is not opening or closing section or key value"),
        Case(label: "empty key", text: "totem {\n\t:2\n}\n", line: 2, reason: "Key name can't be empty"),
        Case(label: "line of 511 bytes", text: "s {\ns.k: \(longValue)a\n}\n", line: 2, reason: "Line too long"),
        Case(label: "CRLF line of 511 bytes", text: "s {\r\ns.k: \(longValue)\r\n}\r\n", line: 2, reason: "Line too long"),
        Case(label: "last line of 511 bytes", text: "s {\n}\ns.k: \(longValue)a", line: 3, reason: "Line too long"),
        Case(label: "NUL byte", text: "a {\nk: v\u{0}w\n}\n", line: 2, reason: "Line contains a NUL byte"),
        Case(label: "cmap path too long",
             text: "\(String(repeating: "s", count: 200)) {\n\(String(repeating: "k", count: 55)): v\n}\n", line: 2,
             reason: "New key makes total cmap path too long"),
        Case(label: "section path too long",
             text: "\(String(repeating: "s", count: 200)) {\n\(String(repeating: "t", count: 55)) {\n}\n}\n", line: 2,
             reason: "Start of section makes total cmap path too long"),
        Case(label: "uidgid item", text: "uidgid {\n\tuid: hacluster\n\tgroup: x\n}\n", line: 3,
             reason: "uidgid: Only uid and gid are allowed items"),
        Case(label: "uidgid nested item", text: "uidgid {\n\tsub {\n\t\tuid: x\n\t}\n}\n", line: 3,
             reason: "uidgid: Only uid and gid are allowed items"),
        Case(label: "member item", text: "totem {\ninterface {\nmember {\nmemberaddr: 1.2.3.4\nport: 5\n}\n}\n}\n", line: 5,
             reason: "Only memberaddr is allowed in member section"),
        Case(label: "logger_subsys without subsys", text: "logging {\n\tlogger_subsys {\n\t\tdebug: on\n\t}\n}\n", line: 4,
             reason: "No subsys key in logger_subsys directive"),
        Case(label: "logging_daemon without name", text: "logging {\n\tlogging_daemon {\n\t\tsubsys: CPG\n\t}\n}\n",
             line: 4, reason: "No name key in logging_daemon directive"),
    ]

    @Test(arguments: cases)
    func rejected(_ sample: Case) {
        #expect(throws: CorosyncConfError(kind: .syntax, line: sample.line, reason: sample.reason)) {
            try CorosyncConf(parsing: sample.text)
        }
    }

    @Test func lineLimitBoundaryIsAccepted() throws {
        // 510 bytes before "\n" (or 509 plus the "\r" of "\r\n") is the most corosync reads as one line.
        let text = "s.k: \(Self.longValue)\ns.k: \(Self.longValue.dropLast())\r\ns.k: \(Self.longValue)"
        let conf = try CorosyncConf(parsing: text)
        #expect(conf.values(at: "s.k").count == 3)
        #expect(Array(conf.render().utf8) == Array(text.utf8))
    }

    @Test func errorDescriptionNamesTheLine() {
        let error = CorosyncConfError(line: 12, reason: "Missing closing brace")
        #expect(error.description == "corosync.conf line 12: Missing closing brace")
        #expect(CorosyncConfError.invalid("bad").description == "corosync.conf: bad")
        #expect(error.sfhaError.code == .invalidArgument)
        #expect(CorosyncConfError(kind: .notFound, line: 0, reason: "x").sfhaError.code == .notFound)
    }


    /// The parser and the real corosync agree on lines whose only possible problem is syntax.
    @Test  // needs corosync installed (scripts/install-deps.sh does it)
    func agreesWithRealCorosync() async throws {
        let snippets = [
            "x {\n k: v\n}\n", "x{\n k: v\n}\n", "x: {\n k:v\n}\n", "x {\n k: v\n} x\n", "x {\n k: v\nx }\n",
            " {\n}\n", "x { y\n}\n", "x {\n k: a{b\n}\n", "x {\n k: v\n", "x {\n}\n}\n", "x {\n k 1\n}\n",
            "x {\n k: v\n}\u{A0}\n", "x {\r\n k: v\r\n}\r\n", "x {\n k:: v\n}\n", "x {\n k: }\n}\n",
            "uidgid {\n foo: 1\n}\n", "logging {\n logger_subsys {\n  debug: on\n }\n}\n",
        ]
        let base = ConfFixtures.debianDefault
        let runner = SystemProgramRunner()
        for snippet in snippets {
            let text = base + snippet
            let oursAccepts = (try? CorosyncConf(parsing: text)) != nil
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("conf-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            // Keep corosync's logging on stderr so the check writes no log file and nothing to syslog.
            let path = directory.appendingPathComponent("corosync.conf").path
            let quiet = text
                .replacingOccurrences(of: "\tto_logfile: yes\n\tlogfile: /var/log/corosync/corosync.log\n", with: "")
                .replacingOccurrences(of: "\tto_syslog: yes\n", with: "\tto_syslog: no\n")
            try quiet.write(toFile: path, atomically: true, encoding: .utf8)
            let result = try await CorosyncConf.validate(path: path, runner: runner)
            #expect(oursAccepts == (result == .valid), "snippet \(snippet.debugDescription): corosync said \(result)")
        }
    }
}
