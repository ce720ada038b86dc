import ArgumentParser
import CorosyncKit
import Foundation
import MeshKit
import P2PKit
import SFHABase
import SFHACore

struct JoinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join",
        abstract: "Join this bare node to a cluster with a token from 'sfha token'.",
        discussion: """
            Brings up the mesh with the token's one-time key, redeems the token at the member that issued it (which \
            has every online member write corosync.conf, commits the new member and reloads corosync once), switches \
            the mesh to this node's own new key, writes the files it received (membership record, corosync.conf, \
            authkey, P2P key, cluster document; config.yml only when there is none), starts corosync — its only \
            start — and sfhad, and returns when this node is a quorate member whose sfhad is in the group. A failure \
            before the commit changes nothing anywhere. Refused on a node already in a cluster, with an expired, used, \
            altered or unreadable token.
            """)

    @Argument(help: "The join token (sfha1-…) printed by 'sfha token' on a member, or '-' to read it from standard input (keeps it out of the process list).")
    var token: String
    @Option(name: .long, help: "This node's name in the cluster (default: its hostname).") var name: String?
    @Option(name: .long, help: "Where the other nodes reach this node: HOST[:PORT] (an IP address; default: this node's outbound address).")
    var endpoint: String?
    @Option(name: .long, help: "The mesh's UDP port.") var port: UInt16 = MeshInterfaceSpec.defaultPort
    @Flag(name: .long, help: "Check the token and this node, print what would be done, change nothing.") var dryRun = false
    @Flag(name: .long, help: "Print JSON.") var json = false
    @Option(name: .long, help: "Language of messages: en or fr (default: $SFHA_LANG, then $LANG).") var lang: Language?

    /// How long the issuer may take to admit this node (it prepares every member, commits and reloads).
    static let redeemTimeout: Duration = .seconds(90)
    /// How long a redeem that did not reach the issuer (mesh handshake, the issuer's allowed callers) is retried.
    static let redeemRetryWindow: Duration = .seconds(12)
    /// A connection over the mesh is made in well under this once WireGuard's handshake is done.
    static let connectTimeout: Duration = .seconds(3)
    static let quorumWait: Duration = .seconds(90)
    /// An issuer that refuses the invitation's address this long (well past its refresh of who may call) means it.
    static let forbiddenIsFinalAfter: Duration = .seconds(3)

    struct Report: Encodable {
        var cluster: String
        var node: String
        var nodeID: UInt32?
        var meshAddress: String
        var issuer: String
        var dryRun: Bool
        var steps: [JoinStep]
        var milliseconds: Int?
    }

    func run() async throws {
        let language = Language.resolve(lang)
        do {
            try await join()
        } catch {
            CLI.fail(error, language: language)
            throw ExitCode(ExitStatus.forError(error.code))
        }
    }

    private func join() async throws(SFHAError) {
        let text = token == "-" ? (readLine(strippingNewline: true) ?? "") : token
        let joinToken = try JoinToken(parsing: text)
        guard joinToken.expiresAt > Date() else {
            throw SFHAError(.invalidState, "this join token expired at \(joinToken.expiresAt): ask a member for a new one ('sfha token'); nothing was changed")
        }
        let paths = NodePaths()
        let runner = SystemProgramRunner()
        let inspector = NodeInspector(paths: paths, runner: runner)
        let facts = try await inspector.facts()
        let nodeName = name ?? ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? ""
        let endpoint = try await InitCommand.resolveEndpoint(self.endpoint, port: port, inspector)
        let request = ClusterInitRequest(clusterName: joinToken.clusterName, nodeName: nodeName, meshNetwork: joinToken.network, endpoint: endpoint)
        if let refusal = ClusterInit.refusal(request, facts) { throw refusal }
        let meshAddress = try IPv4Network(address: joinToken.assignedAddress, prefixLength: joinToken.network.prefixLength)
        var report = Report(
            cluster: joinToken.clusterName, node: nodeName, meshAddress: "\(joinToken.assignedAddress)", issuer: joinToken.issuer, dryRun: dryRun, steps: [])
        let planned = [
            "bring up \(MeshInterfaceSpec.defaultName) at \(meshAddress) with the token's one-time key (peer: \(joinToken.issuer) at \(joinToken.issuerEndpoint))",
            "redeem the token at \(joinToken.issuer) (\(joinToken.issuerMeshAddress):\(P2PServer.defaultPort)): every online member writes corosync.conf, the new member is committed, corosync reloads once",
            "switch \(MeshInterfaceSpec.defaultName) to this node's own new key and the members as peers",
            "write the membership record, the P2P key, corosync's authkey, corosync.conf, the cluster document\(facts.configurationExists ? "" : " and config.yml")",
            "start corosync (its only start)", "start sfhad", "wait until this node is a quorate member whose sfhad is in the group",
        ]
        if dryRun {
            report.steps = planned.map { JoinStep(step: $0, node: nodeName, result: "planned", milliseconds: 0) }
            if json { return try printJSON(report) }
            print("sfha join (dry run): cluster \(joinToken.clusterName) as \(nodeName) at \(joinToken.assignedAddress), endpoint \(endpoint); \(joinToken)")
            for step in planned { print("  would \(step)") }
            return
        }
        if !json { print("sfha join: cluster \(joinToken.clusterName) as \(nodeName) at \(joinToken.assignedAddress), endpoint \(endpoint)") }
        let clock = ContinuousClock()
        let begun = clock.now
        var undo: [() async -> Void] = []
        var committed = false
        func show(_ step: JoinStep) {
            report.steps.append(step)
            guard !json else { return }
            let mark = step.result == "done" ? "✓" : (step.result.hasPrefix("failed") ? "✗" : "·")
            let result = step.result == "done" ? "" : ": \(step.result)"
            print("  \(mark) [\(step.node)] \(step.step)\(result) (\(step.milliseconds) ms)")
        }
        func step(_ what: String, _ body: () async throws(SFHAError) -> Void) async throws(SFHAError) {
            let start = clock.now
            do {
                try await body()
            } catch {
                show(JoinStep(step: what, node: nodeName, result: "failed: \(error.message)", milliseconds: Int((clock.now - start).milliseconds)))
                for action in undo.reversed() { await action() }
                if committed {
                    throw SFHAError(error.code, "sfha join stopped at '\(what)': \(error.message). The cluster has already committed \(nodeName) as a member: "
                        + "fix the cause and finish the step by hand, or remove \(nodeName) on a member and join again with a new token")
                }
                throw SFHAError(error.code, "sfha join stopped at '\(what)': \(error.message); nothing was changed in the cluster, and this node is as before")
            }
            show(JoinStep(step: what, node: nodeName, result: "done", milliseconds: Int((clock.now - start).milliseconds)))
        }

        let mesh = WireGuardCommandController(runner: runner)
        let invitationSpec = try MeshInterfaceSpec(privateKey: joinToken.invitationKey, listenPort: endpoint.port, address: meshAddress)
        try await step(planned[0]) { () throws(SFHAError) in
            undo.append { try? await mesh.tearDown(invitationSpec.name) }
            try await mesh.bringUp(invitationSpec)
            try await mesh.apply(
                peers: [MeshPeer(publicKey: joinToken.issuerPublicKey, allowedIPs: [.host(joinToken.issuerMeshAddress)], endpoint: joinToken.issuerEndpoint)],
                on: invitationSpec.name)
        }

        let ownKey = WireGuardPrivateKey.generate()
        var bundle: JoinBundle?
        try await step("redeem the token at \(joinToken.issuer)") { () throws(SFHAError) in
            bundle = try await redeem(joinToken, JoinRequest(name: nodeName, publicKey: ownKey.publicKey, endpoint: endpoint))
        }
        guard let bundle else { throw SFHAError(.internalError, "the redeem returned nothing") }
        committed = true
        undo.removeAll()
        for issued in bundle.steps { show(issued) }

        let record = bundle.membership.record
        let ownSpec = try MeshInterfaceSpec(privateKey: ownKey, listenPort: endpoint.port, address: meshAddress)
        try await step("switch \(ownSpec.name) to this node's own key, \(record.members.count - 1) members as peers") { () throws(SFHAError) in
            let peers = record.meshPeers(for: nodeName)
            try await mesh.tearDown(ownSpec.name)
            try await mesh.bringUp(ownSpec)
            try await mesh.apply(peers: peers, on: ownSpec.name)
            try InitCommand.makeDirectory("/etc/wireguard", mode: 0o700)
            try WireGuardConfigFile.write(ownSpec, peers: peers)
        }
        try await step("write the membership record (revision \(bundle.membership.revision)), keys, corosync.conf and the cluster document") { () throws(SFHAError) in
            try InitCommand.makeDirectory(paths.stateDirectory, mode: 0o755)
            try InitCommand.makeDirectory("/etc/sfha", mode: 0o755)
            try InitCommand.makeDirectory("/etc/corosync", mode: 0o755)
            try AtomicFile.write(InitCommand.encode(bundle.membership), to: paths.membership, mode: 0o600)
            try AtomicFile.write(InitCommand.encode(bundle.document), to: "\(paths.stateDirectory)/cluster.json", mode: 0o600)
            _ = try P2PKey(fileText: bundle.p2pKey)
            try AtomicFile.write(bundle.p2pKey, to: paths.p2pKey, mode: 0o600)
            guard let authKey = Data(base64Encoded: bundle.authKey), CorosyncAuthKey.allowedLengths.contains(authKey.count) else {
                throw SFHAError(.invalidArgument, "the issuer sent an unusable corosync authkey")
            }
            try CorosyncAuthKey.write(Array(authKey), to: paths.authKey)
            do throws(CorosyncConfError) {
                _ = try CorosyncConf(parsing: bundle.corosyncConf)
            } catch {
                throw SFHAError(.invalidArgument, "the issuer sent a corosync.conf that does not parse: \(error.sfhaError.message)")
            }
            try AtomicFile.write(bundle.corosyncConf, to: paths.corosyncConf, mode: 0o644)
            if !facts.configurationExists {
                try AtomicFile.write(ClusterInit.configuration(clusterName: record.clusterName, nodeName: nodeName, by: "sfha join"), to: paths.configuration, mode: 0o600)
            }
        }
        try await step("start corosync") { () throws(SFHAError) in try await runner.check("systemctl", ["start", "corosync"], timeout: .seconds(60)) }
        try await step("start sfhad") { () throws(SFHAError) in try await runner.check("systemctl", ["start", "sfhad"], timeout: .seconds(60)) }
        // The members that were down when the issuer prepared the change catch up later: the join does not wait for them.
        let expected = Set((bundle.onlineMembers ?? record.members.map(\.name)) + [nodeName])
        let away = record.members.map(\.name).filter { !expected.contains($0) }
        if !away.isEmpty, !json {
            print("⚠ \(away.joined(separator: ", ")) \(away.count == 1 ? "was" : "were") down: \(away.count == 1 ? "it catches" : "they catch") up from the membership record when \(away.count == 1 ? "it returns" : "they return")")
        }
        try await step("wait until \(nodeName) is a quorate member with \(expected.count) of \(record.members.count) members online, its sfhad in the group") { () throws(SFHAError) in
            try await Self.waitForMembership(of: nodeName, online: expected)
        }
        report.nodeID = bundle.member.nodeID
        report.milliseconds = Int((clock.now - begun).milliseconds)
        if json { return try printJSON(report) }
        print("\(nodeName) joined cluster \(record.clusterName) as node id \(bundle.member.nodeID) in \(report.milliseconds ?? 0) ms; 'sfha status' shows it")
    }

    /// Sends the redeem, signed with the key the token's one-time key and the issuer's WireGuard key agree on; retries
    /// for a while when it did not reach the issuer (the mesh's first handshake, the issuer not yet allowing the
    /// invitation's address), never after the issuer answered.
    private func redeem(_ token: JoinToken, _ request: JoinRequest) async throws(SFHAError) -> JoinBundle {
        guard let secret = token.invitationKey.sharedSecret(with: token.issuerPublicKey) else {
            throw SFHAError(.invalidArgument, "the token's issuer key is unusable")
        }
        let client = P2PClient(
            key: P2PKey.derived(fromSharedSecret: secret, purpose: JoinPaths.redeemKeyPurpose), timeout: Self.redeemTimeout,
            connectTimeout: Self.connectTimeout)
        let body: [UInt8]
        do {
            body = Array(try JSONEncoder().encode(request))
        } catch {
            throw SFHAError(.internalError, "cannot encode the join request: \(error)")
        }
        let deadline = ContinuousClock.now + Self.redeemRetryWindow
        var answer: P2PAnswer?
        var lastError: SFHAError?
        var forbiddenSince: ContinuousClock.Instant?
        while answer == nil {
            do throws(SFHAError) {
                answer = try await client.send("POST", JoinPaths.join, body: body, to: "\(token.issuerMeshAddress)")
            } catch {
                lastError = error
                if error.code == .unauthorized {
                    // The issuer is reached but does not know this invitation: once that outlasts its refresh, it is final.
                    let since = forbiddenSince ?? ContinuousClock.now
                    forbiddenSince = since
                    if ContinuousClock.now - since > Self.forbiddenIsFinalAfter {
                        throw SFHAError(.notFound, "\(token.issuer) does not accept this token: it was already used, has expired, was issued by "
                            + "another node or belongs to another cluster; ask a member for a new one ('sfha token')")
                    }
                }
                guard ContinuousClock.now < deadline else { break }
                try? await Task.sleep(for: .milliseconds(300))
            }
        }
        guard let answer else {
            throw SFHAError(.unavailable, "\(token.issuer) could not be reached over the mesh at \(token.issuerMeshAddress) (\(lastError?.message ?? "no answer")): "
                + "its WireGuard no longer accepts this token's key when the token was already used or has expired (ask a member for a new one: "
                + "'sfha token'); otherwise check that UDP \(token.issuerEndpoint) is reachable from here and that \(token.issuer) runs")
        }
        guard answer.status == 200 else { throw answer.failure(at: token.issuer) }
        do {
            return try JSONDecoder().decode(JoinBundle.self, from: Data(answer.body))
        } catch {
            throw SFHAError(.invalidState, "\(token.issuer) answered the redeem with something else: \(error)")
        }
    }

    /// sfhad here says the cluster is quorate, every node of `expected` is online, and this node's daemon is in the group.
    private static func waitForMembership(of node: String, online expected: Set<String>) async throws(SFHAError) {
        try await InitCommand.waitForStatus(
            within: quorumWait, hint: "see 'journalctl -u corosync' and 'journalctl -u sfhad', and 'sfha mesh status'"
        ) { status in
            let online = Set(status.nodes.filter(\.member).map(\.name))
            if status.quorate, expected.isSubset(of: online), status.nodes.contains(where: { $0.name == node && $0.member && $0.daemonAlive }) { return nil }
            let missing = expected.subtracting(online).sorted()
            return "sfhad answers: quorate \(status.quorate), not online yet: \(missing.isEmpty ? "none" : missing.joined(separator: ", "))"
        }
    }

    private func printJSON(_ report: Report) throws(SFHAError) {
        do {
            try CLI.printJSON(report)
        } catch {
            throw SFHAError(.internalError, "cannot print JSON: \(error)")
        }
    }
}
