import Foundation
import Logging
import SFHABase
import Synchronization
import Testing

@testable import SFHACore

#if canImport(Glibc)
import Glibc
#endif

@Suite(.timeLimit(.minutes(2))) struct DaemonLivenessTests {
    static let vip = VirtualIP(name: "v", address: IPAddress("192.0.2.1")!, prefixLength: 24)

    final class Fired: Sendable {
        let released = Mutex<[[VirtualIP]]>([])
        let messages = Mutex<[String]>([])
    }

    static func watchdog(_ liveness: DaemonLiveness, _ fired: Fired) -> StallWatchdog {
        StallWatchdog(
            liveness: liveness, bound: .milliseconds(1500),
            release: { vips in
                fired.released.withLock { $0.append(vips) }
                return vips.map { "\($0.cidr) removed" }
            },
            terminate: { message in fired.messages.withLock { $0.append(message) } })
    }

    @Test func theWatchdogReleasesEveryVIPAndTerminatesWhenTheCoreLoopStalls() {
        let liveness = DaemonLiveness()
        liveness.setVIPs([Self.vip])
        let fired = Fired()
        let watchdog = Self.watchdog(liveness, fired)
        liveness.beat()
        #expect(!watchdog.check(at: .now + .milliseconds(1400)))
        #expect(fired.released.withLock { $0.isEmpty })
        #expect(watchdog.check(at: .now + .milliseconds(1600)))
        #expect(fired.released.withLock { $0 } == [[Self.vip]])
        let message = fired.messages.withLock { $0.first } ?? ""
        #expect(message.contains("192.0.2.1/24 removed") && message.contains("exiting"))
    }

    @Test func aGracefulStopStandsTheWatchdogDown() {
        let liveness = DaemonLiveness()
        let fired = Fired()
        let watchdog = Self.watchdog(liveness, fired)
        liveness.stop()
        #expect(!watchdog.check(at: .now + .seconds(60)))
        #expect(fired.messages.withLock { $0.isEmpty })
    }

    @Test func systemdsWatchdogIsFedAtHalfItsIntervalOnlyFromBeats() {
        let notifier = RecordingNotifier()
        let liveness = DaemonLiveness(notifier: notifier, watchdogInterval: .seconds(10))
        liveness.beat()
        liveness.beat()
        #expect(notifier.messages == [["WATCHDOG": "1"]])
        let silent = RecordingNotifier()
        DaemonLiveness(notifier: silent, watchdogInterval: nil).beat()
        #expect(silent.messages.isEmpty)
    }

    @Test func theNotifierReadsSystemdsEnvironment() {
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "\(getpid())"])
        #expect(notifier.socketPath == "/run/x")
        #expect(notifier.watchdogInterval == .seconds(4))
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"]).watchdogInterval == nil)
        #expect(SystemdNotifier(environment: [:]).socketPath == nil)
        #expect(SystemdNotifier.message(["STATUS": "running", "READY": "1"]) == "READY=1\nSTATUS=running\n")
    }

    /// The real notifier delivers one datagram to the socket named by $NOTIFY_SOCKET (path and abstract forms).
    @Test(arguments: [false, true])
    func theNotifierSendsADatagram(abstract: Bool) throws {
        let name = "sfha-notify-test-\(getpid())-\(abstract)"
        let path = abstract ? "@\(name)" : NSTemporaryDirectory() + name
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(fd >= 0)
        defer {
            close(fd)
            if !abstract { unlink(path) }
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in bytes.enumerated() { buffer[index] = byte }
            if abstract { buffer[0] = 0 }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        try #require(bound == 0)
        SystemdNotifier(environment: ["NOTIFY_SOCKET": path]).notify(["READY": "1", "STATUS": "running"])
        var buffer = [UInt8](repeating: 0, count: 256)
        let received = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        #expect(received > 0)
        #expect(String(decoding: buffer.prefix(max(0, received)), as: UTF8.self) == "READY=1\nSTATUS=running\n")
    }
}

@Suite(.timeLimit(.minutes(2))) struct DaemonLoggingTests {
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
    }

    @Test func journalLinesCarryThePriorityAndOneEventIsOneLine() {
        let lines = Lines()
        let buffer = DaemonLogBuffer()
        let level = DaemonLogLevel(.info)
        var logger = Logger(label: "t") { DaemonLogHandler(label: $0, level: level, buffer: buffer, journal: true) { line in lines.lines.withLock { $0.append(line) } } }
        logger[metadataKey: "node"] = "node1"
        logger.warning("VIP lease\nran out", metadata: ["group": "web"])
        logger.debug("hidden at info")
        #expect(lines.all == ["<4>VIP lease ran out group=web node=node1\n"])
        // The level is shared: a reload that lowers it shows debug lines from then on.
        level.level = .debug
        logger.debug("now shown")
        #expect(lines.all.last == "<7>now shown node=node1\n")
        let page = buffer.entries(after: nil, limit: 10)
        #expect(page.entries.map(\.message) == ["VIP lease ran out group=web node=node1", "now shown node=node1"])
        #expect(page.last == 2)
    }

    @Test func theBufferKeepsTheNewestLinesAndFilters() {
        let buffer = DaemonLogBuffer(capacity: 3)
        for index in 1...5 { buffer.append(level: index % 2 == 0 ? .warning : .info, message: "line \(index)") }
        let page = buffer.entries(after: nil, limit: 10)
        #expect(page.entries.map(\.message) == ["line 3", "line 4", "line 5"])
        #expect(page.last == 5)
        #expect(buffer.entries(after: 3, limit: 10).entries.map(\.message) == ["line 4", "line 5"])
        #expect(buffer.entries(after: nil, limit: 10, minimumLevel: .warning).entries.map(\.message) == ["line 4"])
        #expect(buffer.entries(after: nil, limit: 1).entries.map(\.message) == ["line 5"])
    }

    @Test func plainLinesHaveATimestamp() {
        let lines = Lines()
        let logger = Logger(label: "t") {
            DaemonLogHandler(label: $0, level: DaemonLogLevel(.info), buffer: nil, journal: false) { line in lines.lines.withLock { $0.append(line) } }
        }
        logger.error("boom")
        let line = lines.all.first ?? ""
        #expect(line.hasSuffix(" error boom\n"))
        #expect(line.first?.isNumber == true)
    }

    @Test func journalDetectionNeedsTheStreamsIdentity() {
        #expect(!DaemonLogHandler.stderrIsJournal(environment: [:]))
        #expect(!DaemonLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": "garbage"]))
        var info = stat()
        fstat(STDERR_FILENO, &info)
        #expect(DaemonLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": "\(info.st_dev):\(info.st_ino)"]))
    }
}
