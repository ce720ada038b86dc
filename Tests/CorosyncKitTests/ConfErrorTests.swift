import Foundation
@testable import CorosyncKit
import SFHABase
import Testing

@Suite("corosync.conf syntax errors", .timeLimit(.minutes(2)))
struct ConfErrorTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var label: String
        var text: String
        var line: Int
        /// 0 when the error is about the line as a whole.
        var column: Int
        /// How sfha's reason starts: corosync's own wording where corosync has one.
        var reason: String
        var testDescription: String { label }
    }

    static let longValue = String(repeating: "a", count: 510 - "s.k: ".utf8.count)

    static func repeated(_ text: String, _ count: Int) -> String { String(repeating: text, count: count) }

    static let cases: [Case] = [
        Case(label: "text after {", text: "totem {\n\tversion: 2\n}\nquorum { provider: x\n}\n", line: 4, column: 10,
             reason: "Extra characters after opening bracket '{'"),
        Case(label: "{ in a key line", text: "totem {\n\tcluster_name: a{b\n}\n", line: 2, column: 18,
             reason: "Extra characters after opening bracket '{'"),
        Case(label: "{{", text: "totem {{\n}\n", line: 1, column: 8, reason: "Extra characters after opening bracket '{'"),
        Case(label: "no section name", text: "# c\n\t {\n}\n", line: 2, column: 3,
             reason: "Missing section name before opening bracket '{'"),
        Case(label: "stray }", text: "totem {\n}\n\n}\n", line: 4, column: 1, reason: "Unexpected closing brace"),
        Case(label: "unclosed section", text: "totem {\n\tversion: 2\n\n# trailing\n", line: 4, column: 0,
             reason: "Missing closing brace: section 'totem' opened at line 1"),
        Case(label: "unclosed nested section", text: "a {\nb {\n}", line: 3, column: 0,
             reason: "Missing closing brace: section 'a' opened at line 1"),
        Case(label: "} with text", text: "totem {\n} # end\n", line: 2, column: 3,
             reason: "Extra characters before or after closing bracket '}'"),
        Case(label: "}}", text: "a {\nb {\n}}\n", line: 3, column: 2,
             reason: "Extra characters before or after closing bracket '}'"),
        Case(label: "} then NBSP (3.1.7 does not strip 0xA0)", text: "a {\n}\u{A0}\n", line: 2, column: 2,
             reason: "Extra characters before or after closing bracket '}'"),
        Case(label: "} then extra CR", text: "a {\n}\r\r\n", line: 2, column: 2,
             reason: "Extra characters before or after closing bracket '}'"),
        Case(label: "no colon", text: "totem {\n\tversion 2\n}\n", line: 2, column: 2,
             reason: "Line is not opening or closing section or key value"),
        Case(label: "byte order mark", text: "\u{FEFF}# comment\n", line: 1, column: 1,
             reason: "Line is not opening or closing section or key value"),
        Case(label: "line of 511 bytes", text: "s {\ns.k: \(longValue)a\n}\n", line: 2, column: 511, reason: "Line too long"),
        Case(label: "CRLF line of 511 bytes", text: "s {\r\ns.k: \(longValue)\r\n}\r\n", line: 2, column: 511,
             reason: "Line too long"),
        Case(label: "last line of 511 bytes", text: "s {\n}\ns.k: \(longValue)a", line: 3, column: 511, reason: "Line too long"),
        Case(label: "NUL byte inside a line", text: "a {\nkey: v\u{0}w\n}\n", line: 2, column: 7,
             reason: "Line contains a NUL byte"),
        Case(label: "NUL byte starting a line longer than 510 bytes", text: "\u{0}\(repeated("x", 520))\n", line: 1,
             column: 1, reason: "Line starts with a NUL byte and is longer than 510 bytes"),
        Case(label: "cmap path of 256 bytes",
             text: "\(repeated("s", 200)) {\n\(repeated("k", 55)): v\n}\n", line: 2, column: 1,
             reason: "New key makes total cmap path too long: '\(repeated("s", 40))…' would be 256 bytes, corosync 3.1.7 "
                + "allows 254"),
        Case(label: "section path of 256 bytes",
             text: "\(repeated("s", 200)) {\n\(repeated("t", 55)) {\n}\n}\n", line: 2, column: 1,
             reason: "Start of section makes total cmap path too long"),
        Case(label: "key path of 255 bytes (ICMAP_KEYNAME_MAXLEN)", text: "s {\n\t\(repeated("k", 253)): v\n}\n",
             line: 2, column: 2, reason: "New key makes total cmap path too long: 's.\(repeated("k", 38))…' would be 255 bytes, corosync 3.1.7 "
                + "allows 254"),
        Case(label: "section path of 255 bytes", text: "s {\n\(repeated("t", 253)) {\n}\n}\n", line: 2, column: 1,
             reason: "Start of section makes total cmap path too long"),
        Case(label: "top-level key of 254 bytes (the reserved dot counts)", text: "\(repeated("k", 254)): v\n", line: 1,
             column: 1, reason: "New key makes total cmap path too long: '\(repeated("k", 40))…' would be 254 bytes, corosync 3.1.7 "
                + "allows 253 for a top-level name"),
        Case(label: "top-level section of 254 bytes", text: "\(repeated("t", 254)) {\n}\n", line: 1, column: 1,
             reason: "Start of section makes total cmap path too long"),
        Case(label: "top-level key of 2 bytes", text: "ab: 1\n", line: 1, column: 1,
             reason: "Can't store key \"ab\": corosync's cmap key names need at least 3 bytes"),
        Case(label: "top-level empty key", text: "totem {\n}\n:x\n", line: 3, column: 1,
             reason: "Can't store key \"\": corosync's cmap key names need at least 3 bytes"),
        Case(label: "top-level ':' key", text: ": x\n", line: 1, column: 1,
             reason: "Can't store key \":\": corosync's cmap key names need at least 3 bytes"),
        Case(label: "empty key in a one-letter section", text: "s {\n\t:x\n}\n", line: 2, column: 2,
             reason: "Can't store key \"s.\": corosync's cmap key names need at least 3 bytes"),
        Case(label: "space in a key", text: "abc {\n\ta b: 1\n}\n", line: 2, column: 3,
             reason: "Can't store key \"abc.a b\": corosync's cmap key names only allow letters, digits, '.', '_', "
                + "'-', '/' and ':', not ' '; rename the key"),
        Case(label: "space in the name of a section holding a key", text: "a b {\n\tkk: 1\n}\n", line: 1, column: 2,
             reason: "Can't store key \"a b.kk\" (for the key at line 2): corosync's cmap key names only allow letters, "
                + "digits, '.', '_', '-', '/' and ':', not ' '; rename the section 'a b'"),
        Case(label: "non-ASCII key", text: "abc {\n\tclé: 1\n}\n", line: 2, column: 4,
             reason: "Can't store key \"abc.clé\": corosync's cmap key names only allow letters, digits, '.', '_', "
                + "'-', '/' and ':', not 'é'"),
        Case(label: "tab inside a key", text: "abc {\n\ta\tb: 1\n}\n", line: 2, column: 3,
             reason: "Can't store key \"abc.a\\tb\""),
        Case(label: "CR inside a key", text: "abc {\n\tk\r: v\n}\n", line: 2, column: 3, reason: "Can't store key"),
        Case(label: "vertical tab before the colon (not a blank for corosync)", text: "totem {\n\tip_version\u{0B}: ipv4\n}\n",
             line: 2, column: 12, reason: "Can't store key \"totem.ip_version\\u{0B}\""),
        Case(label: "quotes in a key", text: "abc {\n\"a\": 1\n}\n", line: 2, column: 1, reason: "Can't store key"),
        Case(label: "space in a nodelist node key", text: "nodelist {\n\tnode {\n\t\ta b: 1\n\t}\n}\n", line: 3, column: 4,
             reason: "Can't store key \"nodelist.node.0.a b\""),
        Case(label: "bad byte kept by the 254-byte truncation of a node key",
             text: "nodelist {\nnode {\n\(repeated("k", 237))@@@: 1\n}\n}\n", line: 3, column: 238,
             reason: "Can't store key \"nodelist.node.0.\(repeated("k", 44))…\""),
        Case(label: "space in a logger_subsys subsys value",
             text: "logging {\n\tlogger_subsys {\n\t\tsubsys: QU ORUM\n\t}\n}\n", line: 3, column: 13,
             reason: "Can't store key \"logging.logger_subsys.QU ORUM.subsys\""),
        Case(label: "space in a logger_subsys key",
             text: "logging {\n\tlogger_subsys {\n\t\tsubsys: QUORUM\n\t\tde bug: on\n\t}\n}\n", line: 4, column: 5,
             reason: "Can't store key \"logging.logger_subsys.QUORUM.de bug\""),
        Case(label: "space in a logging_daemon name",
             text: "logging {\n\tlogging_daemon {\n\t\tname: a b\n\t}\n}\n", line: 3, column: 10,
             reason: "Can't store key \"logging.logging_daemon.a b.name\""),
        Case(label: "uidgid item", text: "uidgid {\n\tuid: hacluster\n\tgroup: x\n}\n", line: 3, column: 2,
             reason: "uidgid: Only uid and gid are allowed items"),
        Case(label: "uidgid nested item", text: "uidgid {\n\tsub {\n\t\tgroup: x\n\t}\n}\n", line: 3, column: 3,
             reason: "uidgid: Only uid and gid are allowed items"),
        Case(label: "member item", text: "totem {\ninterface {\nmember {\nmemberaddr: 1.2.3.4\nport: 5\n}\n}\n}\n",
             line: 5, column: 1, reason: "Only memberaddr is allowed in member section"),
        Case(label: "logger_subsys without subsys", text: "logging {\n\tlogger_subsys {\n\t\tdebug: on\n\t}\n}\n",
             line: 4, column: 2, reason: "No subsys key in logger_subsys directive"),
        Case(label: "logging_daemon without name", text: "logging {\n\tlogging_daemon {\n\t\tsubsys: CPG\n\t}\n}\n",
             line: 4, column: 2, reason: "No name key in logging_daemon directive"),
        Case(label: "section nested in logger_subsys before any subsys",
             text: "logging {\n\tlogger_subsys {\n\t\tinner {\n\t\t}\n\t\tsubsys: QUORUM\n\t}\n}\n", line: 4, column: 3,
             reason: "No subsys key in logger_subsys directive"),
        Case(label: "section nested in logger_subsys (double free)",
             text: "logging {\n\tlogger_subsys {\n\t\tsubsys: QUORUM\n\t\tinner {\n\t\t}\n\t}\n}\n", line: 6, column: 2,
             reason: "corosync 3.1.7 would crash at this '}' (use after free): the '}' at line 5 already released this "
                + "logger_subsys's subsys"),
        Case(label: "logger_subsys items before a nested section (use after free)",
             text: "logging {\n\tlogger_subsys {\n\t\tsubsys: QUORUM\n\t\tdebug: on\n\t\tinner {\n\t\t}\n"
                + "\t\tsubsys: CPG\n\t}\n}\n",
             line: 8, column: 2, reason: "corosync 3.1.7 would crash at this '}' (use after free): the '}' at line 6 "
                + "already released this logger_subsys's items"),
        Case(label: "section nested in logging_daemon (double free)",
             text: "logging {\n\tlogging_daemon {\n\t\tname: foo\n\t\tinner {\n\t\t}\n\t}\n}\n", line: 6, column: 2,
             reason: "corosync 3.1.7 would crash at this '}'"),
        Case(label: "section nested in totem.interface after knet_transport (double free)",
             text: "totem {\n\tinterface {\n\t\tknet_transport: udp\n\t\tinner {\n\t\t}\n\t}\n}\n", line: 6, column: 2,
             reason: "corosync 3.1.7 would crash at this '}' (use after free): the '}' at line 5 already released this "
                + "totem.interface's knet_transport"),
        Case(label: "section nested in totem.interface after a member section (use after free)",
             text: "totem {\n\tinterface {\n\t\tmember {\n\t\t\tmemberaddr: 10.0.0.1\n\t\t}\n\t\tinner {\n\t\t}\n"
                + "\t}\n}\n",
             line: 8, column: 2, reason: "corosync 3.1.7 would crash at this '}' (use after free): the '}' at line 7 "
                + "already released this totem.interface's member addresses"),
        Case(label: "member section outside totem.interface (NULL dereference)",
             text: "totem.interface.member {\n\tmemberaddr: 10.0.0.1\n}\n", line: 2, column: 2,
             reason: "corosync 3.1.7 would crash here (NULL dereference)"),
    ]

    @Test(arguments: cases)
    func rejected(_ sample: Case) {
        let thrown = #expect(throws: CorosyncConfError.self) { try CorosyncConf(parsing: sample.text) }
        guard let thrown else { return }
        #expect(thrown.kind == .syntax)
        #expect(thrown.line == sample.line && thrown.column == sample.column, "\(thrown)")
        #expect(thrown.reason.hasPrefix(sample.reason), "\(thrown)")
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
        #expect(error.description == "corosync.conf:12: Missing closing brace")
        #expect(CorosyncConfError(line: 3, column: 7, reason: "bad").description == "corosync.conf:3:7: bad")
        #expect(CorosyncConfError.invalid("bad").description == "corosync.conf: bad")
        #expect(error.sfhaError.code == .invalidArgument)
        #expect(CorosyncConfError(kind: .notFound, line: 0, reason: "x").sfhaError.code == .notFound)
    }
}
