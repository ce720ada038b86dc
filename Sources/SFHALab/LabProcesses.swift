import Foundation
import SFHABase

#if canImport(Glibc)
import Glibc
#endif

/// A process seen running inside a lab host.
public struct LabProcess: Sendable, Codable, Equatable {
    public var pid: Int32
    /// The kernel's short name (`/proc/<pid>/comm`, at most 15 characters).
    public var name: String
    public var commandLine: [String]
}

/// Finding, signalling and spawning processes by namespace: a process belongs to a lab host when its network
/// or mount namespace is that host's. This needs no pid bookkeeping, so it also works after a crash.
enum ProcessTable {
    /// The inode identifying the namespace behind an `ip netns` file or a bind-mounted namespace file.
    static func namespaceInode(ofFile path: String) -> UInt64? {
        // Only a mounted namespace file names a namespace; the empty file left after unmounting does not.
        guard MountTable.isMountPoint(path) else { return nil }
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return UInt64(info.st_ino)
    }

    /// The namespace inode of `kind` ("net", "mnt", "uts") for a pid, from the `net:[4026532178]` link.
    static func namespaceInode(pid: Int32, kind: String) -> UInt64? {
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/\(kind)"),
            let open = target.firstIndex(of: "["), let close = target.lastIndex(of: "]")
        else { return nil }
        return UInt64(target[target.index(after: open)..<close])
    }

    static func allPIDs() -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.sorted()
    }

    /// Processes whose network namespace is `netInode` or whose mount namespace is `mntInode`.
    static func processes(networkNamespace netInode: UInt64?, mountNamespace mntInode: UInt64?) -> [LabProcess] {
        guard netInode != nil || mntInode != nil else { return [] }
        let ownPID = getpid()
        var found: [LabProcess] = []
        for pid in allPIDs() where pid != ownPID {
            let inNet = netInode != nil && namespaceInode(pid: pid, kind: "net") == netInode
            let inMnt = !inNet && mntInode != nil && namespaceInode(pid: pid, kind: "mnt") == mntInode
            guard inNet || inMnt, isAlive(pid) else { continue }
            found.append(LabProcess(pid: pid, name: shortName(pid: pid), commandLine: commandLine(pid: pid)))
        }
        return found
    }

    static func shortName(pid: Int32) -> String {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
        return text.trimmingCharacters(in: .newlines)
    }

    static func commandLine(pid: Int32) -> [String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return [] }
        return data.split(separator: 0, omittingEmptySubsequences: false).dropLast().map {
            String(decoding: $0, as: UTF8.self)
        }
    }

    /// The environment a process started with (`/proc/<pid>/environ`), as NAME=value entries.
    static func environment(pid: Int32) -> [String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return [] }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The process's scheduling state for messages, e.g. "D (waiting in __refrigerator)" or "S".
    static func schedulingState(pid: Int32) -> String {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")"),
            let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        else { return "unknown (gone?)" }
        let wchan = ((try? String(contentsOfFile: "/proc/\(pid)/wchan", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return wchan.isEmpty || wchan == "0" ? String(state) : "\(state) (waiting in \(wchan))"
    }

    /// The freezer state file of the cgroup that holds the process frozen (cgroup v1 freezer or v2 `cgroup.freeze`),
    /// or nil: a frozen process does not act on SIGKILL until it is thawed.
    static func freezingCgroup(pid: Int32) -> String? {
        let lines = ((try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)) ?? "").split(separator: "\n")
        for line in lines {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let path = String(fields[2])
            var candidates: [(file: String, frozen: Set<String>)] = []
            if fields[1].split(separator: ",").contains("freezer") {
                candidates.append(("/sys/fs/cgroup/freezer\(path)/freezer.state", ["FROZEN", "FREEZING"]))
            } else if fields[1].isEmpty {
                for root in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"] {
                    candidates.append(("\(root)\(path)/cgroup.freeze", ["1"]))
                }
            }
            for candidate in candidates {
                let value = ((try? String(contentsOfFile: candidate.file, encoding: .utf8)) ?? "")
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                if candidate.frozen.contains(value) { return candidate.file }
            }
        }
        return nil
    }

    /// True while the process exists and is not a zombie (an exited child nobody reaped yet counts as dead).
    static func isAlive(_ pid: Int32) -> Bool {
        guard pid > 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state != "Z" && state != "X"
    }

    /// Does `process` name this process? Matches the kernel short name (prefix-truncated to 15 characters) or
    /// the basename of argv[0], so both "corosync" and "wireguard-go" work.
    static func matches(_ process: LabProcess, name: String) -> Bool {
        if process.name == name || (name.utf8.count > 15 && process.name == String(name.utf8.prefix(15))!) {
            return true
        }
        guard let first = process.commandLine.first else { return false }
        return (first.split(separator: "/").last.map(String.init) ?? first) == name
    }

    /// Sends `signal`, then waits up to `grace` for the processes to exit; survivors get SIGKILL.
    /// Returns the pids that were still alive after SIGKILL plus one more second (normally none).
    static func terminate(_ pids: [Int32], signal first: Int32 = SIGTERM, grace: Duration = .seconds(3)) async -> [Int32] {
        var remaining = pids.filter(isAlive)
        for pid in remaining { kill(pid, first) }
        remaining = await waitForExit(remaining, timeout: grace)
        for pid in remaining { kill(pid, SIGKILL) }
        return await waitForExit(remaining, timeout: .seconds(1))
    }

    static func waitForExit(_ pids: [Int32], timeout: Duration) async -> [Int32] {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var remaining = pids.filter(isAlive)
        while !remaining.isEmpty, clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
            remaining = remaining.filter(isAlive)
        }
        return remaining
    }

    /// Starts a long-running process with stdin from /dev/null and stdout+stderr appended to `logFile`.
    /// Foundation's `Process` is used because it closes every other inherited descriptor in the child: an
    /// inherited pipe of a concurrent `ProgramRunner` call would keep that call waiting for EOF until the
    /// daemon exits. Foundation also reaps the child if it exits while this process still runs.
    static func spawnDetached(executable: String, arguments: [String], logFile: String) throws(SFHAError) -> Int32 {
        let fd = open(logFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw SFHAError(.io, "cannot open log file \(logFile): \(String(cString: strerror(errno)))")
        }
        let log = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        do {
            try process.run()
        } catch {
            throw SFHAError(.commandFailed, "could not start \(executable)", cause: error)
        }
        return process.processIdentifier
    }
}

/// Signal names for fault commands.
public enum LabSignals {
    /// Parses "KILL", "SIGKILL", "kill" or "9"; nil for anything else.
    public static func number(_ text: String) -> Int32? {
        if let number = Int32(text), (1...64).contains(number) { return number }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        let names: [String: Int32] = [
            "HUP": SIGHUP, "INT": SIGINT, "QUIT": SIGQUIT, "KILL": SIGKILL, "TERM": SIGTERM, "USR1": SIGUSR1,
            "USR2": SIGUSR2, "STOP": SIGSTOP, "CONT": SIGCONT, "ABRT": SIGABRT, "ALRM": SIGALRM,
        ]
        return names[name]
    }
}
