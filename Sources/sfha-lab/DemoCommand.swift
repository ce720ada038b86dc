import ArgumentParser
import CorosyncKit
import Foundation
import SFHABase
import SFHALab

/// The README's main job: a real 3-node cluster on this machine, a node isolated and rejoined, measured.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Bring up a 3-node lab, show membership, isolate a node, measure detection, rejoin, tear down.")

    @Option(name: .long, help: "Lab name for the demo.") var name = "demo"
    @Option(name: .long, help: "Corosync token timeout in milliseconds.") var token = 1000
    @Flag(name: .long, help: "Leave the lab running at the end (tear down later with 'sfha-lab down --name demo').")
    var keep = false

    func run() async throws {
        let sfha = Lab.builtProduct("sfha")
        step("Tearing down any earlier '\(name)' lab")
        _ = try await Lab.down(name)

        step("Bringing up 3 nodes (network + mount namespaces, real corosync, knet + crypto, token \(token) ms)")
        let clock = ContinuousClock()
        var started = clock.now
        let lab = try await Lab.up(LabSpec(name: name, nodeCount: 3, tokenMilliseconds: token))
        print("  all 3 nodes quorate after \(format(clock.now - started))")
        for node in lab.nodes { print("  \(node.name)  \(node.address)  netns \(node.networkNamespace)") }

        do {
            step("Cluster status as seen from node1 (sfha status, run inside node1)")
            try await show(lab.check("node1", [sfha, "status"]).standardOutput)

            let monitors = try lab.nodes.map { ClusterMonitor(endpoint: try lab.corosyncEndpoint($0.name)) }
            let runners = monitors.map { monitor in Task { await monitor.run() } }
            defer { runners.forEach { $0.cancel() } }
            var node1Events = monitors[0].events.makeAsyncIterator()
            var node3Events = monitors[2].events.makeAsyncIterator()
            _ = await node1Events.nextConnection()
            _ = await node3Events.nextConnection()

            step("Isolating node3 (its cable is pulled: the veth on the bridge goes down)")
            started = clock.now
            try await lab.isolate("node3")
            var detection: Duration?
            while let event = await node1Events.next() {
                if case .membershipChanged(let change, let snapshot) = event, change.left.contains(3) {
                    detection = clock.now - started
                    print("  node1: membership changed, ring \(change.ring), left \(change.left), members \(change.members), "
                        + "quorate: \(snapshot.quorate)")
                    break
                }
            }
            while let event = await node3Events.next() {
                if case .quorumChanged(false, let snapshot) = event {
                    print("  node3: quorum lost after \(format(clock.now - started)); it sees members \(snapshot.onlineMembers.map(\.nodeID))")
                    break
                }
            }
            if let detection {
                // corosync scales the token with the node count; read what it actually runs with.
                let cmap = try CMap(endpoint: try lab.corosyncEndpoint("node1"))
                let effectiveToken = try await cmap.get("runtime.config.totem.token")?.unsignedValue ?? UInt64(token)
                let consensus = try await cmap.get("runtime.config.totem.consensus")?.unsignedValue ?? 0
                cmap.close()
                print("  detection time: \(format(detection)) — corosync's floor is token \(effectiveToken) ms "
                    + "+ consensus \(consensus) ms = \(effectiveToken + consensus) ms (configured token \(token) ms)")
            }
            step("Status from node1 and node3 while node3 is isolated")
            try await show(lab.check("node1", [sfha, "status"]).standardOutput)
            let node3Status = try await lab.exec("node3", [sfha, "status"])
            try await show(node3Status.standardOutput)

            step("Rejoining node3")
            started = clock.now
            try await lab.rejoin("node3")
            while let event = await node1Events.next() {
                if let snapshot = event.snapshot, snapshot.quorate, snapshot.onlineMembers.count == 3 {
                    print("  node1 sees all 3 members again after \(format(clock.now - started)), same node ids \(snapshot.onlineMembers.map(\.nodeID))")
                    break
                }
            }
            try await show(lab.check("node3", [sfha, "status"]).standardOutput)
        } catch {
            if !keep { _ = try? await Lab.down(name) }
            throw error
        }
        if keep {
            step("Lab '\(name)' left running: try 'sfha-lab exec node1 -- sfha status', then 'sfha-lab down --name \(name)'")
        } else {
            step("Tearing the lab down")
            let report = try await Lab.down(name)
            print("  removed \(report.removed.count) items; nothing of the lab is left on this machine")
        }
    }

    private func step(_ text: String) { print("\n==> \(text)") }

    private func show(_ text: String) async throws {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty { print("    \(line)") }
    }

    private func format(_ duration: Duration) -> String { String(format: "%.2f s", duration.milliseconds / 1000) }
}
