import Foundation
import SFHABase
import SFHALab
import Testing

extension LabTests {
    @Suite struct Services {
        @Test func demoWebUnitServesItsNodeNameToTheClient() async throws {
            try await LabTestSupport.withLab("lt-svc", nodes: 2) { lab in
                let node1 = "http://\(try lab.node("node1").address):8080/"
                let node2 = "http://\(try lab.node("node2").address):8080/"
                let inactive = try await lab.systemctl("node1", ["is-active", "sfha-demo-web"])
                #expect(LabTestSupport.trimmed(inactive.standardOutput) == "inactive" && inactive.exitCode == 3)

                for node in ["node1", "node2"] {
                    let start = try await lab.systemctl(node, ["start", "sfha-demo-web.service"])
                    #expect(start.exitCode == 0, "\(start.standardError)")
                    let active = try await lab.systemctl(node, ["is-active", "sfha-demo-web"])
                    #expect(LabTestSupport.trimmed(active.standardOutput) == "active" && active.exitCode == 0)
                }
                #expect(try await LabTestSupport.fetchFromClient(lab, node1).standardOutput == "node1\n")
                #expect(try await LabTestSupport.fetchFromClient(lab, node2).standardOutput == "node2\n")

                // status / show / restart report the main process.
                let status = try await lab.systemctl("node1", ["status", "sfha-demo-web"])
                #expect(status.exitCode == 0 && status.standardOutput.contains("active (running)"))
                let pid = try await lab.systemctl("node1", ["show", "-p", "MainPID", "--value", "sfha-demo-web"])
                let firstPID = Int32(LabTestSupport.trimmed(pid.standardOutput)) ?? 0
                #expect(try lab.processes(on: "node1").contains { $0.pid == firstPID && $0.name == "python3" })
                #expect(try await lab.systemctl("node1", ["restart", "sfha-demo-web"]).exitCode == 0)
                let newPID = try await lab.systemctl("node1", ["show", "-p", "MainPID", "--value", "sfha-demo-web"])
                #expect(Int32(LabTestSupport.trimmed(newPID.standardOutput)) != firstPID)
                let served = try await LabTestSupport.eventually(timeout: .seconds(10)) {
                    try await LabTestSupport.fetchFromClient(lab, node1).standardOutput == "node1\n"
                }
                #expect(served)

                // stop: inactive, and the client gets nothing.
                #expect(try await lab.systemctl("node1", ["stop", "sfha-demo-web"]).exitCode == 0)
                let stopped = try await lab.systemctl("node1", ["is-active", "sfha-demo-web"])
                #expect(LabTestSupport.trimmed(stopped.standardOutput) == "inactive" && stopped.exitCode == 3)
                #expect(try await LabTestSupport.fetchFromClient(lab, node1).exitCode != 0)
                #expect(try await LabTestSupport.fetchFromClient(lab, node2).standardOutput == "node2\n")

                // enable / disable / mask / unmask, per node.
                #expect(try await lab.systemctl("node1", ["is-enabled", "sfha-demo-web"]).exitCode == 1)
                #expect(try await lab.systemctl("node1", ["enable", "sfha-demo-web"]).exitCode == 0)
                let enabled = try await lab.systemctl("node1", ["is-enabled", "sfha-demo-web"])
                #expect(LabTestSupport.trimmed(enabled.standardOutput) == "enabled" && enabled.exitCode == 0)
                #expect(try await lab.systemctl("node2", ["is-enabled", "sfha-demo-web"]).exitCode == 1)
                #expect(try await lab.systemctl("node1", ["disable", "sfha-demo-web"]).exitCode == 0)
                #expect(try await lab.systemctl("node1", ["mask", "sfha-demo-web"]).exitCode == 0)
                let masked = try await lab.systemctl("node1", ["start", "sfha-demo-web"])
                #expect(masked.exitCode != 0 && masked.standardError.contains("masked"))
                #expect(try await lab.systemctl("node1", ["unmask", "sfha-demo-web"]).exitCode == 0)
                #expect(try await lab.systemctl("node1", ["start", "sfha-demo-web"]).exitCode == 0)

                // Unknown units and commands fail like systemctl does.
                #expect(try await lab.systemctl("node1", ["start", "no-such-unit"]).exitCode == 5)
                #expect(try await lab.systemctl("node1", ["is-active", "no-such-unit"]).exitCode == 3)
                #expect(try await lab.systemctl("node1", ["frobnicate", "sfha-demo-web"]).exitCode == 1)

                // reload: corosync reloads its config through corosync-cfgtool -R.
                #expect(try await lab.systemctl("node1", ["reload", "corosync"]).exitCode == 0)
                #expect(try await lab.systemctl("node1", ["reload", "sfha-demo-web"]).exitCode == 1)
            }
        }

        @Test func wgQuickTemplateUnitBringsAWireGuardInterfaceUpAndDown() async throws {
            try await LabTestSupport.withLab("lt-wgq", nodes: 1) { lab in
                let key = try await lab.check("node1", ["wg", "genkey"])
                let config = "[Interface]\nPrivateKey = \(LabTestSupport.trimmed(key.standardOutput))\nAddress = 10.231.255.1/24\n"
                let directory = try #require(try lab.node("node1").stateDirectory)
                try AtomicFile.write(config, to: "\(directory)/etc-wireguard/wg0.conf", mode: 0o600)

                let start = try await lab.systemctl("node1", ["start", "wg-quick@wg0"])
                #expect(start.exitCode == 0, "\(start.standardError)")
                let active = try await lab.systemctl("node1", ["is-active", "wg-quick@wg0.service"])
                #expect(LabTestSupport.trimmed(active.standardOutput) == "active")
                let show = try await lab.exec("node1", ["wg", "show", "wg0"])
                #expect(show.exitCode == 0 && show.standardOutput.contains("interface: wg0"))
                let address = try await lab.exec("node1", ["ip", "-o", "-4", "addr", "show", "wg0"])
                #expect(address.standardOutput.contains("10.231.255.1/24"))

                #expect(try await lab.systemctl("node1", ["stop", "wg-quick@wg0"]).exitCode == 0)
                #expect(try await lab.exec("node1", ["ip", "link", "show", "wg0"]).exitCode != 0)
                #expect(try await lab.systemctl("node1", ["is-active", "wg-quick@wg0"]).exitCode == 3)
            }
        }
    }
}
