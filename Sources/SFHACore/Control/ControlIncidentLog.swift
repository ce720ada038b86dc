import Logging

/// What the control server warns about. Each kind is logged at a bounded rate (`ControlIncidentLog`): a client
/// that misbehaves in a loop must not fill the daemon's log (and its in-memory buffer) with one line per attempt.
enum ControlIncident: CaseIterable, Sendable {
    /// The connection table was full: the oldest connection not waiting for a handler was cut, or the new one refused.
    case tooManyConnections
    /// Every handler slot for this kind of request was taken: answered 503.
    case busy
    /// The peer's credentials are not authorized: answered 403.
    case unauthorized
    /// Not a request the server can read (400, 411, 413, 431, 505).
    case malformed
    /// The request did not arrive within the idle or read bound: answered 408.
    case tooSlow
    /// The client did not read its answer within the write bound: connection closed.
    case slowReader
    /// A handler answered 5xx (or did not answer in time).
    case requestFailed

    var summary: String {
        switch self {
        case .tooManyConnections: "too many connections: cut a connection"
        case .busy: "busy: refused a request"
        case .unauthorized: "refused an unauthorized peer"
        case .malformed: "refused a malformed request"
        case .tooSlow: "cut a client that did not send its request in time"
        case .slowReader: "cut a client that did not read its answer in time"
        case .requestFailed: "control request failed"
        }
    }
}

/// Rate limit of one kind of log line: the first event is logged at once, later ones within `interval` are only
/// counted, and the count is logged (as its own line) once the interval is over. At most one line per interval,
/// and every event is in some line.
struct ControlLogThrottle {
    let interval: Duration
    private var lastLine: ContinuousClock.Instant?
    private(set) var suppressed = 0

    init(interval: Duration) {
        self.interval = interval
    }

    /// An event at `now`. nil: only counted. Otherwise it is to be logged, together with the returned number of
    /// earlier events that were counted and not logged yet.
    mutating func admit(at now: ContinuousClock.Instant) -> Int? {
        if let lastLine, now - lastLine < interval {
            suppressed += 1
            return nil
        }
        lastLine = now
        defer { suppressed = 0 }
        return suppressed
    }

    /// When the interval is over and events were counted, returns their number (and starts a new interval);
    /// `force` returns it at once (the server is stopping).
    mutating func flush(at now: ContinuousClock.Instant, force: Bool = false) -> Int? {
        guard suppressed > 0, force || lastLine.map({ now - $0 >= interval }) ?? true else { return nil }
        defer { suppressed = 0 }
        lastLine = now
        return suppressed
    }

    /// When `flush` will have something to return; nil while nothing is counted.
    var nextFlush: ContinuousClock.Instant? {
        guard suppressed > 0 else { return nil }
        return lastLine.map { $0 + interval }
    }
}

/// The control server's warnings, one `ControlLogThrottle` per kind. Used by the server's event loop only.
struct ControlIncidentLog {
    private let logger: Logger
    private var throttles: [ControlIncident: ControlLogThrottle]

    init(logger: Logger, interval: Duration) {
        self.logger = logger
        throttles = Dictionary(uniqueKeysWithValues: ControlIncident.allCases.map { ($0, ControlLogThrottle(interval: interval)) })
    }

    /// Logs `incident` unless a line of its kind was logged less than an interval ago (then it is only counted).
    mutating func record(_ incident: ControlIncident, at now: ContinuousClock.Instant, metadata: Logger.Metadata) {
        guard let earlier = throttles[incident]!.admit(at: now) else { return }
        var metadata = metadata
        if earlier > 0 { metadata["suppressed"] = "\(earlier)" }
        logger.warning("control API: \(incident.summary)", metadata: metadata)
    }

    /// Logs the counts of suppressed events whose interval is over (all of them when `force`).
    mutating func flush(at now: ContinuousClock.Instant, force: Bool = false) {
        for incident in ControlIncident.allCases {
            guard let count = throttles[incident]!.flush(at: now, force: force) else { continue }
            logger.warning(
                "control API: \(incident.summary): \(count) more not logged (one line per \(ControlServer.describe(throttles[incident]!.interval)))",
                metadata: ["suppressed": "\(count)"])
        }
    }

    /// The earliest moment `flush` has something to log.
    var nextFlush: ContinuousClock.Instant? {
        throttles.values.compactMap(\.nextFlush).min()
    }
}
