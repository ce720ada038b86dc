#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes files so that a reader (or a crash) only ever sees the old content or the new content, never a mix:
/// the data goes to a temporary file in the same directory, is fsync'd, then renamed over the target, and the
/// directory is fsync'd so the rename itself is durable.
public enum AtomicFile {
    /// Writes `bytes` to `path` atomically with the given permission bits.
    /// When `backups` > 0 and the file already exists, the previous content is kept as `path.1` … `path.N`
    /// (`.1` the newest); older backups beyond `backups` are deleted.
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644, backups: Int = 0) throws(SFHAError) {
        let directory = parentDirectory(of: path)
        let template = path + ".tmp.XXXXXX"
        var templateBytes = Array(template.utf8CString)
        let fd = templateBytes.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw posixError("create a temporary file next to \(path)") }
        let tempPath = String(decoding: templateBytes.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var keepTemp = false
        defer {
            if !keepTemp { unlink(tempPath) }
        }
        do {
            defer { close(fd) }
            guard fchmod(fd, mode) == 0 else { throw posixError("set mode \(String(mode, radix: 8)) on \(tempPath)") }
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw posixError("write \(tempPath)")
                }
                offset += written
            }
            guard fsync(fd) == 0 else { throw posixError("fsync \(tempPath)") }
        }
        if backups > 0, access(path, F_OK) == 0 {
            try rotateBackups(of: path, keep: backups)
        }
        guard rename(tempPath, path) == 0 else { throw posixError("rename \(tempPath) to \(path)") }
        keepTemp = true
        let dirFD = open(directory, O_RDONLY | O_DIRECTORY)
        if dirFD >= 0 {
            _ = fsync(dirFD)
            close(dirFD)
        }
    }

    public static func write(_ text: String, to path: String, mode: mode_t = 0o644, backups: Int = 0) throws(SFHAError) {
        try write(Array(text.utf8), to: path, mode: mode, backups: backups)
    }

    /// Reads a whole file.
    public static func read(_ path: String) throws(SFHAError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code: SFHAError.Code = errno == ENOENT ? .notFound : .io
            throw SFHAError(code, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw posixError("read \(path)")
            }
            if n == 0 { break }
            result.append(contentsOf: buffer[0..<n])
        }
        return result
    }

    public static func readText(_ path: String) throws(SFHAError) -> String {
        String(decoding: try read(path), as: UTF8.self)
    }

    /// The existing backups of `path`, newest first.
    public static func backups(of path: String) -> [String] {
        var found: [String] = []
        var index = 1
        while access("\(path).\(index)", F_OK) == 0 {
            found.append("\(path).\(index)")
            index += 1
        }
        return found
    }

    private static func rotateBackups(of path: String, keep: Int) throws(SFHAError) {
        // Drop everything at or beyond the limit, then shift the rest up by one.
        var index = keep
        while access("\(path).\(index)", F_OK) == 0 {
            unlink("\(path).\(index)")
            index += 1
        }
        var current = keep - 1
        while current >= 1 {
            if access("\(path).\(current)", F_OK) == 0 {
                guard rename("\(path).\(current)", "\(path).\(current + 1)") == 0 else {
                    throw posixError("rotate backup \(path).\(current)")
                }
            }
            current -= 1
        }
        // Copy (not move) the live file, so the target exists at every instant.
        let old = try read(path)
        var info = stat()
        let oldMode: mode_t = stat(path, &info) == 0 ? info.st_mode & 0o7777 : 0o600
        try write(old, to: "\(path).1", mode: oldMode, backups: 0)
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    static func posixError(_ action: String) -> SFHAError {
        let err = errno
        return SFHAError(.io, "could not \(action): \(String(cString: strerror(err)))")
    }
}
