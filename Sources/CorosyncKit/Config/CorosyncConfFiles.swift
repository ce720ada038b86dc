#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SFHABase

/// What `corosync -t` said about a config file.
public enum CorosyncConfValidationResult: Sendable, Equatable {
    case valid
    /// corosync rejected the file; the message is its error output without timestamps.
    case invalid(String)
    /// corosync is not installed, so nothing was checked; the text says why.
    case validatorUnavailable(String)
}

extension CorosyncConf {
    public static let defaultPath = "/etc/corosync/corosync.conf"
    public static let defaultValidatorPath = "/usr/sbin/corosync"

    /// Reads and parses a file. Throws `SFHAError` for I/O problems or non-UTF-8 content (which could not be written
    /// back byte for byte), `CorosyncConfError` for syntax errors.
    public static func load(from path: String) throws -> CorosyncConf {
        let bytes = try AtomicFile.read(path)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw SFHAError(.invalidArgument, "\(path) is not valid UTF-8; sfha only edits UTF-8 corosync.conf files")
        }
        return try CorosyncConf(parsing: text)
    }

    /// Writes the document atomically (mode 0644), keeping the previous versions as `path.1` … `path.<backups>`.
    public func write(to path: String = defaultPath, backups: Int = 5) throws(SFHAError) {
        try AtomicFile.write(render(), to: path, mode: 0o644, backups: backups)
    }

    /// Runs `corosync -t -c <path>` (corosync 3.1.7 has no other way to point -t at a file). It parses the file and
    /// runs corosync's whole config check (value types, nodelist, links, crypto settings and that the authkey file
    /// can be read) without starting the daemon.
    public static func validate(
        path: String, runner: any ProgramRunner, executable: String = defaultValidatorPath
    ) async throws(SFHAError) -> CorosyncConfValidationResult {
        if executable.contains("/"), access(executable, X_OK) != 0 {
            return .validatorUnavailable("\(executable) is not installed; corosync.conf was not checked")
        }
        let result: ProgramResult
        do {
            result = try await runner.run(executable, ["-t", "-c", path], timeout: .seconds(30))
        } catch where error.code == .notFound {
            return .validatorUnavailable(error.message)
        }
        if result.timedOut { throw SFHAError(.timeout, "\(executable) -t -c \(path) did not finish within 30 s") }
        if result.exitCode == 0 { return .valid }
        let message = validatorMessage(result.standardError + "\n" + result.standardOutput)
        // Once corosync has read the logging section, its complaints go only to the configured log targets.
        return .invalid(message.isEmpty
            ? "\(executable) -t exited with status \(result.exitCode); see corosync's configured log for details"
            : message)
    }

    /// Validates this document with `corosync -t` through a private temporary copy whose logging goes to stderr
    /// only, so the complaint comes back in the result and the check writes no log file. Logging values are replaced
    /// in place and a trailing `logging { }` overrides the rest, so line numbers in corosync's messages still match
    /// this document. (The copy has no `uidgid.d` next to it; those files only grant IPC access.)
    public func validate(
        runner: any ProgramRunner, executable: String = CorosyncConf.defaultValidatorPath
    ) async throws(SFHAError) -> CorosyncConfValidationResult {
        var copy = self
        let overrides = [("to_stderr", "yes"), ("to_syslog", "no"), ("to_logfile", "no"), ("logfile", "/dev/null")]
        do {
            for (key, value) in overrides where copy.value(at: "logging." + key) != nil {
                try copy.set("logging." + key, value)
            }
        } catch {
            throw error.sfhaError
        }
        var text = copy.render()
        if !text.isEmpty, !text.hasSuffix("\n") { text += "\n" }
        text += "logging {\n\tto_stderr: yes\n\tto_syslog: no\n\tto_logfile: no\n}\n"

        var template = Array("/tmp/sfha-corosync-check.XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard created != nil else {
            throw SFHAError(.io, "could not create a temporary directory: \(String(cString: strerror(errno)))")
        }
        let directory = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let path = directory + "/corosync.conf"
        defer {
            unlink(path)
            rmdir(directory)
        }
        try AtomicFile.write(text, to: path, mode: 0o600)
        return try await Self.validate(path: path, runner: runner, executable: executable)
    }

    /// corosync's complaint without log timestamps and the "exiting" trailer.
    static func validatorMessage(_ output: String) -> String {
        var messages: [String] = []
        for rawLine in output.split(whereSeparator: \.isNewline) {
            var line = Substring(rawLine)
            // "Nov 29 00:28:00.546 error   [MAIN  ] parse error in config: …": keep what follows the subsystem tag.
            if let tagEnd = line.firstRange(of: "] "), line[..<tagEnd.lowerBound].contains("[") {
                line = line[tagEnd.upperBound...]
            }
            let text = String(line.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
            if text.isEmpty || text.hasPrefix("Corosync Cluster Engine exiting") { continue }
            messages.append(text)
        }
        return messages.joined(separator: "; ")
    }
}
