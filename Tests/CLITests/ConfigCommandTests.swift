import Foundation
import SFHABase
import Testing

@testable import SFHACore
@testable import sfha

/// The built `sfha` next to this test bundle.
func builtSFHA() throws -> String {
    let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        .appendingPathComponent("sfha").path
    try #require(FileManager.default.isExecutableFile(atPath: binary), "the built sfha is expected at \(binary)")
    return binary
}

/// A fresh directory for one test's files, removed by `remove()`.
struct CLITemporaryDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("sfha-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ text: String) throws -> String {
        let file = "\(path)/\(name)"
        try text.write(toFile: file, atomically: false, encoding: .utf8)
        return file
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// `sfha config example` and `sfha config check`, run as an operator runs them.
@Suite(.timeLimit(.minutes(2))) struct ConfigCommandTests {
    let runner = SystemProgramRunner()

    @Test func theMinimalExampleLoadsWithTheRealLoader() async throws {
        let sfha = try builtSFHA()
        let directory = try CLITemporaryDirectory()
        defer { directory.remove() }
        let minimal = try await runner.run(sfha, ["config", "example", "--minimal"], timeout: .seconds(60))
        #expect(minimal.succeeded, "\(minimal.standardError)")
        let file = try directory.write("config.yml", minimal.standardOutput)
        let loaded = try SFHAConfiguration.load(path: file)
        #expect(loaded.warnings.isEmpty, "\(loaded.warnings)")
        #expect(loaded.cluster.groups.flatMap(\.vips).count == 1)
        #expect(loaded.cluster.groups.flatMap(\.services).count == 1)
        // Shorter than the example with every key, which is still the default.
        let full = try await runner.run(sfha, ["config", "example"], timeout: .seconds(60))
        #expect(full.standardOutput == SFHAConfiguration.exampleYAML + "\n")
        #expect(minimal.standardOutput.hasSuffix("\n"))
        #expect(minimal.standardOutput.count * 4 < full.standardOutput.count)
        // And `config check` accepts what `config example --minimal` printed.
        let check = try await runner.run(sfha, ["config", "check", file, "--corosync-conf", "/nonexistent"], timeout: .seconds(60))
        #expect(check.exitCode == 0, "\(check.standardError)")
        #expect(check.standardOutput.hasPrefix("\(file): valid"))
    }

    @Test func configCheckTakesTheFileAsAnArgumentOrAnOption() async throws {
        let sfha = try builtSFHA()
        let directory = try CLITemporaryDirectory()
        defer { directory.remove() }
        let valid = try directory.write("valid.yml", SFHAConfiguration.minimalExampleYAML)
        let invalid = try directory.write("invalid.yml", "node:\n  name: node1\nvips:\n  - name: v\n    ip: 192.168.1.300\n")
        let noCorosync = ["--corosync-conf", "/nonexistent"]
        for arguments in [[valid], ["--config", valid], ["-c", valid], [valid, "--config", valid]] {
            let result = try await runner.run(sfha, ["config", "check"] + arguments + noCorosync, timeout: .seconds(60))
            #expect(result.exitCode == 0, "\(arguments): \(result.standardError)")
            #expect(result.standardOutput.hasPrefix("\(valid): valid"), "\(arguments)")
        }
        let bad = try await runner.run(sfha, ["config", "check", invalid] + noCorosync, timeout: .seconds(60))
        #expect(bad.exitCode == ExitStatus.invalidConfiguration)
        #expect(bad.standardError.contains("\(invalid):5:9: vips[0].ip"), "\(bad.standardError)")
        let twoFiles = try await runner.run(sfha, ["config", "check", valid, "--config", invalid], timeout: .seconds(60))
        #expect(twoFiles.exitCode == 64)
        #expect(twoFiles.standardError.contains("two configuration files given"), "\(twoFiles.standardError)")
    }

    /// Fencing is not implemented: `config check` accepts `stonith.enabled: true` but says that nothing is fenced,
    /// and enabling it does not silence the two-node warning.
    @Test func configCheckSaysThatSTONITHFencesNothing() async throws {
        let sfha = try builtSFHA()
        let directory = try CLITemporaryDirectory()
        defer { directory.remove() }
        let config = try directory.write("config.yml", SFHAConfiguration.minimalExampleYAML + """

            stonith:
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
                node {
                    name: node2
                    nodeid: 2
                    ring0_addr: 10.0.0.2
                }
            }

            """)
        let result = try await runner.run(sfha, ["config", "check", config, "--corosync-conf", corosync], timeout: .seconds(60))
        #expect(result.exitCode == 0, "\(result.standardError)")
        #expect(result.standardError.contains("warning: stonith.enabled: accepted, not implemented yet: nothing is fenced"),
                "\(result.standardError)")
        #expect(result.standardError.contains("two-node cluster without fencing"), "\(result.standardError)")
        let json = try await runner.run(
            sfha, ["config", "check", config, "--corosync-conf", corosync, "--json"], timeout: .seconds(60))
        #expect(json.standardOutput.contains("not implemented yet: nothing is fenced"))
    }
}
