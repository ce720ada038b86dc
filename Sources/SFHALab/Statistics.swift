/// Latency samples and the figures a benchmark prints.
public struct LatencySamples: Sendable {
    public private(set) var values: [Duration] = []
    public init() {}

    public mutating func append(_ value: Duration) { values.append(value) }

    /// The value below which `fraction` of the samples fall (nearest-rank).
    public func percentile(_ fraction: Double) -> Duration {
        guard !values.isEmpty else { return .zero }
        let sorted = values.sorted()
        let rank = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }

    public var count: Int { values.count }
    public var minimum: Duration { values.min() ?? .zero }
    public var maximum: Duration { values.max() ?? .zero }
    public var median: Duration { percentile(0.5) }
}

extension Duration {
    /// Microseconds as a Double, for printing.
    public var microseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1_000_000 + Double(attoseconds) / 1_000_000_000_000
    }

    public var milliseconds: Double { microseconds / 1000 }
}
