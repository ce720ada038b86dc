import Foundation
@testable import SFHALab
import Testing

/// The watcher's and the prober's arithmetic on recorded observations (no lab, no root): what the scenario suite
/// and the benchmark conclude from depends on it.
@Suite struct LabObservationTests {
    private func observation(_ milliseconds: UInt64, ok: Bool, _ answer: String? = nil) -> HTTPProbeObservation {
        HTTPProbeObservation(
            time: milliseconds * 1_000_000 + 1_000_000, start: milliseconds * 1_000_000, ok: ok, answer: answer,
            error: ok ? nil : "timed out")
    }

    @Test func proberLinesParseAndBannerLinesAreSkipped() {
        let text = """
            starting
            {"answer":"node1","ok":true,"start":1000,"t":2000}
            {"error":"connect to 10.0.0.1:8080 timed out","ok":false,"start":3000,"t":4000}
            """
        let parsed = HTTPProbeObservation.parseLines(text)
        #expect(parsed == [
            HTTPProbeObservation(time: 2000, start: 1000, ok: true, answer: "node1", error: nil),
            HTTPProbeObservation(time: 4000, start: 3000, ok: false, answer: nil, error: "connect to 10.0.0.1:8080 timed out"),
        ])
    }

    @Test func theClientOutageIsTheLongestTimeBetweenTwoAnswers() throws {
        let report = HTTPProbeReport(observations: [
            observation(0, ok: true, "node1"), observation(25, ok: true, "node1"), observation(250, ok: false),
            observation(500, ok: false), observation(3025, ok: true, "node2"), observation(3050, ok: true, "node2"),
        ])
        let gap = try #require(report.longestGap)
        #expect(gap.milliseconds == 3000)
        #expect(gap.answeredBefore == "node1" && gap.answeredAfter == "node2")
        #expect(report.answeredBy == ["node1", "node2"])
        #expect(report.failures == 2 && report.answers == 4)
        #expect(report.firstAnswer(from: "node2", after: 1_000_000_000) == 3_026_000_000)
        #expect(report.lastAnswer(before: 1_000_000_000)?.time == 26_000_000)
    }

    private func watchReport(changes: [LabWatcher.VIPChange], atStart: Set<LabWatchReport.Holding> = []) -> LabWatchReport {
        LabWatchReport(
            from: 0, to: 10_000_000_000, vips: ["vip-web"], nodes: ["node1", "node2"], samples: [], heldWithoutQuorum: [],
            vipChanges: changes, quorumChanges: [], membershipRecords: [], vipsAtStart: atStart, samplingError: nil)
    }

    @Test func aMoveWithReleaseFirstIsNoOverlap() {
        let report = watchReport(
            changes: [
                .init(time: 1_000_000_000, node: "node1", vip: "vip-web", present: false),
                .init(time: 1_200_000_000, node: "node2", vip: "vip-web", present: true),
            ],
            atStart: [.init(node: "node1", vip: "vip-web")])
        #expect(report.eventOverlaps.isEmpty)
        #expect(report.disappeared("vip-web", from: "node1", after: 0) == 1_000_000_000)
        #expect(report.appeared("vip-web", on: "node2", after: 0) == 1_200_000_000)
    }

    @Test func anAcquireBeforeTheReleaseIsAnOverlapEvenBetweenSamples() throws {
        let report = watchReport(
            changes: [
                .init(time: 1_000_000_000, node: "node2", vip: "vip-web", present: true),
                .init(time: 1_005_000_000, node: "node1", vip: "vip-web", present: false),
            ],
            atStart: [.init(node: "node1", vip: "vip-web")])
        let overlap = try #require(report.eventOverlaps.first)
        #expect(report.eventOverlaps.count == 1)
        #expect(overlap.nodes == ["node1", "node2"])
        #expect(abs(overlap.milliseconds - 5) < 0.001)
    }

    @Test func anOverlapStillOpenAtTheEndOfTheReportCounts() {
        let report = watchReport(
            changes: [.init(time: 9_000_000_000, node: "node2", vip: "vip-web", present: true)],
            atStart: [.init(node: "node1", vip: "vip-web")])
        #expect(report.eventOverlaps.map(\.nodes) == [["node1", "node2"]])
    }

    @Test func addressAnnouncementsParseFromNetlinkBytes() {
        // RTM_NEWADDR for 10.231.7.100 on interface index 2: nlmsghdr, ifaddrmsg (AF_INET), IFA_LOCAL.
        let message: [UInt8] = RouteNetlink.le32(32) + RouteNetlink.le16(20) + RouteNetlink.le16(0) + RouteNetlink.le32(7)
            + RouteNetlink.le32(0) + [2, 24, 0, 0] + RouteNetlink.le32(2)
            + RouteNetlink.le16(8) + RouteNetlink.le16(2) + [10, 231, 7, 100]
        let parsed = RouteNetlink.parse(message)
        #expect(parsed.entries == [RouteNetlink.AddressEntry(added: true, interfaceIndex: 2, address: "10.231.7.100")])
        #expect(parsed.sequences == [7])
        #expect(!parsed.done)
    }

    @Test func httpAnswersParseAndGarbageIsRefused() throws {
        let answer = try LabHTTPClient.parse(Array("HTTP/1.0 200 OK\r\nServer: x\r\n\r\nnode2\n".utf8))
        #expect(answer == LabHTTPClient.Answer(status: 200, body: "node2\n"))
        #expect(throws: (any Error).self) { try LabHTTPClient.parse(Array("HTTP/1.0 200 OK\r\n".utf8)) }
    }

    @Test func percentilesAreNearestRankAndAllowNegativeValues() {
        let figure = DaemonBenchmark.Figure([5, -1, 3, 2, 4, 1, 6, 7, 8, 9])
        #expect(figure.samples == 10)
        #expect(figure.p50Milliseconds == 4)
        #expect(figure.p99Milliseconds == 9)
        #expect(figure.minimumMilliseconds == -1)
    }
}
