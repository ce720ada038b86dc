import Foundation
import Logging
import SFHABase
import SFHACore

#if canImport(Glibc)
import Glibc
#endif

/// Measures the control API's own cost: `ControlClient` → `ControlServer` round trips of a status-sized GET on a
/// temporary socket, in this process. No daemon, corosync or lab is involved, so the figure is what the socket, the
/// HTTP subset and JSON add to every `sfha` command. Figures only; nothing passes or fails.
public struct ControlBenchmark: Sendable {
    public struct Result: Sendable, Codable {
        public var calls: Int
        /// Size of the JSON answer (a status of `nodes` nodes).
        public var answerBytes: Int
        public var nodes: Int
        /// Answers that did not decode to what the server sent (always 0 unless something is broken).
        public var mismatches: Int
        public var p50Microseconds: Double
        public var p99Microseconds: Double
        public var minimumMicroseconds: Double
        public var maximumMicroseconds: Double
    }

    /// Shaped like `GET /v1/status`: a node list with addresses and holdings, a few groups.
    struct StatusLike: Codable, Sendable, Equatable {
        struct Node: Codable, Sendable, Equatable {
            var name: String
            var nodeId: Int
            var member: Bool
            var daemonAlive: Bool
            var addresses: [String]
            var holdings: [String]
        }
        var clusterName: String
        var quorate: Bool
        var nodes: [Node]
        var groups: [String: String]

        static func sample(nodes count: Int) -> StatusLike {
            StatusLike(
                clusterName: "bench", quorate: true,
                nodes: (1...max(count, 1)).map { index in
                    Node(
                        name: "node-\(index).example.internal", nodeId: index, member: true, daemonAlive: true,
                        addresses: ["10.0.0.\(index % 250 + 1)", "fd00::\(index)"], holdings: ["web-\(index)", "db-\(index)"])
                },
                groups: Dictionary(uniqueKeysWithValues: (1...4).map { ("group-\($0)", "highest-priority eligible node") }))
        }
    }

    public var calls: Int
    public var warmup: Int
    public var nodes: Int

    public init(calls: Int = 1000, warmup: Int = 50, nodes: Int = 12) {
        self.calls = calls
        self.warmup = warmup
        self.nodes = nodes
    }

    public func run() async throws -> Result {
        var template = Array("/tmp/sfha-bench.XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw SFHAError(.io, "could not create a temporary directory for the benchmark's socket: \(String(cString: strerror(errno)))")
        }
        let directory = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let status = StatusLike.sample(nodes: nodes)
        var router = ControlRouter()
        router.get("/v1/status") { _ in status }
        var logger = Logger(label: "sfha.bench.control")
        logger.logLevel = .error
        // This process's own user may call: the benchmark runs without root.
        let me = geteuid()
        let server = ControlServer(
            socketPath: directory + "/bench.sock", router: router,
            configuration: ControlServerConfiguration(authorization: ControlAuthorization { $0.uid == me }), logger: logger)
        try server.start()
        let client = ControlClient(socketPath: server.socketPath)
        do {
            for _ in 0..<warmup {
                let _: StatusLike = try await client.get("/v1/status")
            }
            let clock = ContinuousClock()
            var samples: [Duration] = []
            samples.reserveCapacity(calls)
            var mismatches = 0
            for _ in 0..<calls {
                let start = clock.now
                let answer: StatusLike = try await client.get("/v1/status")
                samples.append(clock.now - start)
                if answer != status { mismatches += 1 }
            }
            await server.stop()
            let summary = LatencySummary(samples)
            return Result(
                calls: calls, answerBytes: try ControlJSON.encode(status).count, nodes: status.nodes.count,
                mismatches: mismatches, p50Microseconds: summary.p50.microseconds, p99Microseconds: summary.p99.microseconds,
                minimumMicroseconds: summary.min.microseconds, maximumMicroseconds: summary.max.microseconds)
        } catch {
            await server.stop()
            throw error
        }
    }
}
