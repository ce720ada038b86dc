import Foundation
@testable import CorosyncKit
import SFHABase
import Testing

/// Files at the edges of corosync's parser, with what corosync 3.1.7 does with them. The first test holds sfha's
/// parser to the recorded verdicts; the second checks the record against the real `corosync -t`.
@Suite("corosync.conf verdicts agree with corosync 3.1.7", .timeLimit(.minutes(5)))
struct ConfAgreementTests {
    enum Verdict: Sendable, Equatable {
        case accepted
        case refused
        /// corosync refuses a value, which sfha leaves to `corosync -t`: the parser accepts the file.
        case refusedValue
        /// corosync 3.1.7 crashes (double free, use after free or NULL dereference), so it accepts nothing either.
        case crashes
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var label: String
        /// Appended to ``base``.
        var snippet: String
        var verdict: Verdict
        var testDescription: String { label }
    }

    static func repeated(_ text: String, _ count: Int) -> String { String(repeating: text, count: count) }

    /// A minimal file `corosync -t` accepts. Its state directory is where corosync writes a crash dump (fdata).
    static func base(stateDirectory: String) -> String {
        """
        system {
        \tstate_dir: \(stateDirectory)
        }
        totem {
        \tversion: 2
        \tcluster_name: agree
        \tcrypto_cipher: none
        \tcrypto_hash: none
        }
        logging {
        \tto_stderr: yes
        \tto_syslog: no
        \tto_logfile: no
        }
        quorum {
        \tprovider: corosync_votequorum
        }
        nodelist {
        \tnode {
        \t\tname: node1
        \t\tnodeid: 1
        \t\tring0_addr: 127.0.0.1
        \t}
        }

        """
    }

    static let cases: [Case] = [
        // Line syntax.
        Case(label: "plain section", snippet: "x {\n k: v\n}\n", verdict: .accepted),
        Case(label: "no blank before {", snippet: "x{\n k: v\n}\n", verdict: .accepted),
        Case(label: "colon before {", snippet: "x: {\n k:v\n}\n", verdict: .accepted),
        Case(label: "text after }", snippet: "x {\n k: v\n} x\n", verdict: .refused),
        Case(label: "text before }", snippet: "x {\n k: v\nx }\n", verdict: .refused),
        Case(label: "no section name", snippet: " {\n}\n", verdict: .refused),
        Case(label: "text after {", snippet: "x { y\n}\n", verdict: .refused),
        Case(label: "{ in a value", snippet: "x {\n k: a{b\n}\n", verdict: .refused),
        Case(label: "unclosed", snippet: "x {\n k: v\n", verdict: .refused),
        Case(label: "stray }", snippet: "x {\n}\n}\n", verdict: .refused),
        Case(label: "no colon", snippet: "x {\n k 1\n}\n", verdict: .refused),
        Case(label: "NBSP after }", snippet: "x {\n k: v\n}\u{A0}\n", verdict: .refused),
        Case(label: "CRLF", snippet: "x {\r\n k: v\r\n}\r\n", verdict: .accepted),
        Case(label: "value starting with a colon", snippet: "x {\n k:: v\n}\n", verdict: .accepted),
        Case(label: "} as a value", snippet: "x {\n k: }\n}\n", verdict: .accepted),
        // Colons: the value starts after the first colon and its blanks; what precedes it, trimmed, is the key.
        Case(label: "empty key", snippet: "ab {\n:x\n}\n", verdict: .accepted),
        Case(label: "empty key, value ': 1'", snippet: "ab {\n:: 1\n}\n", verdict: .accepted),
        Case(label: "key ':'", snippet: "ab {\n: x\n}\n", verdict: .accepted),
        Case(label: "empty key in a node", snippet: "nodelist {\n node {\n  :x\n }\n}\n", verdict: .accepted),
        Case(label: "the value of 'ip_version:: ipv4' is ': ipv4'", snippet: "totem {\n ip_version:: ipv4\n}\n", verdict: .refusedValue),
        Case(label: "the value of 'ip_version: :ipv4' is ':ipv4'", snippet: "totem {\n ip_version: :ipv4\n}\n", verdict: .refusedValue),
        Case(label: "blanks around the colon", snippet: "totem {\n ip_version\t:\tipv4\t\n}\n", verdict: .accepted),
        Case(label: "colon in a section name", snippet: "a:b {\n kk: v\n}\n", verdict: .accepted),
        Case(label: "colon and slash in a top-level key", snippet: "a/b-c_d.e: 1\n", verdict: .accepted),
        // Key names: icmap_check_key_name on the name each key is stored under.
        Case(label: "top-level empty key", snippet: ":x\n", verdict: .refused),
        Case(label: "top-level empty key, value ': 1'", snippet: ":: 1\n", verdict: .refused),
        Case(label: "top-level key ':'", snippet: ": x\n", verdict: .refused),
        Case(label: "top-level key of 2 bytes", snippet: "ab: 1\n", verdict: .refused),
        Case(label: "top-level key of 3 bytes", snippet: "abc: 1\n", verdict: .accepted),
        Case(label: "empty key in a one-letter section", snippet: "s {\n:x\n}\n", verdict: .refused),
        Case(label: "space in a key", snippet: "abc {\n a b: 1\n}\n", verdict: .refused),
        Case(label: "non-ASCII key", snippet: "abc {\n clé: 1\n}\n", verdict: .refused),
        Case(label: "+ in a key", snippet: "abc {\n a+b: 1\n}\n", verdict: .refused),
        Case(label: "quotes in a key", snippet: "abc {\n \"a\": 1\n}\n", verdict: .refused),
        Case(label: "vertical tab before the colon", snippet: "totem {\n ip_version\u{0B}: ipv4\n}\n", verdict: .refused),
        Case(label: "space in an empty section's name", snippet: "a b {\n}\n", verdict: .accepted),
        Case(label: "odd names on sections without keys", snippet: "é {\n f@o {\n }\n}\n", verdict: .accepted),
        Case(label: "space in a section name with a key", snippet: "a b {\n kk: 1\n}\n", verdict: .refused),
        Case(label: "space in a nodelist key", snippet: "nodelist {\n a b: 1\n}\n", verdict: .refused),
        Case(label: "space in an interface key", snippet: "totem {\n interface {\n  a b: 1\n }\n}\n", verdict: .refused),
        Case(label: "space in a node key", snippet: "nodelist {\n node {\n  a b: 1\n }\n}\n", verdict: .refused),
        Case(label: "space in the name of a section nested in a node",
             snippet: "nodelist {\n node {\n  x y {\n   abc: 1\n  }\n }\n}\n", verdict: .accepted),
        Case(label: "bad bytes cut off by the 254-byte node key name",
             snippet: "nodelist {\n node {\n  \(repeated("k", 238))@@: 1\n }\n}\n", verdict: .accepted),
        Case(label: "bad byte kept by the 254-byte node key name",
             snippet: "nodelist {\n node {\n  \(repeated("k", 237))@@@: 1\n }\n}\n", verdict: .refused),
        Case(label: "space in a logger_subsys subsys value",
             snippet: "logging {\n logger_subsys {\n  subsys: QU ORUM\n }\n}\n", verdict: .refused),
        Case(label: "space in a logger_subsys key",
             snippet: "logging {\n logger_subsys {\n  subsys: QUORUM\n  de bug: on\n }\n}\n", verdict: .refused),
        Case(label: "bad bytes cut off by the 254-byte logger_subsys key name",
             snippet: "logging {\n logger_subsys {\n  subsys: QUORUM\n  \(repeated("k", 225))@@: 1\n }\n}\n",
             verdict: .accepted),
        Case(label: "bad byte kept by the 254-byte logger_subsys key name",
             snippet: "logging {\n logger_subsys {\n  subsys: QUORUM\n  \(repeated("k", 224))@@@: 1\n }\n}\n",
             verdict: .refused),
        Case(label: "space in a logging_daemon key for corosync",
             snippet: "logging {\n logging_daemon {\n  name: corosync\n  a b: 1\n }\n}\n", verdict: .refused),
        Case(label: "space in a logging_daemon name", snippet: "logging {\n logging_daemon {\n  name: a b\n }\n}\n",
             verdict: .refused),
        Case(label: "space in a logging_daemon subsys",
             snippet: "logging {\n logging_daemon {\n  name: corosync\n  subsys: A B\n }\n}\n", verdict: .refused),
        Case(label: "empty key in logging_daemon",
             snippet: "logging {\n logging_daemon {\n  name: corosync\n  :x\n }\n}\n", verdict: .accepted),
        Case(label: "logging_daemon with subsys",
             snippet: "logging {\n logging_daemon {\n  name: foo\n  subsys: QUORUM\n  debug: on\n }\n}\n", verdict: .accepted),
        // Sections whose items corosync checks by key name, not by path.
        Case(label: "uid in a section nested in uidgid", snippet: "uidgid {\n sub {\n  uid: root\n }\n}\n", verdict: .accepted),
        Case(label: "uid in an odd section nested in uidgid", snippet: "uidgid {\n a b {\n  uid: root\n }\n}\n",
             verdict: .accepted),
        Case(label: "other key in uidgid", snippet: "uidgid {\n foo: 1\n}\n", verdict: .refused),
        Case(label: "memberaddr in a section nested in member",
             snippet: "totem {\n interface {\n  member {\n   s {\n    memberaddr: 127.0.0.1\n   }\n  }\n }\n}\n",
             verdict: .accepted),
        Case(label: "logger_subsys without subsys", snippet: "logging {\n logger_subsys {\n  debug: on\n }\n}\n",
             verdict: .refused),
        // Length limits: parse_section refuses parent + name + 1 >= ICMAP_KEYNAME_MAXLEN (255).
        Case(label: "nested key path of 254 bytes", snippet: "s {\n\(repeated("k", 252)): v\n}\n", verdict: .accepted),
        Case(label: "nested key path of 255 bytes", snippet: "s {\n\(repeated("k", 253)): v\n}\n", verdict: .refused),
        Case(label: "top-level key of 253 bytes", snippet: "\(repeated("k", 253)): v\n", verdict: .accepted),
        Case(label: "top-level key of 254 bytes", snippet: "\(repeated("k", 254)): v\n", verdict: .refused),
        Case(label: "nested section path of 254 bytes", snippet: "s {\n\(repeated("t", 252)) {\n}\n}\n", verdict: .accepted),
        Case(label: "nested section path of 255 bytes", snippet: "s {\n\(repeated("t", 253)) {\n}\n}\n", verdict: .refused),
        Case(label: "top-level section of 253 bytes", snippet: "\(repeated("t", 253)) {\n}\n", verdict: .accepted),
        Case(label: "top-level section of 254 bytes", snippet: "\(repeated("t", 254)) {\n}\n", verdict: .refused),
        // Whitespace and C strings.
        Case(label: "vertical tab alone on a line", snippet: "totem {\n  \u{0B}  \n}\n", verdict: .refused),
        Case(label: "only one CR is cut from a value", snippet: "totem {\n ip_version: ipv4\r\r\n}\n", verdict: .refusedValue),
        Case(label: "line starting with NUL", snippet: "x {\n\u{0}garbage here\n}\n", verdict: .accepted),
        Case(label: "NUL inside a line", snippet: "x {\nkey: v\u{0}w\n}\n", verdict: .refused),
        Case(label: "NUL in a last line without newline", snippet: "x {\n}\nabc: v\u{0} w x", verdict: .accepted),
        Case(label: "last line starting with NUL", snippet: "x {\n}\n\u{0}abc", verdict: .accepted),
        // Section orders that make 3.1.7 free data and use it again.
        Case(label: "section nested in logger_subsys",
             snippet: "logging {\n logger_subsys {\n  subsys: QUORUM\n  inner {\n  }\n }\n}\n", verdict: .crashes),
        Case(label: "subsys only in a section nested in logger_subsys",
             snippet: "logging {\n logger_subsys {\n  inner {\n   subsys: QUORUM\n  }\n }\n}\n", verdict: .crashes),
        Case(label: "subsys given again after a section nested in logger_subsys",
             snippet: "logging {\n logger_subsys {\n  subsys: QUORUM\n  inner {\n  }\n  subsys: CPG\n  debug: on\n }\n}\n",
             verdict: .accepted),
        Case(label: "items before a section nested in logger_subsys",
             snippet: "logging {\n logger_subsys {\n  subsys: QUORUM\n  debug: on\n  inner {\n  }\n  subsys: CPG\n }\n}\n",
             verdict: .crashes),
        Case(label: "section nested in logging_daemon",
             snippet: "logging {\n logging_daemon {\n  name: foo\n  inner {\n  }\n }\n}\n", verdict: .crashes),
        Case(label: "name given again after a section nested in logging_daemon",
             snippet: "logging {\n logging_daemon {\n  name: foo\n  inner {\n  }\n  name: bar\n }\n}\n", verdict: .accepted),
        Case(label: "section nested in logging_daemon before name",
             snippet: "logging {\n logging_daemon {\n  inner {\n  }\n }\n}\n", verdict: .refused),
        Case(label: "section nested in totem.interface",
             snippet: "totem {\n interface {\n  linknumber: 0\n  inner {\n  }\n }\n}\n", verdict: .accepted),
        Case(label: "section nested in totem.interface after knet_transport",
             snippet: "totem {\n interface {\n  knet_transport: udp\n  inner {\n  }\n }\n}\n", verdict: .crashes),
        Case(label: "knet_transport given again after a section nested in totem.interface",
             snippet: "totem {\n interface {\n  knet_transport: udp\n  inner {\n  }\n  knet_transport: sctp\n }\n}\n",
             verdict: .accepted),
        Case(label: "section nested in totem.interface after a member section",
             snippet: "totem {\n interface {\n  member {\n   memberaddr: 127.0.0.1\n  }\n  inner {\n  }\n }\n}\n",
             verdict: .crashes),
        Case(label: "section nested in totem.interface before a member section",
             snippet: "totem {\n interface {\n  inner {\n  }\n  knet_transport: udp\n  member {\n   memberaddr: 127.0.0.1\n"
                + "  }\n }\n}\n",
             verdict: .accepted),
        Case(label: "member section outside totem.interface",
             snippet: "totem.interface.member {\n memberaddr: 127.0.0.1\n}\n", verdict: .crashes),
    ]

    @Test(arguments: cases)
    func parserVerdict(_ sample: Case) {
        let text = Self.base(stateDirectory: "/var/lib/corosync") + sample.snippet
        let accepted = (try? CorosyncConf(parsing: text)) != nil
        #expect(accepted == (sample.verdict == .accepted || sample.verdict == .refusedValue))
    }

    static let corosyncPath = "/usr/sbin/corosync"
    /// RLIMIT_CORE as Glibc imports it (an enum on Linux).
    static let RLIMIT_CORE_VALUE = __rlimit_resource_t(RLIMIT_CORE.rawValue)
    /// COROSYNC_DONE_MAINCONFIGREAD.
    static let configReadFailure: Int32 = 8
    /// 128 + SIGABRT (glibc's "double free detected") and 128 + SIGSEGV.
    static let crashStatuses: Set<Int32> = [134, 139]

    /// Runs `corosync -t` on each file. Crash dumps (fdata) go to the case's own state directory and core files are
    /// turned off (this test process's core limit, which corosync inherits), so the check leaves nothing behind.
    /// One corosync at a time: 85 at once would starve the other suites running beside this one.
    @Test(.serialized, arguments: cases)
    func corosyncVerdict(_ sample: Case) async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.corosyncPath),
            "corosync is installed by scripts/install-deps.sh (make test); this test compares with the real parser")
        var noCoreFiles = rlimit()
        if getrlimit(Self.RLIMIT_CORE_VALUE, &noCoreFiles) == 0 { noCoreFiles.rlim_cur = 0 }
        _ = setrlimit(Self.RLIMIT_CORE_VALUE, &noCoreFiles)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("conf-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/corosync.conf"
        try (Self.base(stateDirectory: directory) + sample.snippet).write(toFile: path, atomically: true, encoding: .utf8)

        let result = try await SystemProgramRunner().run(Self.corosyncPath, ["-t", "-c", path])
        let said = "corosync exited with \(result.exitCode): \(result.standardError)"
        switch sample.verdict {
        case .accepted: #expect(result.exitCode == 0, "\(said)")
        case .refused, .refusedValue: #expect(result.exitCode == Self.configReadFailure, "\(said)")
        case .crashes: #expect(Self.crashStatuses.contains(result.exitCode), "\(said)")
        }
    }
}
