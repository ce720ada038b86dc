#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension SFHAConfiguration {
    /// The largest configuration file sfha reads. A real one is a few kilobytes; the limit keeps a wrong `--config`
    /// (a log, an image, a device) from being read into memory and parsed.
    public static let maximumFileSize = 1 << 20
}

/// Reads configuration files without ever blocking or reading without bound: anything but a regular file (after
/// following symlinks) is refused before a byte is read, as is a file over `SFHAConfiguration.maximumFileSize`.
enum ConfigurationFile {
    /// The text of the configuration file at `path`. Errors name the file, what is wrong and what to do.
    static func readText(_ path: String) throws(ConfigurationError) -> String {
        // Refusing by type before opening means a device is never even opened (opening some has side effects);
        // the check on the opened descriptor below is the one that counts, in case the path changed in between.
        var info = stat()
        if stat(path, &info) == 0, let problem = Self.problem(with: info, path: path) {
            throw failure(path, problem)
        }
        // O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever; it changes nothing for a regular
        // file. O_NOCTTY: a terminal given by mistake must not become the controlling terminal.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            let openError = errno
            // A socket cannot be opened at all (ENXIO); say what it is rather than "No such device or address".
            if stat(path, &info) == 0, let problem = Self.problem(with: info, path: path) { throw failure(path, problem) }
            throw failure(path, "cannot open \(path): \(String(cString: strerror(openError)))")
        }
        defer { close(fd) }
        guard fstat(fd, &info) == 0 else {
            throw failure(path, "cannot examine \(path): \(String(cString: strerror(errno)))")
        }
        if let problem = Self.problem(with: info, path: path) { throw failure(path, problem) }

        let limit = SFHAConfiguration.maximumFileSize
        var bytes: [UInt8] = []
        bytes.reserveCapacity(min(Int(info.st_size), limit) + 1)
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        // Reads at most one byte past the limit: enough to tell that a file that grew after fstat is too large.
        while bytes.count <= limit {
            let wanted = min(buffer.count, limit + 1 - bytes.count)
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, wanted) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure(path, "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
        }
        guard bytes.count <= limit else { throw failure(path, Self.tooLarge(path, size: nil)) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Why a file with this status cannot be a configuration file, or nil when it can.
    private static func problem(with info: stat, path: String) -> String? {
        let type = info.st_mode & S_IFMT
        guard type == S_IFREG else {
            let kind = switch type {
            case S_IFIFO: "a FIFO"
            case S_IFCHR: "a character device"
            case S_IFBLK: "a block device"
            case S_IFDIR: "a directory"
            case S_IFSOCK: "a socket"
            default: "not a file"
            }
            return "\(path) is \(kind), not a regular file: point --config at the configuration file"
        }
        guard info.st_size <= SFHAConfiguration.maximumFileSize else { return tooLarge(path, size: Int(info.st_size)) }
        return nil
    }

    private static func tooLarge(_ path: String, size: Int?) -> String {
        let actual = size.map { "\($0) bytes" } ?? "larger"
        return "\(path) is \(actual), over the \(SFHAConfiguration.maximumFileSize)-byte limit for a configuration "
            + "file: point --config at the configuration file"
    }

    private static func failure(_ path: String, _ problem: String) -> ConfigurationError {
        ConfigurationError(ConfigurationDiagnostic(
            file: path, line: 0, column: 0, keyPath: "", message: "cannot read the configuration: \(problem)"))
    }
}
