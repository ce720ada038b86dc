import CSFHAShim
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
    /// Handlers of ordinary requests running at once; one more is answered 503 ("busy") at once.
    public var maxConcurrentRequests: Int
    /// Handler slots beyond `maxConcurrentRequests` that only priority requests (`priorityPaths`) may use, so a
    /// status is served even while ordinary requests take every other slot.
    public var reservedPriorityRequests: Int
    /// Paths whose GET (and HEAD) requests are priority requests: cheap, read-only, and what an operator or a
    /// monitor needs most when something is wrong.
    public var priorityPaths: Set<String>
    /// Connections open at once (sending their request, waiting for their handler, or reading their answer). A
    /// connection beyond it takes the place of the oldest one that is not waiting for its handler (that one is
    /// answered 503 and closed), so no crowd of idle or slow clients can lock the others out.
    public var maxConnections: Int
    /// A connection that sends nothing for this long is answered 408 and closed. There is no keep-alive (one
    /// request per connection), so a silent connection only holds a slot.
    public var idleTimeout: Duration
    /// Time for a client to send its whole request (head and body), from accept; beyond → 408.
    public var readTimeout: Duration
    /// Time to write the whole response; beyond, the connection is closed.
    public var writeTimeout: Duration
    /// Time a handler may take before the request is answered 504 (the handler's task is cancelled).
    public var handlerTimeout: Duration
    /// `handlerTimeout` unless configured otherwise; `ControlClient.defaultTimeout` is derived from it.
    public static let defaultHandlerTimeout: Duration = .seconds(30)
    /// Request line plus header fields, including the blank line that ends them; beyond → 431.
    public var maxHeaderBytes: Int
    /// Request body; beyond → 413.
    public var maxBodyBytes: Int
    /// listen(2) backlog.
    public var backlog: Int32
    /// At most one warning of each kind (busy, unauthorized, malformed, too slow, …) per interval; the ones in
    /// between are counted, and their number is logged once the interval is over.
    public var incidentLogInterval: Duration

    public init(
        socketMode: mode_t? = nil, socketGroup: gid_t? = nil, authorization: ControlAuthorization = .rootOnly,
        maxConcurrentRequests: Int = 16, reservedPriorityRequests: Int = 4,
        priorityPaths: Set<String> = ["/v1/status", "/v1/logs", "/metrics"], maxConnections: Int = 128,
        idleTimeout: Duration = .seconds(1), readTimeout: Duration = .seconds(2), writeTimeout: Duration = .seconds(5),
        handlerTimeout: Duration = ControlServerConfiguration.defaultHandlerTimeout, maxHeaderBytes: Int = 16 * 1024, maxBodyBytes: Int = 1024 * 1024,
        backlog: Int32 = 128, incidentLogInterval: Duration = .seconds(10)
    ) {
        self.socketMode = socketMode
        self.socketGroup = socketGroup
        self.authorization = authorization
        self.maxConcurrentRequests = maxConcurrentRequests
        self.reservedPriorityRequests = reservedPriorityRequests
        self.priorityPaths = priorityPaths
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
        self.readTimeout = readTimeout
        self.writeTimeout = writeTimeout
        self.handlerTimeout = handlerTimeout
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
        self.backlog = backlog
        self.incidentLogInterval = incidentLogInterval
    }

    /// The mode the socket file gets.
    public var effectiveSocketMode: mode_t { socketMode ?? (socketGroup == nil ? 0o600 : 0o660) }
}

/// The sfhad control API server: HTTP/1.1 + JSON on a Unix stream socket (see Docs/Control-API.md).
///
/// One thread runs an event loop (`ControlEventLoop`): it accepts, reads requests and writes answers with
/// non-blocking sockets and poll(2), and enforces every deadline. Handlers run as tasks. A client that is slow, idle
/// or silent therefore holds nothing but a connection slot (and loses it at its deadline, or to a newer connection
/// when the slots run out), never a thread; and priority requests (`GET /v1/status`, …) have handler slots of their
/// own. Together: a status request is answered whatever other clients do.
///
/// `start()` refuses to replace a socket another server answers on; `stop()` closes the listener, removes the socket
/// file, and lets requests in progress finish within a grace period.
public final class ControlServer: Sendable {
    public static let defaultSocketPath = "/run/sfha/sfhad.sock"

    public let socketPath: String
    public let router: ControlRouter
    public let configuration: ControlServerConfiguration
    let logger: Logger

    enum Phase {
        case created, starting, running, stopping, stopped
    }

    struct SocketIdentity {
        var device: UInt
        var inode: UInt
    }

    /// What the event loop shares with the rest of the process.
    struct State {
        var phase: Phase = .created
        /// Write end of the event loop's wake-up pipe; -1 when there is no loop.
        var wakeWrite: Int32 = -1
        /// A wake-up byte is in the pipe and not yet seen by the loop (one is enough).
        var wakePending = false
        /// dev/ino of the socket file this server bound, so stop() never removes a successor's socket.
        var socketIdentity: SocketIdentity?
        /// When requests still in progress at stop() are aborted.
        var stopDeadline: ContinuousClock.Instant?
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
        /// Answers of handlers that finished, by connection, for the loop to send.
        var finished: [(connection: UInt64, response: ControlResponse)] = []
        /// Connections the loop has open (for diagnostics and tests).
        var openConnections = 0
    }

    let state = Mutex(State())

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

    /// Connections open right now.
    var openConnectionCount: Int { state.withLock { $0.openConnections } }

    // MARK: - Start

    /// Binds the socket and starts serving. Throws `exists` when another server answers on the path (or the path
    /// is not a socket), `invalid_argument` for a path too long for a Unix socket, `io` for system failures.
    public func start() throws(SFHAError) {
        try state.withLock { (state: inout State) throws(SFHAError) in
            guard state.phase == .created else {
                throw SFHAError(.invalidState, "the control server on \(socketPath) was already started")
            }
            state.phase = .starting
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
            // Both ends non-blocking: the loop drains the pipe without waiting, and a full pipe already means "wake up".
            for fd in wake { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
            state.withLock {
                $0.phase = .running
                $0.wakeWrite = wake[1]
                $0.socketIdentity = identity
            }
            let wakeRead = wake[0]
            Thread.detachNewThread { [self] in
                Thread.current.name = "sfha-control"
                ControlEventLoop(server: self, listener: listener, wake: wakeRead).run()
            }
            logger.info("control API listening", metadata: ["socket": "\(socketPath)"])
        } catch {
            state.withLock { $0.phase = .created }
            throw error
        }
    }

    private func bindListener() throws(SFHAError) -> (Int32, SocketIdentity) {
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
        return (listener, SocketIdentity(device: UInt(info.st_dev), inode: UInt(info.st_ino)))
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
    /// `gracePeriod`, then aborts the rest (their handler tasks are cancelled, their clients answered 503).
    /// Returns when every connection is closed. Calling it again waits for the same stop; before `start()` it does
    /// nothing.
    public func stop(gracePeriod: Duration = .seconds(5)) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                switch state.phase {
                case .running:
                    state.phase = .stopping
                    state.stopDeadline = .now + gracePeriod
                    state.stopWaiters.append(continuation)
                    return false
                case .stopping:
                    state.stopWaiters.append(continuation)
                    return false
                case .created, .starting, .stopped:
                    return true
                }
            }
            if resumeNow {
                continuation.resume()
            } else {
                wakeLoop()
            }
        }
    }

    func removeSocketFile(_ identity: SocketIdentity?) {
        guard let identity else { return }
        var info = stat()
        if lstat(socketPath, &info) == 0, UInt(info.st_dev) == identity.device, UInt(info.st_ino) == identity.inode {
            unlink(socketPath)
        }
    }

    // MARK: - Event loop hand-offs

    /// Wakes the event loop (from a handler task or stop()). The write happens under the lock, so it never hits a
    /// descriptor the loop closed and the kernel reused.
    func wakeLoop() {
        state.withLock { state in
            guard state.wakeWrite >= 0, !state.wakePending else { return }
            state.wakePending = true
            var byte: UInt8 = 1
            _ = Glibc.write(state.wakeWrite, &byte, 1)
        }
    }

    /// A handler's answer, for the event loop to send on `connection`.
    func deliver(_ response: ControlResponse, to connection: UInt64) {
        let accepted = state.withLock { state -> Bool in
            guard state.phase == .running || state.phase == .stopping else { return false }
            state.finished.append((connection, response))
            return true
        }
        if accepted { wakeLoop() }
    }

    // MARK: - Helpers

    static let forbidden = ControlHTTPFailure(
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
