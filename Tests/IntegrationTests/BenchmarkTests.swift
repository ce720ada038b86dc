import SFHALab
import Testing

/// The benchmarks that need no lab, run small: they must produce their figures (never judged here; timings are the
/// benchmark command's business, `sfha-lab bench`).
@Suite(.timeLimit(.minutes(2))) struct BenchmarkTests {
    @Test func theControlBenchmarkMeasuresEveryCallAndChecksEachAnswer() async throws {
        let result = try await ControlBenchmark(calls: 40, warmup: 2, nodes: 12).run()
        #expect(result.calls == 40)
        #expect(result.nodes == 12)
        #expect(result.mismatches == 0)
        #expect(result.answerBytes > 1000)
        #expect(result.minimumMicroseconds > 0)
        #expect(result.minimumMicroseconds <= result.p50Microseconds)
        #expect(result.p50Microseconds <= result.p99Microseconds)
        #expect(result.p99Microseconds <= result.maximumMicroseconds)
    }
}
