import Foundation
import MeshKit
import SFHABase
import SFHALab
import Synchronization
import Testing

extension LabTests {
    /// The real `WireGuardCommandController` (ip, wg, wireguard-go: this kernel has no WireGuard) in two lab nodes.
    @Suite struct Mesh {
        /// Runs every program inside one lab host, and remembers every argument vector it ran.
        final class HostRunner: ProgramRunner {
            let lab: Lab
            let host: String
            private let seen = Mutex<[[String]]>([])

            init(_ lab: Lab, _ host: String) {
                self.lab = lab
                self.host = host
            }

            var argumentVectors: [[String]] { seen.withLock { $0 } }

            func run(_ executable: String, _ arguments: [String], input: [UInt8]?, timeout: Duration?) async throws(SFHAError) -> ProgramResult {
                seen.withLock { $0.append([executable] + arguments) }
                return try await lab.exec(host, [executable] + arguments, input: input, timeout: timeout)
            }
        }

        static func ping(_ lab: Lab, from host: String, _ address: String) async throws -> Bool {
            try await lab.exec(host, ["ping", "-c", "1", "-W", "1", address], timeout: .seconds(5)).succeeded
        }

        @Test func twoNodesFormAMeshThenAPeerIsRemoved() async throws {
            try await LabTestSupport.withLab("lt-mesh", nodes: 2) { lab in
                let keys = [WireGuardPrivateKey.generate(), WireGuardPrivateKey.generate()]
                let hosts = ["node1", "node2"]
                let runners = hosts.map { HostRunner(lab, $0) }
                let meshes = runners.map { WireGuardCommandController(runner: $0) }
                let meshAddresses = [try IPv4Network(parsing: "10.99.0.1/24"), try IPv4Network(parsing: "10.99.0.2/24")]
                for index in 0..<2 {
                    let spec = try MeshInterfaceSpec(privateKey: keys[index], address: meshAddresses[index])
                    try await meshes[index].bringUp(spec)
                    try await meshes[index].bringUp(spec)  // idempotent: the interface exists, nothing fails
                }
                for index in 0..<2 {
                    let other = 1 - index
                    let endpoint = try MeshEndpoint(address: IPAddress(try lab.host(hosts[other]).address)!, port: MeshInterfaceSpec.defaultPort)
                    let peer = MeshPeer(publicKey: keys[other].publicKey, allowedIPs: [.host(meshAddresses[other].address)], endpoint: endpoint)
                    try await meshes[index].apply(peers: [peer], on: MeshInterfaceSpec.defaultName)
                }
                // Traffic crosses the mesh, and WireGuard reports the handshake and the bytes.
                #expect(try await LabTestSupport.eventually(timeout: .seconds(20)) { try await Self.ping(lab, from: "node1", "10.99.0.2") })
                let state = try #require(try await meshes[0].state(of: MeshInterfaceSpec.defaultName))
                #expect(state.publicKey == keys[0].publicKey && state.listenPort == MeshInterfaceSpec.defaultPort)
                let peer = try #require(state.peers.first)
                #expect(state.peers.count == 1 && peer.publicKey == keys[1].publicKey)
                #expect(peer.latestHandshake != nil && peer.receivedBytes > 0 && peer.sentBytes > 0)
                // Applying the same set changes nothing (no 'wg set' for an unchanged peer).
                let before = runners[0].argumentVectors.count
                try await meshes[0].apply(peers: state.peers.map(\.peer), on: MeshInterfaceSpec.defaultName)
                #expect(!runners[0].argumentVectors[before...].contains { $0.starts(with: ["wg", "set"]) })

                // node1 drops node2: traffic stops.
                try await meshes[0].apply(peers: [], on: MeshInterfaceSpec.defaultName)
                #expect(try await meshes[0].state(of: MeshInterfaceSpec.defaultName)?.peers.isEmpty == true)
                #expect(try await !Self.ping(lab, from: "node1", "10.99.0.2"))

                // No private key was ever on a command line.
                for runner in runners {
                    for vector in runner.argumentVectors {
                        #expect(!keys.contains { vector.joined(separator: " ").contains($0.base64ForWireGuard) })
                    }
                }
                for mesh in meshes { try await mesh.tearDown(MeshInterfaceSpec.defaultName) }
                #expect(try await meshes[0].state(of: MeshInterfaceSpec.defaultName) == nil)
                try await meshes[1].tearDown(MeshInterfaceSpec.defaultName)  // absent: nothing to do
            }
        }
    }
}
