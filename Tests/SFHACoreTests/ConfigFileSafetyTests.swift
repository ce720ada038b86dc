import Foundation
@testable import SFHACore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory for one test, removed afterwards.
final class ConfigTemporaryDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("sfha-config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    func file(_ name: String, _ text: String) throws -> String {
        let file = "\(path)/\(name)"
        try text.write(toFile: file, atomically: false, encoding: .utf8)
        return file
    }
}

/// Holds the result of a body run on another thread.
private final class HangGuardResult<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T?

    var value: T? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

/// Runs `body` on a thread of its own and waits a generous while for it: a read that blocks (on a FIFO) then fails
/// the test instead of hanging the whole run. A hang guard, not a timing assertion.
func withinHangGuard<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T? {
    let result = HangGuardResult<T>()
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        result.value = body()
        done.signal()
    }
    guard done.wait(timeout: .now() + .seconds(30)) == .success else { return nil }
    return result.value
}

/// The error lines of loading `path` (empty when it loads).
func loadErrorLines(_ path: String) -> [String] {
    do {
        _ = try SFHAConfiguration.load(path: path)
        return []
    } catch {
        return error.items.map(\.description)
    }
}

/// `loadErrorLines(path)` within the hang guard (nil when it hangs).
func loadErrors(_ path: String) -> [String]? {
    withinHangGuard { loadErrorLines(path) }
}

@Suite("Reading config.yml: regular files only, bounded size, never blocking", .timeLimit(.minutes(2)))
struct ConfigFileSafetyTests {
    @Test func aFIFOIsRefusedWithoutWaitingForAWriter() throws {
        let directory = try ConfigTemporaryDirectory()
        let fifo = "\(directory.path)/config.yml"
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(loadErrors(fifo) == [
            "\(fifo): cannot read the configuration: \(fifo) is a FIFO, not a regular file: point --config at the "
                + "configuration file",
        ])
        // Symlinks are followed: a link to a FIFO is a FIFO.
        let link = "\(directory.path)/link.yml"
        #expect(symlink(fifo, link) == 0)
        #expect(loadErrors(link)?.first?.hasSuffix("\(link) is a FIFO, not a regular file: point --config at the "
            + "configuration file") == true)
    }

    @Test func devicesDirectoriesAndSocketsAreRefused() throws {
        // /dev/null, not /dev/zero: a regression must fail this test, not fill the memory of the test run (the
        // command-line test below reads /dev/zero in a child process with a memory limit).
        #expect(loadErrors("/dev/null") == [
            "/dev/null: cannot read the configuration: /dev/null is a character device, not a regular file: point "
                + "--config at the configuration file",
        ])
        let directory = try ConfigTemporaryDirectory()
        #expect(loadErrors(directory.path) == [
            "\(directory.path): cannot read the configuration: \(directory.path) is a directory, not a regular file: "
                + "point --config at the configuration file",
        ])

        let socketPath = "\(directory.path)/control.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in socketPath.utf8.enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        #expect(loadErrors(socketPath) == [
            "\(socketPath): cannot read the configuration: \(socketPath) is a socket, not a regular file: point "
                + "--config at the configuration file",
        ])
    }

    @Test func filesOverTheSizeLimitAreRefused() throws {
        let directory = try ConfigTemporaryDirectory()
        let header = "node: {name: a}\n"
        let limit = SFHAConfiguration.maximumFileSize
        func padded(to size: Int) -> String {
            header + "#" + String(repeating: "x", count: size - header.utf8.count - 2) + "\n"
        }
        let atLimit = try directory.file("at-limit.yml", padded(to: limit))
        #expect(try SFHAConfiguration.load(path: atLimit).node.name == "a")
        let overLimit = try directory.file("over-limit.yml", padded(to: limit + 1))
        #expect(loadErrors(overLimit) == [
            "\(overLimit): cannot read the configuration: \(overLimit) is 1048577 bytes, over the 1048576-byte limit "
                + "for a configuration file: point --config at the configuration file",
        ])
    }

    /// What the operator sees: `sfha config check -c /dev/zero` and `-c FIFO` fail at once with exit status 2. Run
    /// as a child process under a memory limit and a timeout, so that a regression cannot hurt the test run.
    @Test func configCheckFailsAtOnceOnDevZeroAndFIFOs() throws {
        let sfha = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("sfha").path
        guard FileManager.default.isExecutableFile(atPath: sfha) else {
            // `swift build --build-tests` builds it next to the test bundle; a bare test build may not.
            Issue.record("no sfha executable next to the test bundle (\(sfha)): build the package first")
            return
        }
        let directory = try ConfigTemporaryDirectory()
        let fifo = "\(directory.path)/fifo.yml"
        #expect(mkfifo(fifo, 0o600) == 0)
        for (path, kind) in [("/dev/zero", "a character device"), (fifo, "a FIFO")] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            // 2 GB of address space and 30 s: far beyond what a refusal needs, far below what reading
            // /dev/zero to the end would take.
            process.arguments = ["-c", "ulimit -v 2000000; exec timeout 30 \"$0\" config check -c \"$1\"", sfha, path]
            let errors = Pipe()
            process.standardError = errors
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 2, "\(path): \(output)")
            #expect(output == "\(path): invalid configuration:\n"
                + "\(path): cannot read the configuration: \(path) is \(kind), not a regular file: point "
                + "--config at the configuration file\n")
        }
    }
}

@Suite("Diagnostics: bounded in number, escaped, never forged", .timeLimit(.minutes(2)))
struct ConfigDiagnosticSafetyTests {
    @Test func aHundredThousandUnknownKeysGiveAHundredAndOneWarnings() throws {
        let directory = try ConfigTemporaryDirectory()
        let count = 100_000
        let yaml = "node: {name: a}\n" + (0..<count).map { "u\($0): 0\n" }.joined()
        let file = try directory.file("config.yml", yaml)
        let config = try SFHAConfiguration.load(path: file)
        let limit = SFHAConfiguration.maximumReportedDiagnostics
        #expect(config.warnings.count == limit + 1)
        // The first ones in file order, then how many more.
        #expect(config.warnings.first?.description == "\(file):2:1: warning: u0: unknown key, ignored (known keys "
            + "here: cluster, node, vips, services, health_checks, constraints, stonith, logging, groups, metrics)")
        #expect(config.warnings[limit - 1].keyPath == "u\(limit - 1)")
        #expect(config.warnings.last?.description == "\(file): warning: and \(count - limit) more warnings not shown "
            + "(the first \(limit) are above)")
    }

    @Test func errorsAreBoundedTheSameWay() {
        let count = 100_000
        let errors = ConfigTest.errors("node: {name: a}\nhealth_checks:\n" + String(repeating: "  - x\n", count: count))
        let limit = SFHAConfiguration.maximumReportedDiagnostics
        #expect(errors.count == limit + 1)
        #expect(errors.first == "/etc/sfha/config.yml:3:5: health_checks[0]: expected a mapping (key: value lines), "
            + "found a scalar")
        #expect(errors.last == "/etc/sfha/config.yml: and \(count - limit) more errors not shown (the first \(limit) "
            + "are above)")

        let duplicates = (0..<300).map { "d\($0): 1\nd\($0): 2\n" }.joined()
        let duplicateErrors = ConfigTest.errors("node: {name: a}\n" + duplicates)
        #expect(duplicateErrors.count == 1)
        #expect(duplicateErrors.first?.hasSuffix("and 200 more appear more than once in the same mapping") == true)
    }

    /// A small file that aliases expand into millions of entries (a "billion laughs") is refused, not expanded.
    @Test func aliasExpansionIsBounded() {
        let keys = (0..<2000).map { "k\($0): 0" }.joined(separator: ", ")
        let merges = Array(repeating: "*m", count: 600).joined(separator: ", ")
        let mergeErrors = ConfigTest.errors("m: &m {\(keys)}\nnode: {<<: [\(merges)], name: a}\n")
        #expect(mergeErrors.contains { $0.contains("node.<<: the configuration expands to more than 1000000 entries") })

        let names = (0..<10_000).map { "a\($0)" }.joined(separator: ", ")
        let groups = (0..<200).map { "  - {name: g\($0), vips: *n}\n" }.joined()
        let listErrors = ConfigTest.errors("names: &n [\(names)]\nnode: {name: a}\ngroups:\n" + groups)
        #expect(listErrors.contains { $0.contains("the configuration expands to more than 1000000 entries") })
        #expect(listErrors.count <= SFHAConfiguration.maximumReportedDiagnostics + 1)
    }

    @Test func controlCharactersAreEscaped() {
        #expect(escapedForDisplay("plain é ✓ \\n") == "plain é ✓ \\n")
        let hostile = "a\u{1B}[31mb\n\t\r\u{0}\u{7F}\u{85}\u{9B}\u{2028}\u{2029}\u{202E}\u{2066}"
        let escaped = escapedForDisplay(hostile)
        #expect(escaped == "a\\u{1B}[31mb\\n\\t\\r\\u{0}\\u{7F}\\u{85}\\u{9B}\\u{2028}\\u{2029}\\u{202E}\\u{2066}")
        #expect(escapedForDisplay(escaped) == escaped)
        #expect(quoted(hostile) == "\"" + escaped + "\"")
        #expect(quoted("say \"hi\" \\ bye") == #""say \"hi\" \\ bye""#)
    }

    /// A key cannot forge a diagnostic line or colour the terminal: keys, values and "did you mean" echoes are
    /// escaped.
    @Test func keysAndValuesFromTheFileCannotForgeOutput() throws {
        let config = try ConfigTest.load(#"""
            node: {name: a}
            "\e[31mred": 1
            "x\n/etc/sfha/config.yml:1:1: error: forged": 2
            "nel\x85 and\u2028sep": 3
            vips:
              - {name: v, ip: 10.0.0.1, "interfac\e": eth0}

            """#)
        #expect(config.warnings.map(\.description) == [
            #"/etc/sfha/config.yml:2:1: warning: \u{1B}[31mred: unknown key, ignored (known keys here: cluster, node, "#
                + "vips, services, health_checks, constraints, stonith, logging, groups, metrics)",
            #"/etc/sfha/config.yml:3:1: warning: x\n/etc/sfha/config.yml:1:1: error: forged: unknown key, ignored "#
                + "(known keys here: cluster, node, vips, services, health_checks, constraints, stonith, logging, "
                + "groups, metrics)",
            #"/etc/sfha/config.yml:4:1: warning: nel\u{85} and\u{2028}sep: unknown key, ignored (known keys here: "#
                + "cluster, node, vips, services, health_checks, constraints, stonith, logging, groups, metrics)",
            #"/etc/sfha/config.yml:6:29: warning: vips[0].interfac\u{1B}: unknown key, ignored (did you mean "#
                + "\"interface\"?)",
        ])
        let errors = ConfigTest.errors(#"""
            node: {name: "a\nb"}
            vips:
              - {name: v, ip: "10.0.0.1\e]0;owned\a"}
            stonith:
              nodes: {"n\r\n1": {}}

            """#)
        #expect(errors == [
            #"/etc/sfha/config.yml:1:14: node.name: "a\nb" is not a valid node name: a node name may only contain "#
                + "letters, digits, '.', '_' and '-'",
            #"/etc/sfha/config.yml:3:19: vips[0].ip: "10.0.0.1\u{1B}]0;owned\u{7}" is not an IPv4 or IPv6 address"#,
            #"/etc/sfha/config.yml:5:11: stonith.nodes.n\r\n1: "n\r\n1" is not a valid node name: a node name may "#
                + "only contain letters, digits, '.', '_' and '-'",
        ])
    }

    /// Diagnostics decoded from elsewhere (a daemon's answer) are escaped when printed too.
    @Test func decodedDiagnosticsAreEscapedWhenPrinted() throws {
        let json = #"{"file":"f\n","line":0,"column":0,"keyPath":"k\u001b","message":"m\nforged"}"#
        let diagnostic = try JSONDecoder().decode(ConfigurationDiagnostic.self, from: Data(json.utf8))
        #expect(diagnostic.description == #"f\n: k\u{1B}: m\nforged"#)
        #expect(ConfigurationWarning(diagnostic).description == #"f\n: warning: k\u{1B}: m\nforged"#)
    }
}

@Suite("STONITH webhook headers: no control characters", .timeLimit(.minutes(2)))
struct ConfigWebhookHeaderTests {
    static func errors(headers: String) -> [String] {
        ConfigTest.errors("""
            node: {name: a}
            stonith:
              webhook:
                fence_url: "https://fence/{{node}}"
                headers: {\(headers)}

            """)
    }

    @Test func valuesWithLineBreaksOrControlCharactersAreRefused() {
        let refused = [#""a\r\nX-Injected: 1""#, #""a\r""#, #""a\nb""#, #""a\0b""#, #""a\eb""#, #""a\x7Fb""#, #""a\x85b""#]
        for value in refused {
            #expect(Self.errors(headers: "X-Auth: \(value)") == [
                "/etc/sfha/config.yml:5:23: stonith.webhook.headers.X-Auth: a header value cannot contain line "
                    + "breaks, NUL or other control characters (tabs excepted)",
            ], "\(value)")
        }
        #expect(Self.errors(headers: #"X-Auth: "a\tb", X-Other: "é ✓""#).isEmpty)
        #expect(ConfigurationParser.isHeaderValue("Bearer abc") && !ConfigurationParser.isHeaderValue("a\r\nb"))
    }

    @Test func namesWithControlCharactersAreRefused() {
        #expect(Self.errors(headers: #""X\r\nInjected": v"#) == [
            #"/etc/sfha/config.yml:5:15: stonith.webhook.headers.X\r\nInjected: "X\r\nInjected" is not a valid HTTP "#
                + "header name",
        ])
        #expect(ConfigurationParser.isHeaderName("X-Auth_1.~") && !ConfigurationParser.isHeaderName("X\r\n"))
        #expect(!ConfigurationParser.isHeaderName("") && !ConfigurationParser.isHeaderName("Bad Header"))
    }
}
