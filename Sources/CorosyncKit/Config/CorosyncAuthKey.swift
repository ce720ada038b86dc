import SFHABase

/// The shared secret corosync's knet crypto needs in `/etc/corosync/authkey` (what `corosync-keygen` makes).
public enum CorosyncAuthKey {
    /// 2048 bits, like `corosync-keygen`.
    public static let defaultLength = 256
    /// corosync refuses keys under 1024 bits; knet caps keys at 4096 bytes.
    public static let allowedLengths = 128...4096
    public static let defaultPath = "/etc/corosync/authkey"

    /// `length` random bytes from the kernel's CSPRNG: `SystemRandomNumberGenerator` is getrandom(2) on Linux
    /// (which Glibc's Swift module does not expose directly).
    public static func generate(length: Int = defaultLength) throws(SFHAError) -> [UInt8] {
        try checkLength(length)
        var generator = SystemRandomNumberGenerator()
        var key: [UInt8] = []
        key.reserveCapacity(length + 8)
        while key.count < length {
            withUnsafeBytes(of: generator.next() as UInt64) { key.append(contentsOf: $0) }
        }
        return Array(key.prefix(length))
    }

    /// Writes the key atomically with mode 0400 (corosync only needs to read it as root).
    public static func write(_ key: [UInt8], to path: String = defaultPath) throws(SFHAError) {
        try checkLength(key.count)
        try AtomicFile.write(key, to: path, mode: 0o400, backups: 0)
    }

    private static func checkLength(_ length: Int) throws(SFHAError) {
        guard allowedLengths.contains(length) else {
            throw SFHAError(
                .invalidArgument,
                "corosync authkey must be \(allowedLengths.lowerBound)–\(allowedLengths.upperBound) bytes, not \(length)")
        }
    }
}
