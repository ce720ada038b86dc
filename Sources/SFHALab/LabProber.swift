import Foundation
import SFHABase

#if canImport(Glibc)
import Glibc
#endif

/// One HTTP GET with a hard deadline, on plain POSIX sockets (HTTP/1.0, one request per connection): what the
/// client prober sends to the VIP. A VIP that has just moved can leave a client with a stale ARP entry or a SYN
/// nobody answers; the deadline turns that into a quick failure instead of TCP's second-long retransmissions.
public enum LabHTTPClient {
    public struct Answer: Sendable, Equatable {
        public var status: Int
        public var body: String
    }

    /// GETs `http://address:port/path` (an IPv4 address). Throws on connect failure, timeout or a malformed answer.
    public static func get(address: String, port: UInt16, path: String = "/", timeout: Duration) throws(SFHAError) -> Answer {
        let deadline = LabClock.now() + timeout.labNanoseconds
        var target = sockaddr_in()
        target.sin_family = sa_family_t(AF_INET)
        target.sin_port = port.bigEndian
        guard inet_pton(AF_INET, address, &target.sin_addr) == 1 else {
            throw SFHAError(.invalidArgument, "'\(address)' is not an IPv4 address")
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RouteNetlink.systemError("socket") }
        defer { close(fd) }
        let connected = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if connected != 0 {
            guard errno == EINPROGRESS else { throw RouteNetlink.systemError("connect to \(address):\(port)") }
            try wait(fd, for: Int16(POLLOUT), until: deadline, what: "connect to \(address):\(port)")
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            guard error == 0 else { throw RouteNetlink.systemError("connect to \(address):\(port)", errorNumber: error) }
        }
        return try exchange(fd, host: address, path: path, deadline: deadline, peer: "\(address):\(port)")
    }

    /// GETs `path` from an HTTP server on a Unix socket (sfhad's control socket), with the same deadline rules.
    public static func get(unixSocket socketPath: String, path: String, timeout: Duration) throws(SFHAError) -> Answer {
        let deadline = LabClock.now() + timeout.labNanoseconds
        var target = sockaddr_un()
        target.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        let capacity = MemoryLayout.size(ofValue: target.sun_path)
        guard bytes.count < capacity else { throw SFHAError(.invalidArgument, "socket path \(socketPath) is too long") }
        withUnsafeMutableBytes(of: &target.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        // A blocking connect: on a Unix socket it completes (or fails) at once.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RouteNetlink.systemError("socket") }
        defer { close(fd) }
        let connected = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw RouteNetlink.systemError("connect to \(socketPath)") }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        return try exchange(fd, host: "localhost", path: path, deadline: deadline, peer: socketPath)
    }

    /// Sends the request on a connected non-blocking socket and reads the answer until the server closes.
    private static func exchange(_ fd: Int32, host: String, path: String, deadline: UInt64, peer: String) throws(SFHAError)
        -> Answer
    {
        let request = Array("GET \(path) HTTP/1.0\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8)
        var sent = 0
        while sent < request.count {
            let count = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count > 0 {
                sent += count
            } else if errno == EAGAIN || errno == EINTR {
                try wait(fd, for: Int16(POLLOUT), until: deadline, what: "sending to \(peer)")
            } else {
                throw RouteNetlink.systemError("sending to \(peer)")
            }
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                response.append(contentsOf: buffer[0..<count])
            } else if count == 0 {
                break
            } else if errno == EAGAIN || errno == EINTR {
                try wait(fd, for: Int16(POLLIN), until: deadline, what: "reading from \(peer)")
            } else {
                throw RouteNetlink.systemError("reading from \(peer)")
            }
        }
        return try parse(response)
    }

    static func parse(_ response: [UInt8]) throws(SFHAError) -> Answer {
        let text = String(decoding: response, as: UTF8.self)
        guard let headerEnd = text.range(of: "\r\n\r\n") else {
            throw SFHAError(.io, "malformed HTTP answer (no end of headers) of \(response.count) bytes")
        }
        let statusLine = text[..<headerEnd.lowerBound].split(separator: "\r\n").first ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            throw SFHAError(.io, "malformed HTTP status line '\(statusLine)'")
        }
        return Answer(status: status, body: String(text[headerEnd.upperBound...]))
    }

    private static func wait(_ fd: Int32, for events: Int16, until deadline: UInt64, what: String) throws(SFHAError) {
        while true {
            let now = LabClock.now()
            guard now < deadline else { throw SFHAError(.timeout, "\(what) timed out") }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let milliseconds = Int32(clamping: (deadline - now + 999_999) / 1_000_000)
            let ready = poll(&entry, 1, milliseconds)
            if ready > 0 { return }
            if ready < 0 && errno != EINTR { throw RouteNetlink.systemError("poll while \(what)") }
        }
    }
}

/// One line of `sfha-lab probe http`: a request sent at `start`, finished at `time` (CLOCK_MONOTONIC ns).
public struct HTTPProbeObservation: Sendable, Codable, Equatable {
    /// When the answer (or the failure) came.
    public var time: UInt64
    public var start: UInt64
    public var ok: Bool
    /// The answer's body, trimmed (the demo web service answers its node's name).
    public var answer: String?
    public var error: String?

    enum CodingKeys: String, CodingKey {
        case time = "t"
        case start, ok, answer, error
    }

    public init(time: UInt64, start: UInt64, ok: Bool, answer: String?, error: String?) {
        self.time = time
        self.start = start
        self.ok = ok
        self.answer = answer
        self.error = error
    }

    /// Parses the prober's output; lines that are not observations (e.g. a start banner) are skipped.
    public static func parseLines(_ text: String) -> [HTTPProbeObservation] {
        let decoder = JSONDecoder()
        return text.split(separator: "\n").compactMap { line in
            try? decoder.decode(HTTPProbeObservation.self, from: Data(line.utf8))
        }
    }
}

/// What the client saw over a stretch of time.
public struct HTTPProbeReport: Sendable, CustomStringConvertible {
    public struct Gap: Sendable, Equatable {
        /// The last answer before the gap and the first one after it.
        public var from: UInt64
        public var to: UInt64
        public var answeredBefore: String?
        public var answeredAfter: String?
        public var milliseconds: Double { LabClock.milliseconds(from: from, to: to) }
    }

    public var observations: [HTTPProbeObservation]
    /// Requests that got no answer.
    public var failures: Int { observations.filter { !$0.ok }.count }
    /// Requests answered.
    public var answers: Int { observations.filter(\.ok).count }

    public init(observations: [HTTPProbeObservation]) {
        self.observations = observations.sorted { $0.time < $1.time }
    }

    /// The client-observed outage: the longest time between two consecutive answers (nil with fewer than two).
    public var longestGap: Gap? {
        let answered = observations.filter(\.ok)
        return zip(answered, answered.dropFirst()).map { previous, next in
            Gap(from: previous.time, to: next.time, answeredBefore: previous.answer, answeredAfter: next.answer)
        }.max { $0.milliseconds < $1.milliseconds }
    }

    /// The nodes that answered, in order, each listed once per stretch of answers (e.g. ["node1", "node2"]).
    public var answeredBy: [String] {
        var sequence: [String] = []
        for observation in observations where observation.ok {
            let answer = observation.answer ?? ""
            if sequence.last != answer { sequence.append(answer) }
        }
        return sequence
    }

    /// The last node that answered.
    public var lastAnswer: String? { observations.last(where: \.ok)?.answer }

    /// The first answer from `node` at or after `time`.
    public func firstAnswer(from node: String, after time: UInt64) -> UInt64? {
        observations.first { $0.ok && $0.answer == node && $0.time >= time }?.time
    }

    /// The last answer before `time`.
    public func lastAnswer(before time: UInt64) -> HTTPProbeObservation? {
        observations.last { $0.ok && $0.time < time }
    }

    public var description: String {
        var text = "\(observations.count) requests, \(answers) answered, \(failures) failed, answered by \(answeredBy)"
        if let gap = longestGap {
            text += String(format: ", longest gap %.0f ms", gap.milliseconds)
                + " (\(gap.answeredBefore ?? "?") → \(gap.answeredAfter ?? "?"))"
        }
        return text
    }
}

/// Runs `sfha-lab probe http` in the lab's client host (a long-running process of its own, so the client's view
/// does not depend on this process's scheduling) and reads its JSON lines back.
public final class LabHTTPProber: Sendable {
    public let lab: Lab
    public let url: String
    public let pid: Int32
    /// The host file the prober writes its JSON lines to.
    public let logFile: String

    private init(lab: Lab, url: String, pid: Int32, logFile: String) {
        self.lab = lab
        self.url = url
        self.pid = pid
        self.logFile = logFile
    }

    /// Starts probing `url` (http://IPv4:port/path) every `interval`, each request given `timeout`.
    public static func start(
        lab: Lab, url: String, interval: Duration = .milliseconds(25), timeout: Duration = .milliseconds(200),
        executable: String = Lab.builtProduct("sfha-lab")
    ) async throws(SFHAError) -> LabHTTPProber {
        let logFile = "\(lab.stateDirectory)/probe-http-\(UInt32.random(in: 0...UInt32.max)).jsonl"
        let pid = try await lab.spawn(
            LabNames.clientHostName,
            [
                executable, "probe", "http", "--url", url,
                "--interval-ms", String(Int(interval.milliseconds)), "--timeout-ms", String(Int(timeout.milliseconds)),
            ],
            logTo: logFile)
        return LabHTTPProber(lab: lab, url: url, pid: pid, logFile: logFile)
    }

    /// Everything the prober reported from `start` (a `LabClock.now()` value) on, plus the last answer before
    /// `start`, so an outage that began with the fault counts from the client's last answer.
    public func report(since start: UInt64 = 0) -> HTTPProbeReport {
        let text = (try? AtomicFile.readText(logFile)) ?? ""
        let all = HTTPProbeObservation.parseLines(text)
        let lastAnswerBefore = all.last { $0.ok && $0.time < start }
        return HTTPProbeReport(observations: (lastAnswerBefore.map { [$0] } ?? []) + all.filter { $0.time >= start })
    }

    /// Waits until `node` answered at or after `time`; returns when, or nil after `timeout`.
    public func waitForAnswer(from node: String, after time: UInt64, timeout: Duration) async -> UInt64? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if let answered = report(since: time).firstAnswer(from: node, after: time) { return answered }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// Stops the prober (SIGTERM to the process this prober started) and waits for it to exit.
    public func stop() async {
        _ = await ProcessTable.terminate([pid], grace: .seconds(2))
    }
}

extension Duration {
    /// Nanoseconds, for adding a duration to `LabClock.now()` values.
    var labNanoseconds: UInt64 {
        UInt64(max(0, components.seconds)) * 1_000_000_000 + UInt64(max(0, components.attoseconds / 1_000_000_000))
    }
}
