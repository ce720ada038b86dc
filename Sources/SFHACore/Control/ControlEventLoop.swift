import CSFHAShim
import Foundation
import Logging
import SFHABase

#if canImport(Glibc)
import Glibc
#endif

/// One connection as the event loop sees it. Owned by the loop's thread.
private final class ControlConnection {
    enum Stage {
        /// Receiving the request.
        case reading
        /// The request's handler runs as a task; its answer arrives through `ControlServer.deliver`.
        case handling(Handling)
        /// Sending the answer.
        case writing(Writing)
    }

    struct Handling {
        var task: Task<Void, Never>
        var deadline: ContinuousClock.Instant
        var priority: Bool
        var method: String
        var path: String
        var headOnly: Bool
    }

    struct Writing {
        var bytes: [UInt8]
        var offset = 0
        var deadline: ContinuousClock.Instant
        var status: Int
        /// What to warn about once the answer is written (nil: an ordinary answer).
        var incident: ControlIncident?
    }

    struct Head {
        var request: ControlHTTP.RequestHead
        var target: ControlHTTP.Target
        /// Index of the first body byte in `buffer`.
        var bodyStart: Int
        var bodyLength: Int
    }

    let id: UInt64
    let fd: Int32
    let acceptedAt: ContinuousClock.Instant
    let peer: PeerCredentials?
    let authorized: Bool
    var lastReceived: ContinuousClock.Instant
    var buffer: [UInt8] = []
    /// How far `buffer` was searched for the end of the head.
    var scanned = 0
    var head: Head?
    /// `GET /v1/status` (the request line, for the log), or `-` before it is known.
    var described = "-"
    var stage = Stage.reading

    init(id: UInt64, fd: Int32, now: ContinuousClock.Instant, peer: PeerCredentials?, authorized: Bool) {
        self.id = id
        self.fd = fd
        self.acceptedAt = now
        self.lastReceived = now
        self.peer = peer
        self.authorized = authorized
    }

    var isHandling: Bool {
        if case .handling = stage { return true }
        return false
    }
}

/// The control server's only thread. Every socket is non-blocking and waited for with poll(2), so a client that
/// sends slowly, or nothing, costs a connection slot and never a thread; every connection has deadlines (idle,
/// whole request, handler, write) that the loop enforces itself. Handlers run as tasks and hand their answer back
/// through `ControlServer.deliver`, which wakes the loop through a pipe.
///
/// Why this design: with a thread per connection, a few idle clients were enough to take every thread and
/// starve `sfha status`. Here reading costs nothing, priority requests (status, metrics, logs) have handler slots
/// that ordinary requests cannot take, and a full connection table makes room by cutting its oldest connection
/// that is not waiting for a handler — so a status request is always read and answered.
final class ControlEventLoop {
    /// Bytes read at once while the head is incomplete, and of a body.
    private static let headReadChunk = 16 * 1024
    private static let bodyReadChunk = 64 * 1024
    /// After stop()'s grace period, aborted requests get this long to have their 503 written.
    private static let abortWriteTimeout: Duration = .seconds(1)
    /// After accept(2) failed for lack of descriptors or memory, the listener rests this long...
    private static let acceptFailurePause: Duration = .milliseconds(50)
    /// ... and the failure is logged at most this often.
    private static let acceptFailureLogInterval: Duration = .seconds(10)

    private let server: ControlServer
    private let configuration: ControlServerConfiguration
    private let logger: Logger
    private var listener: Int32
    private let wake: Int32
    private var connections: [UInt64: ControlConnection] = [:]
    private var lastID: UInt64 = 0
    private var runningOrdinary = 0
    private var runningPriority = 0
    private var incidents: ControlIncidentLog
    private var stopDeadline: ContinuousClock.Instant?
    private var aborted = false
    private var acceptPausedUntil: ContinuousClock.Instant?
    private var acceptFailureLog: ControlLogThrottle
    private var publishedConnections = 0

    init(server: ControlServer, listener: Int32, wake: Int32) {
        self.server = server
        self.configuration = server.configuration
        self.logger = server.logger
        self.listener = listener
        self.wake = wake
        incidents = ControlIncidentLog(logger: server.logger, interval: server.configuration.incidentLogInterval)
        acceptFailureLog = ControlLogThrottle(interval: Self.acceptFailureLogInterval)
    }

    private var ordinaryLimit: Int { max(1, configuration.maxConcurrentRequests) }
    private var handlerLimit: Int { ordinaryLimit + max(0, configuration.reservedPriorityRequests) }

    // MARK: - Loop

    func run() {
        while true {
            var polls = [pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
            let listening = listener >= 0 && acceptPausedUntil == nil
            if listening { polls.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0)) }
            var polled: [UInt64] = []
            for connection in connections.values {
                switch connection.stage {
                case .reading:
                    polls.append(pollfd(fd: connection.fd, events: Int16(POLLIN), revents: 0))
                case .writing:
                    polls.append(pollfd(fd: connection.fd, events: Int16(POLLOUT), revents: 0))
                case .handling:
                    continue
                }
                polled.append(connection.id)
            }
            let ready = poll(&polls, nfds_t(polls.count), ControlSocket.pollTimeout(until: nextDeadline()))
            if ready < 0 && errno != EINTR {
                logger.critical("control API: poll failed; the control socket stops answering", metadata: [
                    "error": "\(ControlSocket.describe(errno: errno))"])
                abortEverything(ContinuousClock.now)
                break
            }
            var now = ContinuousClock.now
            if polls[0].revents != 0 { drainWakePipe() }
            takeHandOffs(now)
            // Existing connections first: a descriptor closed here and reused by accept below is never mistaken
            // for the old connection, because events are matched by connection id.
            let offset = listening ? 2 : 1
            for (index, id) in polled.enumerated() where ready > 0 && polls[offset + index].revents != 0 {
                guard let connection = connections[id] else { continue }
                switch connection.stage {
                case .reading: receive(connection, now)
                case .writing: send(connection, now)
                case .handling: break
                }
            }
            // The listener may have been closed above (stop).
            if listening, listener >= 0, ready > 0, polls[1].revents != 0 { acceptAll(now) }
            now = ContinuousClock.now
            if let paused = acceptPausedUntil, now >= paused { acceptPausedUntil = nil }
            enforceDeadlines(now)
            if let stopDeadline, !aborted, now >= stopDeadline { abortEverything(now) }
            incidents.flush(at: now)
            publishConnectionCount()
            if listener < 0 && connections.isEmpty { break }
        }
        finish()
    }

    /// The earliest moment something times out.
    private func nextDeadline() -> ContinuousClock.Instant? {
        var next = incidents.nextFlush
        func consider(_ instant: ContinuousClock.Instant?) {
            guard let instant else { return }
            next = min(next ?? instant, instant)
        }
        consider(acceptPausedUntil)
        if !aborted { consider(stopDeadline) }
        for connection in connections.values {
            switch connection.stage {
            case .reading: consider(readingDeadline(connection))
            case .handling(let handling): consider(handling.deadline)
            case .writing(let writing): consider(writing.deadline)
            }
        }
        return next
    }

    private func readingDeadline(_ connection: ControlConnection) -> ContinuousClock.Instant {
        min(connection.acceptedAt + configuration.readTimeout, connection.lastReceived + configuration.idleTimeout)
    }

    private func drainWakePipe() {
        var scratch = [UInt8](repeating: 0, count: 64)
        while scratch.withUnsafeMutableBytes({ Glibc.read(wake, $0.baseAddress, $0.count) }) > 0 {}
    }

    /// Handlers' answers, and stop().
    private func takeHandOffs(_ now: ContinuousClock.Instant) {
        let (finished, stopping, deadline) = server.state.withLock { state in
            state.wakePending = false
            defer { state.finished = [] }
            return (state.finished, state.phase == .stopping, state.stopDeadline)
        }
        for (id, response) in finished {
            guard let connection = connections[id], case .handling(let handling) = connection.stage else { continue }
            handlerFinished(connection, handling, response, now)
        }
        if stopping && listener >= 0 {
            Glibc.close(listener)
            listener = -1
            server.removeSocketFile(server.state.withLock { $0.socketIdentity })
            stopDeadline = deadline
        }
    }

    private func finish() {
        // Only left behind when poll(2) itself failed.
        for connection in Array(connections.values) { closeConnection(connection) }
        incidents.flush(at: .now, force: true)
        Glibc.close(wake)
        let waiters = server.state.withLock { state in
            Glibc.close(state.wakeWrite)
            state.wakeWrite = -1
            state.phase = .stopped
            state.openConnections = 0
            defer { state.stopWaiters = [] }
            return state.stopWaiters
        }
        logger.info("control API stopped", metadata: ["socket": "\(server.socketPath)"])
        for waiter in waiters { waiter.resume() }
    }

    private func publishConnectionCount() {
        guard publishedConnections != connections.count else { return }
        publishedConnections = connections.count
        let count = publishedConnections
        server.state.withLock { $0.openConnections = count }
    }

    // MARK: - Accepting

    private func acceptAll(_ now: ContinuousClock.Instant) {
        // At most a table's worth per round, so a flood of connections cannot keep the loop from the others.
        for _ in 0..<max(1, configuration.maxConnections) {
            let fd = sfha_unix_accept(listener)
            if fd >= 0 {
                // Its own instant: `now` may predate this connection, and its deadlines count from its accept.
                admit(fd, .now)
                continue
            }
            let error = errno
            if error == EINTR || error == ECONNABORTED { continue }
            if error == EAGAIN || error == EWOULDBLOCK { return }
            // Out of descriptors or memory: say so (rate-limited), rest the listener a moment, and keep going.
            if acceptFailureLog.admit(at: now) != nil {
                logger.error("control API: accept failed", metadata: ["error": "\(ControlSocket.describe(errno: error))"])
            }
            acceptPausedUntil = now + Self.acceptFailurePause
            return
        }
    }

    private func admit(_ fd: Int32, _ now: ContinuousClock.Instant) {
        let peer = ControlSocket.peerCredentials(fd)
        lastID += 1
        let connection = ControlConnection(
            id: lastID, fd: fd, now: now, peer: peer, authorized: peer.map(configuration.authorization.allows) ?? false)
        let limit = max(1, configuration.maxConnections)
        if connections.count >= limit {
            // Connection ids grow with time: the smallest is the oldest.
            let victim = connections.values.filter { !$0.isHandling }.min { $0.id < $1.id }
            let message = "sfhad has too many open control connections (\(limit))"
            if let victim {
                answerAndClose(
                    victim, .error(.unavailable, "\(message); this one, the oldest not being served, was closed to make room"),
                    incident: .tooManyConnections, now)
            } else {
                connections[connection.id] = connection
                answerAndClose(
                    connection, .error(.unavailable, "\(message), all of them being served; try again shortly"),
                    incident: .tooManyConnections, now)
                return
            }
        }
        connections[connection.id] = connection
    }

    // MARK: - Reading

    private func receive(_ connection: ControlConnection, _ now: ContinuousClock.Instant) {
        let limit: Int
        if let head = connection.head {
            let missing = head.bodyLength - (connection.buffer.count - head.bodyStart)
            limit = min(max(1, missing), Self.bodyReadChunk)
        } else {
            limit = Self.headReadChunk
        }
        switch ControlSocket.readAvailable(connection.fd, into: &connection.buffer, limit: limit) {
        case .transferred:
            connection.lastReceived = now
            advance(connection, now)
        case .wouldBlock:
            return
        case .endOfFile:
            if connection.buffer.isEmpty {
                closeConnection(connection)  // a probe (another server checking), or a client that gave up
            } else if let head = connection.head {
                fail(connection, ControlHTTPFailure(
                    ControlStatus.badRequest, .invalidArgument,
                    "connection closed after \(connection.buffer.count - head.bodyStart) of \(head.bodyLength) body bytes"), now)
            } else {
                fail(connection, ControlHTTPFailure(
                    ControlStatus.badRequest, .invalidArgument, "connection closed before the request was complete"), now)
            }
        case .failed:
            closeConnection(connection)
        }
    }

    /// Parses what arrived; dispatches the request once it is complete.
    private func advance(_ connection: ControlConnection, _ now: ContinuousClock.Instant) {
        if connection.head == nil {
            let end = ControlHTTP.headEnd(in: connection.buffer, from: connection.scanned - 3)
            connection.scanned = connection.buffer.count
            if (end ?? connection.buffer.count) > configuration.maxHeaderBytes {
                fail(connection, ControlHTTPFailure(
                    ControlStatus.headerFieldsTooLarge, .invalidArgument,
                    "request header larger than \(configuration.maxHeaderBytes) bytes"), now)
                return
            }
            guard let end else { return }
            let parsed = Result { () throws(ControlHTTPFailure) in try ControlHTTP.parseRequestHead(connection.buffer[0..<end]) }
            if let head = try? parsed.get() { connection.described = "\(head.method) \(head.target.prefix(200))" }
            // Authorization comes before anything else is looked at.
            guard connection.authorized else {
                fail(connection, ControlServer.forbidden, now)
                return
            }
            do throws(ControlHTTPFailure) {
                let head = try parsed.get()
                let target = try ControlHTTP.parseTarget(head.target)
                let length = try ControlHTTP.requestBodyLength(head.headers, limit: configuration.maxBodyBytes)
                connection.head = ControlConnection.Head(request: head, target: target, bodyStart: end, bodyLength: length)
                if length > 0, connection.buffer.count - end < length, head.headers["expect"]?.lowercased() == "100-continue" {
                    // A fresh socket's send buffer takes these few bytes at once.
                    _ = ControlSocket.writeAvailable(connection.fd, ControlHTTP.continueResponse, from: 0)
                }
            } catch {
                fail(connection, error, now)
                return
            }
        }
        guard let head = connection.head, connection.buffer.count - head.bodyStart >= head.bodyLength else { return }
        dispatch(connection, head, now)
    }

    /// Answers a request that cannot be served. A peer that is not authorized learns nothing but "unauthorized".
    private func fail(_ connection: ControlConnection, _ failure: ControlHTTPFailure, _ now: ContinuousClock.Instant) {
        let incident: ControlIncident
        let response: ControlResponse
        if !connection.authorized {
            incident = .unauthorized
            response = ControlServer.forbidden.response
        } else {
            incident = failure.status == ControlStatus.requestTimeout ? .tooSlow : .malformed
            response = failure.response
        }
        respond(connection, response, incident: incident, now)
    }

    // MARK: - Handling

    private func dispatch(_ connection: ControlConnection, _ head: ControlConnection.Head, _ now: ContinuousClock.Instant) {
        let headOnly = head.request.method == "HEAD"
        let method = headOnly ? "GET" : head.request.method
        var path = head.target.path
        if path.count > 1, path.hasSuffix("/") { path.removeLast() }
        let priority = method == "GET" && configuration.priorityPaths.contains(path)
        let running = runningOrdinary + runningPriority
        guard running < handlerLimit, priority || runningOrdinary < ordinaryLimit else {
            respond(
                connection,
                .error(.unavailable, "sfhad is busy (\(running) control requests in progress); try again shortly"),
                incident: .busy, now)
            return
        }
        guard let peer = connection.peer else {
            fail(connection, ControlServer.forbidden, now)
            return
        }
        let request = ControlRequest(
            method: method, path: head.target.path, query: head.target.query, headers: head.request.headers,
            body: Array(connection.buffer[head.bodyStart..<(head.bodyStart + head.bodyLength)]), peer: peer)
        connection.buffer = []
        let server = self.server
        let id = connection.id
        let task = Task { server.deliver(await server.router.respond(to: request), to: id) }
        if priority { runningPriority += 1 } else { runningOrdinary += 1 }
        connection.stage = .handling(ControlConnection.Handling(
            task: task, deadline: now + configuration.handlerTimeout, priority: priority, method: method,
            path: request.path, headOnly: headOnly))
    }

    private func handlerFinished(
        _ connection: ControlConnection, _ handling: ControlConnection.Handling, _ response: ControlResponse,
        _ now: ContinuousClock.Instant
    ) {
        if handling.priority { runningPriority -= 1 } else { runningOrdinary -= 1 }
        respond(
            connection, response, includeBody: !handling.headOnly,
            incident: response.status >= ControlStatus.internalServerError ? .requestFailed : nil, now)
    }

    // MARK: - Writing

    private func respond(
        _ connection: ControlConnection, _ response: ControlResponse, includeBody: Bool = true,
        incident: ControlIncident?, _ now: ContinuousClock.Instant, writeTimeout: Duration? = nil
    ) {
        connection.stage = .writing(ControlConnection.Writing(
            bytes: ControlHTTP.serialize(response, includeBody: includeBody),
            deadline: now + (writeTimeout ?? configuration.writeTimeout), status: response.status, incident: incident))
        send(connection, now)
    }

    /// Writes what the socket takes now; done when all is written.
    private func send(_ connection: ControlConnection, _ now: ContinuousClock.Instant) {
        guard case .writing(var writing) = connection.stage else { return }
        switch ControlSocket.writeAvailable(connection.fd, writing.bytes, from: writing.offset) {
        case .transferred(let count):
            writing.offset += count
        case .wouldBlock, .endOfFile:
            break
        case .failed(let error):
            complete(connection, writing, outcome: .failed(error), now)
            return
        }
        if writing.offset >= writing.bytes.count {
            complete(connection, writing, outcome: .written, now)
        } else {
            connection.stage = .writing(writing)
        }
    }

    /// Answers with what the socket takes at once, and closes: for connections that get no more time.
    private func answerAndClose(
        _ connection: ControlConnection, _ response: ControlResponse, incident: ControlIncident,
        _ now: ContinuousClock.Instant
    ) {
        if case .handling(let handling) = connection.stage {
            handling.task.cancel()
            if handling.priority { runningPriority -= 1 } else { runningOrdinary -= 1 }
        }
        if case .writing(let writing) = connection.stage {
            complete(connection, writing, outcome: .timedOut, now, incident: incident)
            return
        }
        respond(connection, response, incident: incident, now)
        if isOpen(connection), case .writing(let writing) = connection.stage {
            complete(connection, writing, outcome: .timedOut, now)
        }
    }

    private func isOpen(_ connection: ControlConnection) -> Bool { connections[connection.id] === connection }

    /// The answer is written (or given up on): logs the request and closes the connection.
    private func complete(
        _ connection: ControlConnection, _ writing: ControlConnection.Writing, outcome: ControlSocket.WriteOutcome,
        _ now: ContinuousClock.Instant, incident: ControlIncident? = nil
    ) {
        shutdown(connection.fd, Int32(SHUT_WR))
        ControlSocket.discardPending(connection.fd)
        closeConnection(connection)
        var metadata: Logger.Metadata = [
            "request": "\(connection.described)", "status": "\(writing.status)",
            "ms": "\(ControlServer.milliseconds(now - connection.acceptedAt))",
        ]
        metadata["peer"] = "\(connection.peer.map(\.description) ?? "unknown (no SO_PEERCRED)")"
        if outcome != .written { metadata["write"] = "\(outcome)" }
        if let incident = incident ?? writing.incident {
            incidents.record(incident, at: now, metadata: metadata)
        } else if outcome == .timedOut {
            incidents.record(.slowReader, at: now, metadata: metadata)
        } else {
            logger.debug("control request", metadata: metadata)
        }
    }

    private func closeConnection(_ connection: ControlConnection) {
        // Unregister before closing: the descriptor number may be reused by the next accept.
        connections[connection.id] = nil
        Glibc.close(connection.fd)
    }

    // MARK: - Deadlines

    private func enforceDeadlines(_ now: ContinuousClock.Instant) {
        for connection in Array(connections.values) where isOpen(connection) {
            switch connection.stage {
            case .reading:
                if now >= connection.acceptedAt + configuration.readTimeout {
                    let what = connection.head == nil ? "no complete request" : "request body not received"
                    fail(connection, ControlHTTPFailure(
                        ControlStatus.requestTimeout, .timeout,
                        "\(what) within \(ControlServer.describe(configuration.readTimeout))"), now)
                } else if now >= connection.lastReceived + configuration.idleTimeout {
                    fail(connection, ControlHTTPFailure(
                        ControlStatus.requestTimeout, .timeout,
                        "nothing received for \(ControlServer.describe(configuration.idleTimeout)); send the whole request at once"),
                        now)
                }
            case .handling(let handling):
                guard now >= handling.deadline else { continue }
                handling.task.cancel()
                handlerFinished(
                    connection, handling,
                    .error(.timeout, "sfhad did not finish \(handling.method) \(handling.path) within \(ControlServer.describe(configuration.handlerTimeout))"),
                    now)
            case .writing(let writing):
                if now >= writing.deadline { complete(connection, writing, outcome: .timedOut, now) }
            }
        }
    }

    /// stop()'s grace period is over (or the loop cannot go on): handlers are cancelled and their clients answered
    /// 503, clients still sending are cut, answers get `abortWriteTimeout` more.
    private func abortEverything(_ now: ContinuousClock.Instant) {
        aborted = true
        if listener >= 0 {
            Glibc.close(listener)
            listener = -1
            server.removeSocketFile(server.state.withLock { $0.socketIdentity })
        }
        var interrupted = 0
        for connection in Array(connections.values) {
            switch connection.stage {
            case .reading:
                closeConnection(connection)
            case .handling(let handling):
                interrupted += 1
                handling.task.cancel()
                if handling.priority { runningPriority -= 1 } else { runningOrdinary -= 1 }
                respond(
                    connection,
                    .error(.unavailable, "sfhad is shutting down; \(handling.method) \(handling.path) was interrupted"),
                    incident: nil, now, writeTimeout: Self.abortWriteTimeout)
            case .writing(var writing):
                writing.deadline = min(writing.deadline, now + Self.abortWriteTimeout)
                connection.stage = .writing(writing)
            }
        }
        if interrupted > 0 {
            logger.warning(
                "control API stop: aborted requests still running after the grace period", metadata: ["count": "\(interrupted)"])
        }
    }
}
