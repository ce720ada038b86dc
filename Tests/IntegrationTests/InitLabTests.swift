import CorosyncKit
import Foundation
import MeshKit
import SFHABase
import SFHACore
import SFHALab
import Testing

extension LabTests {
    /// `sfha init` on bare lab hosts (`sfha-lab up --bare`): the real command, as an operator runs it.
    @Suite struct Init {
        static func withBareLab<T>(_ name: String, nodes: Int, _ body: (Lab) async throws -> T) async throws -> T {
            try LabTestSupport.requireRoot()
            try await Lab.down(name)
            let lab = try await Lab.up(LabSpec(name: name, nodeCount: nodes, bare: true))
            do {
                let result = try await body(lab)
                try await Lab.down(name)
                return result
            } catch {
                // SFHA_LAB_KEEP=1 leaves a failed lab up for inspection ('sfha-lab down --name NAME' afterwards).
                if ProcessInfo.processInfo.environment["SFHA_LAB_KEEP"] == nil { _ = try? await Lab.down(name) }
                throw error
            }
        }

        static func text(_ lab: Lab, _ host: String, _ path: String) async throws -> String {
            try await lab.exec(host, ["cat", path]).standardOutput
        }

        static func mode(_ lab: Lab, _ host: String, _ path: String) async throws -> String {
            LabTestSupport.trimmed(try await lab.exec(host, ["stat", "-c", "%a", path]).standardOutput)
        }

        @Test func initFoundsAClusterTokensAreIssuedAndASecondInitIsRefused() async throws {
            try await Self.withBareLab("lt-init", nodes: 2) { lab in
                let node1 = try lab.host("node1")
                // Bare: no corosync configuration, corosync not running.
                #expect(try await lab.exec("node1", ["test", "-e", "/etc/corosync/corosync.conf"]).exitCode != 0)
                #expect(try lab.corosyncPID(on: "node1") == nil)

                // A dry run changes nothing.
                let dry = try await lab.exec("node1", ["sfha", "init", "--name", "lt", "--endpoint", node1.address, "--dry-run"])
                #expect(dry.succeeded && dry.standardOutput.contains("would start corosync"))
                #expect(try await lab.exec("node1", ["test", "-e", "/etc/corosync/corosync.conf"]).exitCode != 0)

                let run = try await lab.exec("node1", ["sfha", "init", "--name", "lt", "--endpoint", node1.address, "--json"], timeout: .seconds(120))
                #expect(run.succeeded, "\(run.standardError)")
                let report = try JSONSerialization.jsonObject(with: Data(run.standardOutput.utf8)) as? [String: Any]
                let steps = report?["steps"] as? [[String: Any]] ?? []
                #expect(!steps.isEmpty && steps.allSatisfy { $0["result"] as? String == "done" }, "\(run.standardOutput)")

                // corosync runs on the mesh address, quorate; sfhad reports it.
                let conf = try CorosyncConf(parsing: try await Self.text(lab, "node1", "/etc/corosync/corosync.conf"))
                #expect(conf.clusterName == "lt" && conf.nodes == [CorosyncNodeEntry(nodeID: 1, name: "node1", addresses: ["10.99.0.1"])])
                let status = try await lab.exec("node1", ["sfha", "status", "--json"])
                let parsed = try JSONDecoder().decode(DaemonStatus.self, from: Data(status.standardOutput.utf8))
                #expect(parsed.quorate && parsed.nodes.map(\.name) == ["node1"])
                let mesh = try await lab.exec("node1", ["ip", "-o", "-4", "address", "show", "dev", "wg-sfha"])
                #expect(mesh.standardOutput.contains("10.99.0.1/24"))
                // Secrets are not world-readable; the membership record is the founder's.
                #expect(try await Self.mode(lab, "node1", "/etc/wireguard/wg-sfha.conf") == "600")
                #expect(try await Self.mode(lab, "node1", "/etc/sfha/p2p.key") == "600")
                #expect(try await Self.mode(lab, "node1", "/etc/corosync/authkey") == "400")
                let membership = try JSONDecoder().decode(MembershipDocument.self, from: Data(try await Self.text(lab, "node1", "/var/lib/sfha/membership.json").utf8))
                #expect(membership.revision == 1 && membership.record.members.map(\.name) == ["node1"])
                #expect(try membership.record.validated() == membership.record)

                // A join token: the invitation is committed, node1's mesh accepts its key for the joiner's address only.
                let issued = try await lab.exec("node1", ["sfha", "token", "--json"])
                #expect(issued.succeeded, "\(issued.standardError)")
                let decoder = JSONDecoder()
                decoder.dateDecodingStrategy = .iso8601
                let answer = try decoder.decode(TokenAnswer.self, from: Data(issued.standardOutput.utf8))
                let token = try JoinToken(parsing: answer.token)
                #expect(token.assignedAddress.description == "10.99.0.2" && answer.address == "10.99.0.2" && answer.revision == 2)
                #expect(token.issuer == "node1" && token.issuerMeshAddress.description == "10.99.0.1" && token.clusterName == "lt")
                #expect(token.issuerEndpoint.description == "\(node1.address):51820")
                let invitationKey = token.invitationKey.publicKey.base64
                #expect(try await LabTestSupport.eventually(timeout: .seconds(10)) {
                    try await lab.exec("node1", ["wg", "show", "wg-sfha", "allowed-ips"]).standardOutput.contains("\(invitationKey)\t10.99.0.2/32")
                })
                #expect(try await LabTestSupport.eventually(timeout: .seconds(10)) {
                    try await Self.text(lab, "node1", "/etc/wireguard/wg-sfha.conf").contains("PublicKey = \(invitationKey)")
                })
                // A short-lived token's peer goes when it expires; the other stays.
                let short = try decoder.decode(TokenAnswer.self, from: Data(try await lab.check("node1", ["sfha", "token", "--expires", "2s", "--json"]).standardOutput.utf8))
                let shortKey = try JoinToken(parsing: short.token).invitationKey.publicKey.base64
                #expect(short.address == "10.99.0.3")
                // Its peer appears (the reconciler runs beside the answer), then goes at the expiry.
                #expect(try await LabTestSupport.eventually(timeout: .seconds(10)) {
                    try await lab.exec("node1", ["wg", "show", "wg-sfha", "peers"]).standardOutput.contains(shortKey)
                } || Date() > short.expiresAt)
                #expect(try await LabTestSupport.eventually(timeout: .seconds(15)) {
                    let peers = try await lab.exec("node1", ["wg", "show", "wg-sfha", "peers"]).standardOutput
                    return !peers.contains(shortKey) && peers.contains(invitationKey)
                })
                // The token is a secret: not in the history, not in the log.
                let history = try await lab.exec("node1", ["sfha", "history", "--json"]).standardOutput
                #expect(history.contains("token: issued for 10.99.0.2") && !history.contains(answer.token))
                let logs = try await lab.exec("node1", ["sfha", "logs", "-n", "500"]).standardOutput
                #expect(!logs.contains(answer.token) && !logs.contains(token.invitationKey.base64ForWireGuard))

                // sfha mesh status: node1 online, its sfhad answers a P2P ping over the mesh (its own mesh address).
                let meshStatus = try await lab.exec("node1", ["sfha", "mesh", "status", "--json"])
                #expect(meshStatus.succeeded, "\(meshStatus.standardError)")
                let meshReport = try decoder.decode(MeshStatusReport.self, from: Data(meshStatus.standardOutput.utf8))
                #expect(meshReport.interfaceUp && meshReport.members.count == 1)
                #expect(meshReport.invitations.map(\.address) == ["10.99.0.2"], "\(meshReport.invitations)")
                #expect(meshReport.members.first.map { $0.name == "node1" && $0.online && $0.sfhaRunning && $0.local } == true, "\(meshStatus.standardOutput)")
                // sfha status --json: the founding document's check, `.nodes[] | {name, online, sfhaRunning}`.
                #expect(try await LabTestSupport.eventually(timeout: .seconds(15)) {
                    let json = try await lab.exec("node1", ["sfha", "status", "--json"]).standardOutput
                    let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
                    let nodes = object?["nodes"] as? [[String: Any]] ?? []
                    return nodes.count == 1 && nodes[0]["name"] as? String == "node1" && nodes[0]["online"] as? Bool == true
                        && nodes[0]["sfhaRunning"] as? Bool == true
                })
                // The P2P API listens on the mesh address only, and refuses an unsigned request.
                let listening = try await lab.exec("node1", ["ss", "-Hltn", "sport = :7777"]).standardOutput
                #expect(listening.contains("10.99.0.1:7777") && !listening.contains("0.0.0.0:7777"), "\(listening)")

                // A second init is refused and changes nothing: corosync is not restarted, the file not rewritten.
                let pid = try lab.corosyncPID(on: "node1")
                let before = try await Self.text(lab, "node1", "/etc/corosync/corosync.conf")
                let again = try await lab.exec("node1", ["sfha", "init", "--name", "other", "--endpoint", node1.address])
                #expect(again.exitCode == 6 && again.standardError.contains("already in a cluster"))
                #expect(try lab.corosyncPID(on: "node1") == pid && pid != nil)
                #expect(try await Self.text(lab, "node1", "/etc/corosync/corosync.conf") == before)

                // On node2, a mesh network that overlaps the lab's own network is refused; nothing is written.
                let node2 = try lab.host("node2")
                let overlap = try await lab.exec("node2", ["sfha", "init", "--name", "lt", "--endpoint", node2.address, "--mesh-network", "10.231.0.0/16"])
                #expect(!overlap.succeeded && overlap.standardError.contains("--mesh-network"))
                #expect(try await lab.exec("node2", ["test", "-e", "/etc/corosync/corosync.conf"]).exitCode != 0)
                #expect(try await lab.exec("node2", ["ip", "link", "show", "dev", "wg-sfha"]).exitCode != 0)

                // A step that fails half way (corosync's directory read-only): what was done is undone.
                try await lab.check("node2", ["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", "/etc/corosync"])
                let failed = try await lab.exec("node2", ["sfha", "init", "--name", "lt", "--endpoint", node2.address])
                try await lab.check("node2", ["umount", "/etc/corosync"])
                #expect(!failed.succeeded && failed.standardError.contains("was undone"), "\(failed.standardError)")
                #expect(try await lab.exec("node2", ["ip", "link", "show", "dev", "wg-sfha"]).exitCode != 0)
                for path in ["/etc/wireguard/wg-sfha.conf", "/var/lib/sfha/membership.json", "/etc/sfha/p2p.key", "/etc/corosync/corosync.conf"] {
                    #expect(try await lab.exec("node2", ["test", "-e", path]).exitCode != 0, "\(path) left behind")
                }
                #expect(try lab.corosyncPID(on: "node2") == nil)
            }
        }
    }
}
