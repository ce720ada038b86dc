import Foundation
import SFHABase
import Testing

@testable import MeshKit

@Suite("mesh: WireGuard keys", .timeLimit(.minutes(1)))
struct WireGuardKeyTests {
    /// RFC 7748, section 6.1: Alice's private key and the public key X25519 gives for it.
    static let alicePrivate = Data([
        0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2, 0x66, 0x45,
        0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5, 0x1d, 0xb9, 0x2c, 0x2a,
    ]).base64EncodedString()
    static let alicePublic: [UInt8] = [
        0x85, 0x20, 0xf0, 0x09, 0x89, 0x30, 0xa7, 0x54, 0x74, 0x8b, 0x7d, 0xdc, 0xb4, 0x3e, 0xf7, 0x5a,
        0x0d, 0xbf, 0x3a, 0x0d, 0x26, 0x38, 0x1a, 0xf4, 0xeb, 0xa4, 0xa9, 0x8e, 0xaa, 0x9b, 0x4e, 0x6a,
    ]

    @Test func thePublicKeyIsX25519s() throws {
        let key = try WireGuardPrivateKey(base64: Self.alicePrivate)
        #expect(key.publicKey.bytes == Self.alicePublic)
        #expect(key.base64ForWireGuard == Self.alicePrivate)
        #expect(try WireGuardPublicKey(base64: key.publicKey.base64) == key.publicKey)
    }

    @Test func generatedKeysDifferAndRoundTrip() throws {
        let a = WireGuardPrivateKey.generate()
        let b = WireGuardPrivateKey.generate()
        #expect(a.publicKey != b.publicKey)
        #expect(try WireGuardPrivateKey(base64: a.base64ForWireGuard).publicKey == a.publicKey)
    }

    @Test func aPrivateKeyNeverShowsInItsDescriptionOrInAnError() throws {
        let key = try WireGuardPrivateKey(base64: Self.alicePrivate)
        #expect(!"\(key)".contains(Self.alicePrivate) && !String(reflecting: key).contains(Self.alicePrivate))
        #expect("\(key)".contains(key.publicKey.base64))
        let almost = String(Self.alicePrivate.dropLast(2)) + "!="
        do {
            _ = try WireGuardPrivateKey(base64: almost)
            Issue.record("accepted a malformed key")
        } catch {
            #expect(!error.message.contains(almost))
        }
    }

    @Test(arguments: ["", "abc", String(repeating: "A", count: 44), String(repeating: "A", count: 43) + "=\n", " " + String(repeating: "A", count: 42) + "=",
                      String(repeating: "A", count: 42) + "==", String(repeating: "-", count: 43) + "="])
    func malformedPublicKeysAreRefused(_ text: String) {
        #expect(throws: SFHAError.self) { try WireGuardPublicKey(base64: text) }
    }
}

@Suite("mesh: addresses and endpoints", .timeLimit(.minutes(1)))
struct MeshAddressTests {
    @Test func endpointsParseAndPrintAsWgDoes() throws {
        #expect(try MeshEndpoint(parsing: "192.0.2.1:51820").description == "192.0.2.1:51820")
        #expect(try MeshEndpoint(parsing: "[2001:db8::1]:51820").description == "[2001:db8::1]:51820")
        for bad in ["192.0.2.1", "192.0.2.1:0", "192.0.2.1:65536", "host:51820", "2001:db8::1:51820", "[2001:db8::1]51820", ":1", "192.0.2.1:+5"] {
            #expect(throws: SFHAError.self, "\(bad)") { try MeshEndpoint(parsing: bad) }
        }
    }

    @Test func networksContainAndOverlap() throws {
        let mesh = try IPv4Network(parsing: "10.99.0.0/24")
        #expect(mesh.contains(IPv4Address("10.99.0.200")!) && !mesh.contains(IPv4Address("10.99.1.1")!))
        let wide = try IPv4Network(parsing: "10.0.0.0/8")
        let beside = try IPv4Network(parsing: "10.98.0.0/24")
        #expect(mesh.overlaps(wide) && !mesh.overlaps(beside))
        #expect(try IPv4Network(parsing: "10.99.0.7/24").networkAddress == IPv4Address("10.99.0.0")!)
        for bad in ["10.99.0.0", "10.99.0.0/33", "10.99.0/24", "10.99.0.0/-1", "10.99.0.0/+24", "10.99.0.0/", "10.99.0.0/24/1"] {
            #expect(throws: SFHAError.self, "\(bad)") { try IPv4Network(parsing: bad) }
        }
    }
}

@Suite("mesh: wg dump, the controller's commands, the wg-quick file", .timeLimit(.minutes(1)))
struct MeshControllerTests {
    static let key = try! WireGuardPrivateKey(base64: WireGuardKeyTests.alicePrivate)
    static let peerKey = WireGuardPrivateKey.generate().publicKey
    static let otherKey = WireGuardPrivateKey.generate().publicKey

    static var dump: String {
        [
            "\(key.base64ForWireGuard)\t\(key.publicKey)\t51820\toff",
            "\(peerKey)\t(none)\t192.0.2.2:51820\t10.99.0.2/32\t1700000000\t1234\t5678\t25",
            "\(otherKey)\t(none)\t(none)\t(none)\t0\t0\t0\toff",
        ].joined(separator: "\n") + "\n"
    }

    @Test func theDumpIsParsedAndThePrivateKeyDropped() throws {
        let state = try WireGuardDump.parse(Self.dump)
        #expect(state.publicKey == Self.key.publicKey && state.listenPort == 51820)
        let peer = try #require(state.peers.first { $0.publicKey == Self.peerKey })
        #expect(peer.endpoint?.description == "192.0.2.2:51820" && peer.allowedIPs.map(\.description) == ["10.99.0.2/32"])
        #expect(peer.latestHandshake == Date(timeIntervalSince1970: 1_700_000_000) && peer.receivedBytes == 1234 && peer.sentBytes == 5678)
        #expect(peer.persistentKeepalive == 25)
        let other = try #require(state.peers.first { $0.publicKey == Self.otherKey })
        #expect(other.endpoint == nil && other.allowedIPs.isEmpty && other.latestHandshake == nil && other.persistentKeepalive == nil)
        let encoded = String(decoding: try JSONEncoder().encode(state), as: UTF8.self)
        #expect(!encoded.contains(Self.key.base64ForWireGuard))
    }

    @Test func aMalformedDumpIsAnErrorThatQuotesNoKey() {
        let broken = Self.dump.replacingOccurrences(of: "\t25\n", with: "\tsoon\n")
        do {
            _ = try WireGuardDump.parse(broken)
            Issue.record("accepted a malformed dump")
        } catch {
            #expect(error.message.contains("keepalive") && !error.message.contains(Self.key.base64ForWireGuard))
        }
        #expect(throws: SFHAError.self) { try WireGuardDump.parse("") }
        #expect(throws: SFHAError.self) { try WireGuardDump.parse("a\tb\n") }
    }

    @Test func bringingUpPassesThePrivateKeyOnStandardInputOnly() async throws {
        let runner = FakeProgramRunner { invocation in
            // No interface yet; no kernel WireGuard: the userspace one is started.
            if invocation.arguments.starts(with: ["-o", "link", "show"]) { return ProgramResult(exitCode: 1) }
            if invocation.arguments.contains("type") { return ProgramResult(exitCode: 2, standardError: "Unknown device type.") }
            return ProgramResult(exitCode: 0)
        }
        let spec = try MeshInterfaceSpec(privateKey: Self.key, address: try IPv4Network(parsing: "10.99.0.1/24"))
        try await WireGuardCommandController(runner: runner).bringUp(spec)
        let calls = runner.invocations
        #expect(calls.map { ([$0.executable] + $0.arguments).joined(separator: " ") } == [
            "ip -o link show dev wg-sfha",
            "ip link add dev wg-sfha type wireguard",
            "env WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 wireguard-go wg-sfha",
            "wg set wg-sfha listen-port 51820 private-key /dev/stdin",
            "ip address replace 10.99.0.1/24 dev wg-sfha",
            "ip link set dev wg-sfha mtu 1420 up",
        ])
        #expect(calls.allSatisfy { !$0.arguments.joined(separator: " ").contains(Self.key.base64ForWireGuard) })
        #expect(calls[3].input == Array((Self.key.base64ForWireGuard + "\n").utf8))
    }

    @Test func peersAreMadeExactlyTheWantedSet() async throws {
        let runner = FakeProgramRunner { invocation in
            if invocation.arguments == ["show", "wg-sfha", "dump"] { return ProgramResult(exitCode: 0, standardOutput: Self.dump) }
            return ProgramResult(exitCode: 0)
        }
        let unchanged = MeshPeer(
            publicKey: Self.peerKey, allowedIPs: [try IPv4Network(parsing: "10.99.0.2/32")], endpoint: try MeshEndpoint(parsing: "192.0.2.2:51820"))
        let added = WireGuardPrivateKey.generate().publicKey
        let new = MeshPeer(publicKey: added, allowedIPs: [try IPv4Network(parsing: "10.99.0.3/32")], endpoint: try MeshEndpoint(parsing: "192.0.2.3:51820"))
        try await WireGuardCommandController(runner: runner).apply(peers: [unchanged, new], on: "wg-sfha")
        let sets = runner.invocations.filter { $0.executable == "wg" && $0.arguments.first == "set" }.map { $0.arguments.joined(separator: " ") }
        #expect(sets == [
            "set wg-sfha peer \(Self.otherKey) remove",
            "set wg-sfha peer \(added) allowed-ips 10.99.0.3/32 endpoint 192.0.2.3:51820 persistent-keepalive 25",
        ])
    }

    @Test func theWgQuickFileHasEverythingAndMode0600() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshkit-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let spec = try MeshInterfaceSpec(privateKey: Self.key, address: try IPv4Network(parsing: "10.99.0.1/24"))
        let peer = MeshPeer(publicKey: Self.peerKey, allowedIPs: [try IPv4Network(parsing: "10.99.0.2/32")], endpoint: try MeshEndpoint(parsing: "192.0.2.2:51820"))
        let path = directory + "/wg-sfha.conf"
        try WireGuardConfigFile.write(spec, peers: [peer], to: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("[Interface]\nPrivateKey = \(Self.key.base64ForWireGuard)\nListenPort = 51820\nAddress = 10.99.0.1/24\nMTU = 1420\n"))
        #expect(text.contains("[Peer]\nPublicKey = \(Self.peerKey)\nAllowedIPs = 10.99.0.2/32\nEndpoint = 192.0.2.2:51820\nPersistentKeepalive = 25\n"))
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
    }

    @Test func theFakeKeepsPeersAndLearntEndpoints() async throws {
        let mesh = FakeMeshController()
        let spec = try MeshInterfaceSpec(privateKey: Self.key, address: try IPv4Network(parsing: "10.99.0.1/24"))
        await #expect(throws: SFHAError.self) { try await mesh.apply(peers: [], on: "wg-sfha") }
        try await mesh.bringUp(spec)
        let endpoint = try MeshEndpoint(parsing: "192.0.2.2:51820")
        try await mesh.apply(peers: [MeshPeer(publicKey: Self.peerKey, allowedIPs: [], endpoint: endpoint)], on: "wg-sfha")
        try await mesh.apply(peers: [MeshPeer(publicKey: Self.peerKey, allowedIPs: [])], on: "wg-sfha")
        #expect(try await mesh.state(of: "wg-sfha")?.peers.map(\.endpoint) == [endpoint])
        try await mesh.tearDown("wg-sfha")
        #expect(try await mesh.state(of: "wg-sfha") == nil)
    }

    @Test func interfaceNamesAreValidated() {
        for bad in ["", "-x", "a/b", "a:b", "a b", String(repeating: "w", count: 16), ".", ".."] {
            #expect(MeshInterfaceSpec.interfaceNameProblem(bad) != nil, "\(bad)")
        }
        #expect(MeshInterfaceSpec.interfaceNameProblem("wg-sfha") == nil)
    }
}
