import CorosyncKit
import Foundation
import SFHABase
import SFHALab
import Testing

/// One real corosync node (a 1-node lab: its own network + mount namespace, corosync on the lab subnet) for
/// CorosyncKit's tests.
struct LiveNode {
    let lab: Lab
    let nodeName = "node1"
    let endpoint: CorosyncEndpoint

    init(lab: Lab) throws {
        self.lab = lab
        endpoint = try lab.corosyncEndpoint(nodeName)
    }
    var clusterName: String { lab.name }
    var sfhaBinary: String { Lab.builtProduct("sfha") }
    private var configurationPath: String {
        get throws { "\(try #require(try lab.node(nodeName).stateDirectory))/etc-corosync/corosync.conf" }
    }
    var configurationText: String { get throws { try AtomicFile.readText(try configurationPath) } }

    @discardableResult
    func run(_ argv: [String]) async throws -> ProgramResult { try await lab.exec(nodeName, argv) }

    func writeConfiguration(_ text: String) throws { try AtomicFile.write(text, to: try configurationPath) }

    func corosyncPID() throws -> Int32 { try #require(try lab.corosyncPID(on: nodeName)) }

    func killCorosync() async throws {
        try await lab.kill(nodeName, process: "corosync", signal: SIGKILL)
        let gone = try await LabTestSupport.eventually(timeout: .seconds(5)) { try lab.corosyncPID(on: nodeName) == nil }
        try #require(gone, "corosync in \(nodeName) did not exit after SIGKILL")
    }

    func startCorosync() async throws {
        try await lab.startCorosync(nodeName)
        _ = try await lab.waitUntilAllQuorate(timeout: .seconds(30))
    }
}

/// Runs `body` against a fresh 1-node lab and always tears it down.
func withSingleNodeCorosync(_ body: (LiveNode) async throws -> Void) async throws {
    try await LabTestSupport.withLab("lt-live", nodes: 1) { lab in
        try await body(try LiveNode(lab: lab))
    }
}
