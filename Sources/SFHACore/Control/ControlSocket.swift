import CSFHAShim
import SFHABase

#if canImport(Glibc)
import Glibc
#endif

/// Non-blocking Unix stream socket I/O with deadlines (poll(2)), shared by the control server and client.
enum ControlSocket {
    typealias Instant = ContinuousClock.Instant

    enum ReadOutcome: Equatable {
        case data(Int)
        case endOfFile
        case timedOut
        case failed(Int32)
    }

    enum WriteOutcome: Equatable {
        case written
        case timedOut
        case failed(Int32)
    }

    static func describe(errno code: Int32) -> String { String(cString: strerror(code)) }

    /// Unix socket paths must fit `sun_path` (107 bytes on Linux).
    static func validate(path: String) throws(SFHAError) {
        guard !path.isEmpty, !path.utf8.contains(0) else {
            throw SFHAError(.invalidArgument, "invalid control socket path '\(path)'")
        }
        let limit = Int(sfha_unix_path_max())
        guard path.utf8.count <= limit else {
            throw SFHAError(
                .invalidArgument,
                "control socket path \(path) is \(path.utf8.count) bytes long; Unix sockets allow at most \(limit)")
        }
    }

    /// poll(2) timeout in milliseconds until `deadline` (rounded up; -1 = no deadline).
    static func pollTimeout(until deadline: Instant?) -> Int32 {
        guard let deadline else { return -1 }
        let remaining = deadline - .now
        if remaining <= .zero { return 0 }
        let (seconds, attoseconds) = remaining.components
        return Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
    }

    /// Waits until `fd` is ready for `events` (or has an error/hang-up). False when the deadline passed first.
    static func wait(_ fd: Int32, for events: Int16, until deadline: Instant?) -> Bool {
        while true {
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let timeout = pollTimeout(until: deadline)
            let ready = poll(&entry, 1, timeout)
            if ready > 0 { return true }
            if ready < 0 && errno != EINTR { return true }  // let the next read/write report the error
            if ready == 0 && timeout >= 0, let deadline, ContinuousClock.now >= deadline { return false }
        }
    }

    /// Reads at most `limit` bytes (appended to `buffer`), waiting until `deadline` for the first one.
    static func read(_ fd: Int32, into buffer: inout [UInt8], limit: Int, until deadline: Instant?) -> ReadOutcome {
        precondition(limit > 0)
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: limit) { scratch in
            while true {
                let count = Glibc.read(fd, scratch.baseAddress, limit)
                if count > 0 {
                    buffer.append(contentsOf: scratch[0..<count])
                    return .data(count)
                }
                if count == 0 { return .endOfFile }
                let error = errno
                if error == EINTR { continue }
                if error == EAGAIN || error == EWOULDBLOCK {
                    if !wait(fd, for: Int16(POLLIN), until: deadline) { return .timedOut }
                    continue
                }
                return .failed(error)
            }
        }
    }

    /// Writes all of `bytes` (MSG_NOSIGNAL: a vanished peer is EPIPE, not SIGPIPE).
    static func write(_ fd: Int32, _ bytes: [UInt8], until deadline: Instant?) -> WriteOutcome {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { raw in
                sfha_send_nosignal(fd, raw.baseAddress! + offset, raw.count - offset)
            }
            if count > 0 {
                offset += count
                continue
            }
            let error = errno
            if count < 0 && error == EINTR { continue }
            if count < 0 && (error == EAGAIN || error == EWOULDBLOCK) {
                if !wait(fd, for: Int16(POLLOUT), until: deadline) { return .timedOut }
                continue
            }
            return .failed(count == 0 ? EPIPE : error)
        }
        return .written
    }

    /// What one non-blocking read or write did.
    enum ImmediateOutcome: Equatable {
        /// Bytes moved (at least one).
        case transferred(Int)
        /// Nothing to read, or no room to write, right now.
        case wouldBlock
        case endOfFile
        case failed(Int32)
    }

    /// Reads at most `limit` bytes that have already arrived (appended to `buffer`), without waiting.
    static func readAvailable(_ fd: Int32, into buffer: inout [UInt8], limit: Int) -> ImmediateOutcome {
        precondition(limit > 0)
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: limit) { scratch in
            while true {
                let count = Glibc.read(fd, scratch.baseAddress, limit)
                if count > 0 {
                    buffer.append(contentsOf: scratch[0..<count])
                    return .transferred(count)
                }
                if count == 0 { return .endOfFile }
                let error = errno
                if error == EINTR { continue }
                if error == EAGAIN || error == EWOULDBLOCK { return .wouldBlock }
                return .failed(error)
            }
        }
    }

    /// Writes as much of `bytes[offset...]` as the socket takes now, without waiting.
    static func writeAvailable(_ fd: Int32, _ bytes: [UInt8], from offset: Int) -> ImmediateOutcome {
        var position = offset
        while position < bytes.count {
            let count = bytes.withUnsafeBytes { raw in
                sfha_send_nosignal(fd, raw.baseAddress! + position, raw.count - position)
            }
            if count > 0 {
                position += count
                continue
            }
            let error = errno
            if count < 0 && error == EINTR { continue }
            if count < 0 && (error == EAGAIN || error == EWOULDBLOCK) { break }
            return .failed(count == 0 ? EPIPE : error)
        }
        return position > offset ? .transferred(position - offset) : .wouldBlock
    }

    /// Reads and discards whatever has already arrived (without waiting), so closing does not reset the peer.
    static func discardPending(_ fd: Int32) {
        var scratch = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<16 {
            let count = scratch.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { return }
        }
    }

    /// Connects a non-blocking socket to `path`. A full listen backlog (EAGAIN) is retried until `deadline`.
    /// Failure: the errno (ETIMEDOUT when the deadline passed).
    static func connect(to path: String, until deadline: Instant?) -> Result<Int32, ConnectFailure> {
        var pause = Duration.microseconds(200)
        while true {
            let fd = sfha_unix_socket(1)
            guard fd >= 0 else { return .failure(ConnectFailure(errno: errno)) }
            if sfha_unix_connect(fd, path) == 0 { return .success(fd) }
            let error = errno
            close(fd)
            guard error == EAGAIN else { return .failure(ConnectFailure(errno: error)) }
            if let deadline, ContinuousClock.now + pause >= deadline { return .failure(ConnectFailure(errno: ETIMEDOUT)) }
            let (seconds, attoseconds) = pause.components
            var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
            var remaining = timespec()
            while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
            pause = min(pause * 2, .milliseconds(20))
        }
    }

    struct ConnectFailure: Error, Equatable {
        var errno: Int32
    }

    /// SO_PEERCRED plus SO_PEERGROUPS (empty when unavailable).
    static func peerCredentials(_ fd: Int32) -> PeerCredentials? {
        var pid: pid_t = 0
        var uid: uid_t = 0
        var gid: gid_t = 0
        guard sfha_peer_credentials(fd, &pid, &uid, &gid) == 0 else { return nil }
        var groups = [gid_t](repeating: 0, count: 64)
        var count = groups.withUnsafeMutableBufferPointer { sfha_peer_groups(fd, $0.baseAddress, Int32($0.count)) }
        if count < 0 && errno == ERANGE {
            groups = [gid_t](repeating: 0, count: 65536)
            count = groups.withUnsafeMutableBufferPointer { sfha_peer_groups(fd, $0.baseAddress, Int32($0.count)) }
        }
        return PeerCredentials(pid: pid, uid: uid, gid: gid, groups: count > 0 ? Array(groups[0..<Int(count)]) : [])
    }
}
