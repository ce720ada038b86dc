import Foundation

/// Latency percentiles of one measured step.
public struct LatencySummary: Sendable, Equatable, CustomStringConvertible {
    public var samples: Int
    public var p50: Duration
    public var p99: Duration
    public var min: Duration
    public var max: Duration

    public init(_ values: [Duration]) {
        let sorted = values.sorted()
        samples = sorted.count
        func percentile(_ p: Double) -> Duration {
            guard !sorted.isEmpty else { return .zero }
            // Nearest rank.
            let rank = Int((p * Double(sorted.count)).rounded(.up))
            return sorted[Swift.min(Swift.max(rank, 1), sorted.count) - 1]
        }
        p50 = percentile(0.50)
        p99 = percentile(0.99)
        min = sorted.first ?? .zero
        max = sorted.last ?? .zero
    }

    public var description: String {
        "p50 \(Self.ms(p50)) p99 \(Self.ms(p99)) min \(Self.ms(min)) max \(Self.ms(max)) (n=\(samples))"
    }

    static func ms(_ duration: Duration) -> String { String(format: "%.3f ms", duration.milliseconds) }
}

extension Duration {
    /// Microseconds as a Double, for printing figures.
    public var microseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1_000_000 + Double(attoseconds) / 1_000_000_000_000
    }

    /// Milliseconds as a Double, for printing figures.
    public var milliseconds: Double { microseconds / 1000 }
}
