import CSFHAShim
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What a finished program returned.
public struct ProgramResult: Sendable, Equatable {
    public var exitCode: Int32
    public var standardOutput: String
    public var standardError: String
    /// True when the program was killed because it ran past its time limit.
    public var timedOut: Bool

    public init(exitCode: Int32, standardOutput: String = "", standardError: String = "", timedOut: Bool = false) {
        self.exitCode = exitCode
        self.standardOutput = standardOutput
        self.standardError = standardError
        self.timedOut = timedOut
    }

    public var succeeded: Bool { exitCode == 0 && !timedOut }
}

/// Runs programs. Always an executable plus an argument array: sfha never builds shell command strings.
/// Secrets travel on standard input (`input`), never in the arguments.
public protocol ProgramRunner: Sendable {
    func run(_ executable: String, _ arguments: [String], input: [UInt8]?, timeout: Duration?) async throws(SFHAError)
        -> ProgramResult
}

extension ProgramRunner {
    public func run(_ executable: String, _ arguments: [String], timeout: Duration? = .seconds(30)) async throws(SFHAError)
        -> ProgramResult
    {
        try await run(executable, arguments, input: nil, timeout: timeout)
    }

    /// Runs the program and throws a `commandFailed` error naming it and quoting its stderr unless it exits 0.
    @discardableResult
    public func check(_ executable: String, _ arguments: [String], input: [UInt8]? = nil, timeout: Duration? = .seconds(30))
        async throws(SFHAError) -> ProgramResult
    {
        let result = try await run(executable, arguments, input: input, timeout: timeout)
        guard result.succeeded else {
            let why = result.timedOut ? "timed out" : "exited with status \(result.exitCode)"
            let detail = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
            throw SFHAError(
                .commandFailed,
                "\(([executable] + arguments).joined(separator: " ")) \(why)" + (detail.isEmpty ? "" : ": \(detail)"))
        }
        return result
    }
}

/// Runs real programs with `posix_spawn` (no shell involved).
///
/// The child gets only stdin/stdout/stderr (every other descriptor is closed, so it never inherits corosync IPC
/// sockets or sfha's own files) and its own process group (a timeout kills the whole group). The call returns when
/// the program exits — not when every process holding its output pipes exits, so a program that leaves a daemon
/// behind (`systemctl start` of a forking unit, `wireguard-go`) does not hang the caller: after exit, output is
/// drained until the pipes close or stay quiet for `drainGrace`.
public struct SystemProgramRunner: ProgramRunner {
    public var drainGrace: Duration

    public init(drainGrace: Duration = .milliseconds(100)) {
        self.drainGrace = drainGrace
    }

    public func run(_ executable: String, _ arguments: [String], input: [UInt8]?, timeout: Duration?) async throws(SFHAError)
        -> ProgramResult
    {
        guard let path = Self.resolve(executable) else {
            throw SFHAError(.notFound, "program '\(executable)' was not found in PATH; install it or fix PATH")
        }
        let grace = drainGrace
        let outcome: Result<ProgramResult, SFHAError> = await withCheckedContinuation { continuation in
            // Blocking work (poll, waitpid) stays off the cooperative pool.
            Thread.detachNewThread {
                continuation.resume(
                    returning: ChildProcess.run(path: path, arguments: arguments, input: input, timeout: timeout, drainGrace: grace))
            }
        }
        return try outcome.get()
    }

    /// Finds `name` in `PATH` unless it already contains a slash.
    public static func resolve(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}

/// One spawned child and the blocking loop that collects its output.
private enum ChildProcess {
    static func run(path: String, arguments: [String], input: [UInt8]?, timeout: Duration?, drainGrace: Duration)
        -> Result<ProgramResult, SFHAError>
    {
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        var inPipe: [Int32] = [-1, -1]
        guard sfha_pipe_cloexec(&outPipe) == 0, sfha_pipe_cloexec(&errPipe) == 0, sfha_pipe_cloexec(&inPipe) == 0 else {
            return .failure(SFHAError(.io, "could not create pipes to run \(path): \(String(cString: strerror(errno)))"))
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        sfha_spawn_file_actions_addclosefrom(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD] { sigaddset(&defaultSignals, signal) }
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawnResult = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        close(inPipe[0])
        close(outPipe[1])
        close(errPipe[1])
        guard spawnResult == 0 else {
            close(inPipe[1])
            close(outPipe[0])
            close(errPipe[0])
            return .failure(SFHAError(.commandFailed, "could not start \(path): \(String(cString: strerror(spawnResult)))"))
        }
        // Standard input is written from its own thread so a program that writes before reading cannot deadlock.
        let stdinFD = inPipe[1]
        if let input, !input.isEmpty {
            Thread.detachNewThread {
                var offset = 0
                while offset < input.count {
                    let written = input[offset...].withUnsafeBytes { Glibc.write(stdinFD, $0.baseAddress, $0.count) }
                    if written < 0 && errno == EINTR { continue }
                    if written <= 0 { break }
                    offset += written
                }
                close(stdinFD)
            }
        } else {
            close(stdinFD)
        }

        let pidFD = sfha_pidfd_open(pid)
        var output: [UInt8] = []
        var errors: [UInt8] = []
        var open: [Int32: Bool] = [outPipe[0]: true, errPipe[0]: true]
        let clock = ContinuousClock()
        let deadline = timeout.map { clock.now + $0 }
        var exited = false
        var exitedAt: ContinuousClock.Instant?
        var lastData = clock.now
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        while open.values.contains(true) {
            var fds = open.filter(\.value).map { pollfd(fd: $0.key, events: Int16(POLLIN), revents: 0) }
            if pidFD >= 0 && !exited { fds.append(pollfd(fd: pidFD, events: Int16(POLLIN), revents: 0)) }
            var wait: Int32 = -1
            if let deadline, !exited { wait = milliseconds(until: deadline, clock) }
            if exited { wait = max(0, milliseconds(until: lastData + drainGrace, clock)) }
            if pidFD < 0 && !exited { wait = wait < 0 ? 50 : min(wait, 50) }  // no pidfd: check exit now and then
            let ready = poll(&fds, nfds_t(fds.count), wait)
            if ready < 0 && errno == EINTR { continue }
            for entry in fds where entry.revents != 0 {
                if entry.fd == pidFD {
                    exited = true
                    exitedAt = clock.now
                    lastData = clock.now
                    continue
                }
                let count = buffer.withUnsafeMutableBytes { Glibc.read(entry.fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    if entry.fd == outPipe[0] { output += buffer[0..<count] } else { errors += buffer[0..<count] }
                    lastData = clock.now
                } else if count == 0 || (count < 0 && errno != EINTR && errno != EAGAIN) {
                    open[entry.fd] = false
                }
            }
            if pidFD < 0 && !exited, sfha_child_has_exited(pid) != 0 {
                exited = true
                exitedAt = clock.now
            }
            if let deadline, !exited, clock.now >= deadline {
                timedOut = true
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
                exited = true
                exitedAt = clock.now
                lastData = clock.now
            }
            // The program is gone but something it started still holds the pipes: stop waiting for EOF.
            if exited, let exitedAt, clock.now - lastData >= drainGrace, clock.now - exitedAt >= drainGrace { break }
        }
        close(outPipe[0])
        close(errPipe[0])
        if pidFD >= 0 { close(pidFD) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import as macros.
        let signal = status & 0x7f
        let exitCode = signal == 0 ? (status >> 8) & 0xff : 128 + signal
        return .success(ProgramResult(
            exitCode: exitCode, standardOutput: String(decoding: output, as: UTF8.self),
            standardError: String(decoding: errors, as: UTF8.self), timedOut: timedOut))
    }

    private static func milliseconds(until instant: ContinuousClock.Instant, _ clock: ContinuousClock) -> Int32 {
        let remaining = instant - clock.now
        if remaining <= .zero { return 0 }
        let (seconds, attoseconds) = remaining.components
        return Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
    }
}

/// A scripted `ProgramRunner` for tests: records every invocation and answers from a handler.
public final class FakeProgramRunner: ProgramRunner {
    public struct Invocation: Sendable, Equatable {
        public var executable: String
        public var arguments: [String]
        public var input: [UInt8]?
    }

    private let state: Mutex<[Invocation]> = Mutex([])
    private let handler: @Sendable (Invocation) -> ProgramResult

    public init(handler: @escaping @Sendable (Invocation) -> ProgramResult = { _ in ProgramResult(exitCode: 0) }) {
        self.handler = handler
    }

    public var invocations: [Invocation] { state.withLock { $0 } }

    public func run(_ executable: String, _ arguments: [String], input: [UInt8]?, timeout: Duration?) async throws(SFHAError)
        -> ProgramResult
    {
        let invocation = Invocation(executable: executable, arguments: arguments, input: input)
        state.withLock { $0.append(invocation) }
        return handler(invocation)
    }
}
