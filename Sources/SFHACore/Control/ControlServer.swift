import CSFHAShim
import Dispatch
import Foundation
import Logging
import SFHABase
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Limits, timeouts and the access rule of a `ControlServer`.
public struct ControlServerConfiguration: Sendable {
    /// Permission bits of the socket file; nil: 0600, or 0660 when `socketGroup` is set.
    public var socketMode: mode_t?
    /// Group owner of the socket file (and of its directory when the server creates it).
    public var socketGroup: gid_t?
    /// Which peers may send requests (checked on every connection with `SO_PEERCRED`).
    public var authorization: ControlAuthorization
    /// Connections served at once; one more is answered 503 at once.
    public var maxConcurrentRequests: Int
    /// Time for a client to send its whole request (head and body), from accept.
    public var readTimeout: Duration
    /// Time to write the whole response.
    public var writeTimeout: Duration
    /// Time a handler may take before the request is answered 504 (the handler's task is cancelled).
    public var handlerTimeout: Duration
    /// Request line plus header fields, including the blank line that ends them; beyond → 431.
    public var maxHeaderBytes: Int
    /// Request body; beyond → 413.
    public var maxBodyBytes: Int
    /// listen(2) backlog.
    public var backlog: Int32

    public init(
        socketMode: mode_t? = nil, socketGroup: gid_t? = nil, authorization: ControlAuthorization = .rootOnly,
        maxConcurrentRequests: Int = 16, readTimeout: Duration = .seconds(5), writeTimeout: Duration = .seconds(5),
        handlerTimeout: Duration = .seconds(30), maxHeaderBytes: Int = 16 * 1024, maxBodyBytes: Int = 1024 * 1024,
        backlog: Int32 = 64
    ) {
        self.socketMode = socketMode
        self.socketGroup = socketGroup
        self.authorization = authorization
        self.maxConcurrentRequests = maxConcurrentRequests
        self.readTimeout = readTimeout
        self.writeTimeout = writeTimeout
        self.handlerTimeout = handlerTimeout
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
        self.backlog = backlog
    }

    /// The mode the socket file gets.
    public var effectiveSocketMode: mode_t { socketMode ?? (socketGroup == nil ? 0o600 : 0o660) }
}

/// The sfhad control API server: HTTP/1.1 + JSON on a Unix stream socket (see Docs/Control-API.md).
///
/// One thread accepts; a fixed pool of `maxConcurrentRequests` threads does the blocking socket I/O of one
/// connection each (one request per connection, `Connection: close`), and runs the route's async handler as a
/// task. `start()` refuses to replace a socket another server answers on; `stop()` closes the listener, removes
/// the socket file, and lets requests in progress finish within a grace period.
public final class ControlServer: Sendable {
    public static let defaultSocketPath = "/run/sfha/sfhad.sock"

    public let socketPath: String
    public let router: ControlRouter
    public let configuration: ControlServerConfiguration
    private let logger: Logger

    private enum Phase {
        case created, running, stopping, stopped
    }

    private struct State {
        var phase: Phase = .created
        var wakeWrite: Int32 = -1
        /// dev/ino of the socket file this server bound, so stop() never removes a successor's socket.
        var socketIdentity: (dev: UInt, ino: UInt)?
        /// Accepted connections waiting for a worker; -1 tells a worker to exit.
        var queue: [Int32] = []
        /// Connections queued or being served.
        var connections: [Int32: Connection] = [:]
    }

    /// One connection's coordination between its worker thread, its handler task and stop().
    private final class Connection: Sendable {
        let finished = DispatchSemaphore(value: 0)
        let response = Mutex<ControlResponse?>(nil)
        let task = Mutex<Task<Void, Never>?>(nil)

        func finish(_ value: ControlResponse) {
            response.withLock { $0 = value }
            finished.signal()
        }
    }

    private let state = Mutex(State())
    private let workAvailable = DispatchSemaphore(value: 0)
    private let acceptExited = DispatchSemaphore(value: 0)
    private let workerExited = DispatchSemaphore(value: 0)

    public init(
        socketPath: String = ControlServer.defaultSocketPath, router: ControlRouter,
        configuration: ControlServerConfiguration = ControlServerConfiguration(),
        logger: Logger = Logger(label: "sfha.control")
    ) {
        self.socketPath = socketPath
        self.router = router
        self.configuration = configuration
        self.logger = logger
    }

    public var isRunning: Bool { state.withLock { $0.phase == .running } }

    // MARK: - Start

    /// Binds the socket and starts serving. Throws `exists` when another server answers on the path (or the path
    /// is not a socket), `invalid_argument` for a path too long for a Unix socket, `io` for system failures.
    public func start() throws(SFHAError) {
        try state.withLock { (state: inout State) throws(SFHAError) in
            guard state.phase == .created else {
                throw SFHAError(.invalidState, "the control server on \(socketPath) was already started")
            }
            state.phase = .stopping  // reserved while starting; set to .running below
        }
        do throws(SFHAError) {
            let (listener, identity) = try bindListener()
            var wake: [Int32] = [-1, -1]
            guard sfha_pipe_cloexec(&wake) == 0 else {
                let error = Self.posixError("create the control server's wake-up pipe")
                close(listener)
                removeSocketFile(identity)
                throw error
            }
            state.withLock {
                $0.phase = .running
                $0.wakeWrite = wake[1]
                $0.socketIdentity = identity
            }
            let wakeRead = wake[0]
            Thread.detachNewThread { [self] in
                Thread.current.name = "sfha-control-accept"
                acceptLoop(listener: listener, wake: wakeRead)
            }
            for index in 0..<max(1, configuration.maxConcurrentRequests) {
                Thread.detachNewThread { [self] in
                    Thread.current.name = "sfha-control-\(index)"
                    workerLoop()
                }
            }
            logger.info("control API listening", metadata: ["socket": "\(socketPath)"])
        } catch {
            state.withLock { $0.phase = .created }
            throw error
        }
    }

    private func bindListener() throws(SFHAError) -> (Int32, (dev: UInt, ino: UInt)) {
        try ControlSocket.validate(path: socketPath)
        let directory = Self.parentDirectory(of: socketPath)
        try ensureDirectory(directory)
        try checkExistingSocket()

        let listener = sfha_unix_socket(1)
        guard listener >= 0 else { throw Self.posixError("create a Unix socket") }
        var keep = false
        defer { if !keep { close(listener) } }
        // Bind under a temporary name, set the permissions, listen, then rename into place: the final name never
        // has the wrong mode, and a stale socket file is replaced atomically.
        let base = socketPath.split(separator: "/").last.map(String.init) ?? "sfhad.sock"
        var temporary = (directory == "/" ? "" : directory) + "/.\(base).\(getpid()).\(UInt16.random(in: 0...UInt16.max))"
        if temporary.utf8.count > Int(sfha_unix_path_max()) {
            temporary = socketPath
            if unlink(socketPath) != 0 && errno != ENOENT { throw Self.posixError("remove the stale socket \(socketPath)") }
        }
        unlink(temporary)
        guard sfha_unix_bind(listener, temporary) == 0 else { throw Self.posixError("bind the control socket \(temporary)") }
        var renamed = false
        defer { if !renamed { unlink(temporary) } }
        if let group = configuration.socketGroup, chown(temporary, uid_t.max, group) != 0 {
            throw Self.posixError("set group \(group) on \(temporary)")
        }
        guard chmod(temporary, configuration.effectiveSocketMode) == 0 else {
            throw Self.posixError("set mode \(String(configuration.effectiveSocketMode, radix: 8)) on \(temporary)")
        }
        guard listen(listener, configuration.backlog) == 0 else { throw Self.posixError("listen on \(temporary)") }
        if temporary != socketPath {
            guard rename(temporary, socketPath) == 0 else { throw Self.posixError("rename \(temporary) to \(socketPath)") }
        }
        renamed = true
        var info = stat()
        guard stat(socketPath, &info) == 0 else {
            let error = Self.posixError("stat \(socketPath)")
            unlink(socketPath)
            throw error
        }
        keep = true
        return (listener, (UInt(info.st_dev), UInt(info.st_ino)))
    }

    /// Creates the socket's directory (mode 0750, group `socketGroup`) when missing.
    private func ensureDirectory(_ directory: String) throws(SFHAError) {
        var info = stat()
        if stat(directory, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw SFHAError(.invalidState, "\(directory) exists and is not a directory")
            }
            return
        }
        guard errno == ENOENT else { throw Self.posixError("inspect \(directory)") }
        let parent = Self.parentDirectory(of: directory)
        if parent != directory { try ensureDirectory(parent) }
        guard mkdir(directory, 0o750) == 0 || errno == EEXIST else { throw Self.posixError("create \(directory)") }
        _ = chmod(directory, 0o750)
        if let group = configuration.socketGroup { _ = chown(directory, uid_t.max, group) }
    }

    /// A socket file that nobody answers on is stale and will be replaced; anything else is refused.
    private func checkExistingSocket() throws(SFHAError) {
        var info = stat()
        guard lstat(socketPath, &info) == 0 else {
            if errno == ENOENT { return }
            throw Self.posixError("inspect \(socketPath)")
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw SFHAError(.exists, "\(socketPath) exists and is not a socket; remove it or choose another path")
        }
        let probe = sfha_unix_socket(1)
        guard probe >= 0 else { throw Self.posixError("create a Unix socket") }
        defer { close(probe) }
        if sfha_unix_connect(probe, socketPath) == 0 || errno == EAGAIN {
            throw SFHAError(
                .exists, "another server is already listening on \(socketPath) (is sfhad already running?)")
        }
        switch errno {
        case ECONNREFUSED:
            logger.info("replacing stale control socket", metadata: ["socket": "\(socketPath)"])
        case ENOENT:
            return
        default:
            throw Self.posixError("probe the existing socket \(socketPath)")
        }
    }

    // MARK: - Stop

    /// Stops accepting (the socket file is removed at once), lets requests in progress finish within
    /// `gracePeriod`, then aborts the rest (their connections are shut down, their handler tasks cancelled).
    /// Returns when every worker has finished or gave up. Calling it again, or before `start()`, does nothing.
    public func stop(gracePeriod: Duration = .seconds(5)) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread { [self] in
                stopBlocking(gracePeriod: gracePeriod)
                continuation.resume()
            }
        }
    }

    private func stopBlocking(gracePeriod: Duration) {
        let started: (wake: Int32, identity: (dev: UInt, ino: UInt)?)? = state.withLock { state in
            guard state.phase == .running else { return nil }
            state.phase = .stopping
            return (state.wakeWrite, state.socketIdentity)
        }
        guard let started else { return }
        var byte: UInt8 = 1
        _ = Glibc.write(started.wake, &byte, 1)
        acceptExited.wait()
        close(started.wake)
        removeSocketFile(started.identity)

        let workers = max(1, configuration.maxConcurrentRequests)
        state.withLock { $0.queue.append(contentsOf: repeatElement(-1, count: workers)) }
        for _ in 0..<workers { workAvailable.signal() }

        var exited = 0
        let graceDeadline = DispatchTime.now() + Self.dispatchInterval(gracePeriod)
        while exited < workers, workerExited.wait(timeout: graceDeadline) == .success { exited += 1 }
        if exited < workers {
            let aborted = state.withLock { state in
                for (fd, connection) in state.connections {
                    shutdown(fd, Int32(SHUT_RDWR))
                    connection.task.withLock { $0?.cancel() }
                    connection.finished.signal()
                }
                return state.connections.count
            }
            logger.warning(
                "control API stop: aborted requests still running after the grace period",
                metadata: ["count": "\(aborted)"])
            let abortDeadline = DispatchTime.now() + .seconds(2)
            while exited < workers, workerExited.wait(timeout: abortDeadline) == .success { exited += 1 }
        }
        state.withLock { $0.phase = .stopped }
        logger.info("control API stopped", metadata: ["socket": "\(socketPath)"])
    }

    private func removeSocketFile(_ identity: (dev: UInt, ino: UInt)?) {
        guard let identity else { return }
        var info = stat()
        if lstat(socketPath, &info) == 0, UInt(info.st_dev) == identity.dev, UInt(info.st_ino) == identity.ino {
            unlink(socketPath)
        }
    }

    // MARK: - Accepting

    private func acceptLoop(listener: Int32, wake: Int32) {
        defer {
            close(listener)
            close(wake)
            acceptExited.signal()
        }
        var lastResourceWarning: ContinuousClock.Instant?
        while true {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0), pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                logger.error("control API: poll failed", metadata: ["error": "\(ControlSocket.describe(errno: errno))"])
                return
            }
            if fds[1].revents != 0 { return }
            guard fds[0].revents != 0 else { continue }
            while true {
                let fd = sfha_unix_accept(listener)
                if fd >= 0 {
                    admit(fd)
                    continue
                }
                let error = errno
                if error == EINTR || error == ECONNABORTED { continue }
                if error == EAGAIN || error == EWOULDBLOCK { break }
                // Out of descriptors or memory: say so (at most every 10 s), pause, and keep going.
                let now = ContinuousClock.now
                if lastResourceWarning.map({ now - $0 > .seconds(10) }) ?? true {
                    logger.error("control API: accept failed", metadata: ["error": "\(ControlSocket.describe(errno: error))"])
                    lastResourceWarning = now
                }
                var pause = timespec(tv_sec: 0, tv_nsec: 50_000_000)
                nanosleep(&pause, nil)
                break
            }
        }
    }

    /// Queues the connection for a worker, or answers 503 when every worker is busy.
    private func admit(_ fd: Int32) {
        let limit = max(1, configuration.maxConcurrentRequests)
        let (admitted, running) = state.withLock { state -> (Bool, Bool) in
            guard state.phase == .running else { return (false, false) }
            guard state.connections.count < limit else { return (false, true) }
            state.connections[fd] = Connection()
            state.queue.append(fd)
            return (true, true)
        }
        if admitted {
            workAvailable.signal()
            return
        }
        let busy: ControlResponse
        if running {
            logger.warning("control API busy: refused a connection", metadata: ["limit": "\(limit)"])
            busy = .error(.unavailable, "sfhad is busy (\(limit) control requests in progress); try again shortly")
        } else {
            busy = .error(.unavailable, "sfhad is shutting down")
        }
        // The socket buffer is empty, so this small answer does not block the accept thread.
        _ = ControlSocket.write(fd, ControlHTTP.serialize(busy), until: .now)
        shutdown(fd, Int32(SHUT_WR))
        ControlSocket.discardPending(fd)
        close(fd)
    }

    // MARK: - Serving

    private func workerLoop() {
        defer { workerExited.signal() }
        while true {
            workAvailable.wait()
            let next: (fd: Int32, connection: Connection?)? = state.withLock { state in
                guard !state.queue.isEmpty else { return nil }
                let fd = state.queue.removeFirst()
                return (fd, state.connections[fd])
            }
            guard let next else { continue }
            guard next.fd >= 0 else { return }
            if let connection = next.connection { serve(next.fd, connection) }
            // Unregister before closing, so stop() never shuts down a reused descriptor number.
            state.withLock { _ = $0.connections.removeValue(forKey: next.fd) }
            close(next.fd)
        }
    }

    private func serve(_ fd: Int32, _ connection: Connection) {
        let clock = ContinuousClock()
        let start = clock.now
        let readDeadline = start + configuration.readTimeout
        let peer = ControlSocket.peerCredentials(fd)
        let authorized = peer.map(configuration.authorization.allows) ?? false
        let (outcome, described) = readRequest(fd, peer: peer, authorized: authorized, until: readDeadline)
        let response: ControlResponse
        var includeBody = true
        switch outcome {
        case .closed:
            return
        case .failed(let failure) where !authorized:
            // A stranger learns nothing but "unauthorized", whatever it sent.
            logger.warning(
                "control API: refused an unauthorized peer",
                metadata: ["peer": "\(peer.map(\.description) ?? "unknown (no SO_PEERCRED)")", "request": "\(described)"])
            response = failure.status == ControlStatus.forbidden ? failure.response : Self.forbidden.response
        case .failed(let failure):
            response = failure.response
        case .request(let request, let headOnly):
            response = runHandler(request, connection)
            includeBody = !headOnly
        }
        let written = ControlSocket.write(
            fd, ControlHTTP.serialize(response, includeBody: includeBody), until: clock.now + configuration.writeTimeout)
        shutdown(fd, Int32(SHUT_WR))
        ControlSocket.discardPending(fd)
        let elapsed = clock.now - start
        var metadata: Logger.Metadata = [
            "request": "\(described)", "status": "\(response.status)",
            "ms": "\(Self.milliseconds(elapsed))",
        ]
        if let peer { metadata["peer"] = "\(peer)" }
        if written != .written { metadata["write"] = "\(written)" }
        if response.status >= 500 {
            logger.warning("control request failed", metadata: metadata)
        } else {
            logger.debug("control request", metadata: metadata)
        }
    }

    private enum ReadOutcome {
        case closed
        case failed(ControlHTTPFailure)
        /// `headOnly`: a HEAD request, routed as GET and answered without the body.
        case request(ControlRequest, headOnly: Bool)
    }

    /// Reads and checks one request. The second value names it for the log (`GET /v1/status`, or `-`).
    private func readRequest(
        _ fd: Int32, peer: PeerCredentials?, authorized: Bool, until deadline: ContinuousClock.Instant
    ) -> (ReadOutcome, String) {
        let limits = configuration
        var buffer: [UInt8] = []
        buffer.reserveCapacity(4096)
        var headEnd: Int?
        while headEnd == nil {
            let before = buffer.count
            switch ControlSocket.read(fd, into: &buffer, limit: 16 * 1024, until: deadline) {
            case .data:
                headEnd = ControlHTTP.headEnd(in: buffer, from: before - 3)
                if (headEnd ?? buffer.count) > limits.maxHeaderBytes {
                    return (.failed(ControlHTTPFailure(
                        ControlStatus.headerFieldsTooLarge, .invalidArgument,
                        "request header larger than \(limits.maxHeaderBytes) bytes")), "-")
                }
            case .endOfFile:
                if buffer.isEmpty { return (.closed, "-") }  // a probe (another server checking), or a client that gave up
                return (.failed(ControlHTTPFailure(
                    ControlStatus.badRequest, .invalidArgument, "connection closed before the request was complete")), "-")
            case .timedOut:
                return (.failed(ControlHTTPFailure(
                    ControlStatus.requestTimeout, .timeout,
                    "no complete request within \(Self.describe(limits.readTimeout))")), "-")
            case .failed:
                return (.closed, "-")
            }
        }
        let bodyStart = headEnd!
        let parsedHead = Result { () throws(ControlHTTPFailure) in try ControlHTTP.parseRequestHead(buffer[0..<bodyStart]) }
        let described = (try? parsedHead.get()).map { "\($0.method) \($0.target.prefix(200))" } ?? "-"

        // Authorization comes before anything else is looked at.
        guard let peer, authorized else { return (.failed(Self.forbidden), described) }
        let head: ControlHTTP.RequestHead
        let target: ControlHTTP.Target
        let length: Int
        do throws(ControlHTTPFailure) {
            head = try parsedHead.get()
            target = try ControlHTTP.parseTarget(head.target)
            length = try ControlHTTP.requestBodyLength(head.headers, limit: limits.maxBodyBytes)
        } catch {
            return (.failed(error), described)
        }
        if length > 0, buffer.count - bodyStart < length, head.headers["expect"]?.lowercased() == "100-continue" {
            _ = ControlSocket.write(fd, ControlHTTP.continueResponse, until: ContinuousClock.now + limits.writeTimeout)
        }
        while buffer.count - bodyStart < length {
            let missing = length - (buffer.count - bodyStart)
            switch ControlSocket.read(fd, into: &buffer, limit: min(missing, 64 * 1024), until: deadline) {
            case .data:
                continue
            case .endOfFile, .failed:
                return (.failed(ControlHTTPFailure(
                    ControlStatus.badRequest, .invalidArgument,
                    "connection closed after \(buffer.count - bodyStart) of \(length) body bytes")), described)
            case .timedOut:
                return (.failed(ControlHTTPFailure(
                    ControlStatus.requestTimeout, .timeout,
                    "request body not received within \(Self.describe(limits.readTimeout))")), described)
            }
        }
        let headOnly = head.method == "HEAD"
        let request = ControlRequest(
            method: headOnly ? "GET" : head.method, path: target.path, query: target.query, headers: head.headers,
            body: Array(buffer[bodyStart..<(bodyStart + length)]), peer: peer)
        return (.request(request, headOnly: headOnly), described)
    }

    /// Runs the route as a task and waits (on this worker thread) for its answer, at most `handlerTimeout`.
    private func runHandler(_ request: ControlRequest, _ connection: Connection) -> ControlResponse {
        let router = self.router
        let task = Task {
            connection.finish(await router.respond(to: request))
        }
        connection.task.withLock { $0 = task }
        let deadline = DispatchTime.now() + Self.dispatchInterval(configuration.handlerTimeout)
        if connection.finished.wait(timeout: deadline) == .timedOut {
            task.cancel()
            return .error(
                .timeout, "sfhad did not finish \(request.method) \(request.path) within \(Self.describe(configuration.handlerTimeout))")
        }
        return connection.response.withLock { $0 }
            ?? .error(.unavailable, "sfhad is shutting down; \(request.method) \(request.path) was interrupted")
    }

    // MARK: - Helpers

    private static let forbidden = ControlHTTPFailure(
        ControlStatus.forbidden, .unauthorized,
        "permission denied: the sfhad control socket only accepts authorized users (root)")

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    static func posixError(_ action: String) -> SFHAError {
        let code = errno
        return SFHAError(code == EACCES || code == EPERM ? .unauthorized : .io, "could not \(action): \(ControlSocket.describe(errno: code))")
    }

    static func dispatchInterval(_ duration: Duration) -> DispatchTimeInterval {
        let (seconds, attoseconds) = duration.components
        let milliseconds = seconds.multipliedReportingOverflow(by: 1000)
        guard !milliseconds.overflow, milliseconds.partialValue < Int64(Int32.max) else { return .seconds(Int(Int32.max)) }
        return .milliseconds(Int(max(0, milliseconds.partialValue + attoseconds / 1_000_000_000_000_000)))
    }

    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let micros = seconds * 1_000_000 + attoseconds / 1_000_000_000_000
        return "\(micros / 1000).\(String(micros % 1000 + 1000).dropFirst())"
    }

    static func describe(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        if attoseconds == 0 { return "\(seconds) s" }
        return "\(seconds * 1000 + attoseconds / 1_000_000_000_000_000) ms"
    }
}
