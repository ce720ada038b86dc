import CorosyncKit
import SFHABase

/// Measures corosync's event paths as sfha uses them, from one process on one monotonic clock:
/// a cmap write to the tracking callback, and a CPG send to its delivery on another node and on the sender.
public struct CorosyncBenchmark: Sendable {
    public struct Result: Sendable, Codable {
        public struct Figure: Sendable, Codable {
            public var samples: Int
            public var p50Microseconds: Double
            public var p99Microseconds: Double
            public var minimumMicroseconds: Double
            public var maximumMicroseconds: Double

            init(_ samples: [Duration]) {
                let summary = LatencySummary(samples)
                self.samples = summary.samples
                p50Microseconds = summary.p50.microseconds
                p99Microseconds = summary.p99.microseconds
                minimumMicroseconds = summary.min.microseconds
                maximumMicroseconds = summary.max.microseconds
            }
        }
        public var nodes: Int
        public var cmapWriteToTrackEvent: Figure
        public var cpgSendToRemoteDelivery: Figure?
        public var cpgSendToLocalDelivery: Figure
    }

    public var samples: Int

    public init(samples: Int = 200) { self.samples = samples }

    /// Runs on `sender` (and `receiver`, a different node, when given).
    public func run(sender: CorosyncEndpoint, receiver: CorosyncEndpoint?, nodes: Int) async throws -> Result {
        let cmapFigure = try await measureCMap(sender)
        let (local, remote) = try await measureProcessGroup(sender: sender, receiver: receiver)
        return Result(
            nodes: nodes, cmapWriteToTrackEvent: .init(cmapFigure), cpgSendToRemoteDelivery: remote.map(Result.Figure.init),
            cpgSendToLocalDelivery: .init(local))
    }

    private func measureCMap(_ endpoint: CorosyncEndpoint) async throws -> [Duration] {
        let writer = try CMap(endpoint: endpoint)
        let tracker = try CMap(endpoint: endpoint)
        defer {
            writer.close()
            tracker.close()
        }
        let key = "sfha.bench.latency"
        var changes = try tracker.track(key, prefix: false).makeAsyncIterator()
        var result = [Duration]()
        let clock = ContinuousClock()
        for index in 0..<(samples + 10) {
            let start = clock.now
            try await writer.set(key, .uint64(UInt64(index)))
            while let change = try await changes.next() {
                if change.newValue == .uint64(UInt64(index)) { break }
            }
            // The first writes warm up connections and allocations; they are not counted.
            if index >= 10 { result.append(clock.now - start) }
        }
        try await writer.delete(key)
        return result
    }

    private func measureProcessGroup(sender: CorosyncEndpoint, receiver: CorosyncEndpoint?) async throws
        -> (local: [Duration], remote: [Duration]?)
    {
        let group = "sfha-bench-\(UInt32.random(in: 0...UInt32.max))"
        let sending = try ProcessGroup(joining: group, endpoint: sender)
        defer { sending.leave() }
        let receiving = try receiver.map { try ProcessGroup(joining: group, endpoint: $0) }
        defer { receiving?.leave() }
        let clock = ContinuousClock()
        // Each member's deliveries are timestamped by their own consumer task, the moment they arrive.
        enum Arrival: Sendable {
            case joined(members: Int)
            case message(index: Int, remote: Bool, at: ContinuousClock.Instant)
        }
        let (arrivals, sink) = AsyncStream.makeStream(of: Arrival.self, bufferingPolicy: .unbounded)
        func consume(_ member: ProcessGroup, remote: Bool) -> Task<Void, Never> {
            Task {
                do {
                    for try await event in member.events {
                        switch event {
                        case .membership(let change) where !remote:
                            sink.yield(.joined(members: change.members.count))
                        case .message(_, let payload):
                            if let index = Int(String(decoding: payload, as: UTF8.self)) {
                                sink.yield(.message(index: index, remote: remote, at: clock.now))
                            }
                        default:
                            break
                        }
                    }
                } catch {}
            }
        }
        let consumers = [consume(sending, remote: false)] + (receiving.map { [consume($0, remote: true)] } ?? [])
        defer { consumers.forEach { $0.cancel() } }
        var iterator = arrivals.makeAsyncIterator()
        // Wait until both members see each other, so no sample includes the join.
        let expectedMembers = receiving == nil ? 1 : 2
        while let arrival = await iterator.next() {
            if case .joined(let members) = arrival, members == expectedMembers { break }
        }
        var local = [Duration]()
        var remote = [Duration]()
        for index in 0..<(samples + 10) {
            let start = clock.now
            try await sending.send(Array(String(index).utf8))
            var pending = expectedMembers
            while pending > 0, let arrival = await iterator.next() {
                guard case .message(let arrived, let isRemote, let at) = arrival, arrived == index else { continue }
                pending -= 1
                // The first messages warm up the path; they are not counted.
                guard index >= 10 else { continue }
                if isRemote { remote.append(at - start) } else { local.append(at - start) }
            }
        }
        return (local, receiving == nil ? nil : remote)
    }
}
