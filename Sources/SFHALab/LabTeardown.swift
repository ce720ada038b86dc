import Foundation
import SFHABase

#if canImport(Glibc)
import Glibc
#endif

/// What `Lab.down` found and removed.
public struct LabTeardownReport: Sendable, Equatable {
    public var lab: String
    /// Human-readable list of what was removed ("process 1234 (corosync)", "network namespace sfha-node1", …).
    public var removed: [String] = []
    /// True when nothing of the lab existed.
    public var nothingFound: Bool { removed.isEmpty }
}

/// The names a lab's resources have, so `down` can find them by pattern even without lab.json.
struct LabResourceNames {
    let lab: String

    /// `<lab>-node<i>` and `<lab>-client`.
    func isNetworkNamespace(_ name: String) -> Bool {
        name == "\(lab)-client" || hasNumberedSuffix(name, prefix: "\(lab)-node")
    }

    /// `<lab>-br`, `<lab>-n<i>`, `<lab>-cl`.
    func isLink(_ name: String) -> Bool {
        name == "\(lab)-br" || name == "\(lab)-cl" || hasNumberedSuffix(name, prefix: "\(lab)-n")
    }

    private func hasNumberedSuffix(_ name: String, prefix: String) -> Bool {
        guard name.hasPrefix(prefix) else { return false }
        let digits = name.dropFirst(prefix.count)
        return !digits.isEmpty && digits.allSatisfy(\.isASCII) && digits.allSatisfy(\.isNumber)
    }

    /// Existing network namespaces of the lab (from /run/netns, where `ip netns` keeps them).
    func networkNamespaces() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []).filter(isNetworkNamespace).sorted()
    }

    /// Existing host-netns interfaces of the lab (from /sys/class/net).
    func links() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")) ?? []).filter(isLink).sorted()
    }
}

/// The host's mount table.
enum MountTable {
    /// Mount points of this process's mount namespace, in mount order (octal escapes decoded).
    static func mountPoints() -> [String] {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            return fields.count > 4 ? unescape(String(fields[4])) : nil
        }
    }

    static func isMountPoint(_ path: String) -> Bool { mountPoints().contains(path) }

    /// Mount points at or below `directory`.
    static func mounts(under directory: String) -> [String] {
        mountPoints().filter { $0 == directory || $0.hasPrefix(directory + "/") }
    }

    private static func unescape(_ field: String) -> String {
        guard field.contains("\\") else { return field }
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3,
                let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Unmounts every mount at or below `directory` (this namespace), deepest and most recent first, each lazily
    /// when a plain unmount is refused (busy). Passes repeat for stacked mounts. Returns what was unmounted and what
    /// is still mounted.
    static func unmountEverything(under directory: String) -> (unmounted: [String], remaining: [String]) {
        var unmounted: [String] = []
        for _ in 0..<8 {
            let mounts = self.mounts(under: directory)
            if mounts.isEmpty { break }
            // mountinfo lists parents before children: reversed, a mount goes before what it is mounted on.
            let ordered = mounts.enumerated().sorted { left, right in
                let leftDepth = left.element.split(separator: "/").count
                let rightDepth = right.element.split(separator: "/").count
                return leftDepth != rightDepth ? leftDepth > rightDepth : left.offset > right.offset
            }.map(\.element)
            for path in ordered {
                if umount2(path, Int32(UMOUNT_NOFOLLOW)) != 0 {
                    // EINVAL: no longer a mount point (it went with the one it was stacked on).
                    if errno == EINVAL || errno == ENOENT { continue }
                    guard umount2(path, Int32(MNT_DETACH) | Int32(UMOUNT_NOFOLLOW)) == 0 else { continue }
                }
                if !unmounted.contains(path) { unmounted.append(path) }
            }
        }
        return (unmounted, mounts(under: directory))
    }
}

/// How `down` recognizes a lab's processes: by namespace, as long as the lab's namespace files exist (`down`
/// removes them only once nothing runs there), and — for processes whose namespaces someone else already removed —
/// by `SFHA_LAB=<lab>` in their environment (every lab command sets it) outside any namespace known not to be
/// the lab's.
struct LabProcessScope {
    let lab: String
    /// Network namespace inode → name (`<lab>-node1`, `<lab>-client`).
    let networkNamespaces: [UInt64: String]
    /// Mount namespace inode → the bind-mounted namespace file that names it.
    let mountNamespaces: [UInt64: String]
    /// The host's and this process's network namespaces and every other `ip netns` namespace: never the lab's.
    let foreignNetworkNamespaces: Set<UInt64>

    init(lab: String, networkNamespaceNames: [String], mountNamespaceFiles: [String]) {
        self.lab = lab
        var networks: [UInt64: String] = [:]
        for name in networkNamespaceNames {
            if let inode = ProcessTable.namespaceInode(ofFile: "/run/netns/\(name)") { networks[inode] = name }
        }
        var mounts: [UInt64: String] = [:]
        for file in mountNamespaceFiles {
            if let inode = ProcessTable.namespaceInode(ofFile: file) { mounts[inode] = file }
        }
        let others = ((try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? [])
            .filter { !networkNamespaceNames.contains($0) }
            .compactMap { ProcessTable.namespaceInode(ofFile: "/run/netns/\($0)") }
        let own = [ProcessTable.namespaceInode(pid: 1, kind: "net"), ProcessTable.namespaceInode(pid: getpid(), kind: "net")]
        networkNamespaces = networks
        mountNamespaces = mounts
        foreignNetworkNamespaces = Set(others + own.compactMap { $0 }).subtracting(networks.keys)
    }

    /// Where `pid` runs in the lab ("network namespace sfha-node1", …), or nil when it is not the lab's.
    func place(of pid: Int32) -> String? {
        guard let net = ProcessTable.namespaceInode(pid: pid, kind: "net") else { return nil }
        if let name = networkNamespaces[net] { return "network namespace \(name)" }
        if let mnt = ProcessTable.namespaceInode(pid: pid, kind: "mnt"), let file = mountNamespaces[mnt] {
            return "mount namespace \(file)"
        }
        guard !foreignNetworkNamespaces.contains(net), ProcessTable.environment(pid: pid).contains("SFHA_LAB=\(lab)")
        else { return nil }
        return "removed network namespace net:[\(net)] (SFHA_LAB=\(lab) in its environment)"
    }

    /// The lab's live processes (not this one), with where they run.
    func members() -> [(process: LabProcess, place: String)] {
        let ownPID = getpid()
        return ProcessTable.allPIDs().compactMap { pid in
            guard pid != ownPID, let place = place(of: pid), ProcessTable.isAlive(pid) else { return nil }
            return (LabProcess(pid: pid, name: ProcessTable.shortName(pid: pid), commandLine: []), place)
        }
    }

    /// Ends every process of the lab: SIGTERM (with SIGCONT, so a stopped one can act on it), then SIGKILL after
    /// `termGrace`, rescanning every 50 ms — what a process starts while it is being stopped is found and ended
    /// too — until none is left or `killDeadline` more has passed. Returns the ended processes and the survivors.
    func endAll(termGrace: Duration = .seconds(3), killDeadline: Duration = .seconds(5)) async
        -> (ended: [LabProcess], survivors: [(process: LabProcess, place: String)])
    {
        let clock = ContinuousClock()
        let start = clock.now
        var seen: [Int32: LabProcess] = [:]
        var terminated: Set<Int32> = []
        var members = members()
        while !members.isEmpty, clock.now - start < termGrace + killDeadline {
            let killing = clock.now - start >= termGrace
            for (process, _) in members {
                if seen[process.pid] == nil { seen[process.pid] = process }
                if killing {
                    kill(process.pid, SIGKILL)
                } else if terminated.insert(process.pid).inserted {
                    kill(process.pid, SIGTERM)
                    kill(process.pid, SIGCONT)
                }
            }
            try? await Task.sleep(for: .milliseconds(50))
            members = self.members()
        }
        let survivors = Set(members.map(\.process.pid))
        let ended = seen.values.filter { !survivors.contains($0.pid) }.sorted { $0.pid < $1.pid }
        return (ended, members)
    }
}

extension Lab {
    /// Tears a lab down completely and idempotently, in an order that never loses track of anything:
    ///
    /// 1. every process in the lab's namespaces (corosync, sfhad, spawned, started by hand; `LabProcessScope`)
    ///    is ended and waited for. If one survives SIGKILL, `down` stops there and throws, naming it: the
    ///    namespaces, mounts and lab.json that lead to it stay, so a later `down` finds it;
    /// 2. the veths and bridge, then the network namespaces (with their nftables tables and qdiscs);
    /// 3. every mount under the state directory (namespace files, its private self-bind), lazily if busy;
    /// 4. the state directory, lab.json last — only when nothing failed before and nothing is mounted there;
    /// 5. host mount points the lab created, once no lab is left.
    ///
    /// Works from lab.json, and by name pattern when lab.json is missing or broken (after a crash). Throws when
    /// something could not be removed, naming it and what to do; what could be removed is removed first.
    @discardableResult
    public static func down(_ name: String, runner: any ProgramRunner = SystemProgramRunner()) async throws(SFHAError)
        -> LabTeardownReport
    {
        try LabNames.validateLabName(name)
        try requireRoot()
        var report = LabTeardownReport(lab: name)
        var problems: [String] = []
        let names = LabResourceNames(lab: name)
        let directory = LabPaths.stateDirectory(name)
        let state = try? LabState.read(lab: name)

        // 1. Processes.
        let namespaces = names.networkNamespaces()
        let namespaceFiles = Set(
            (state?.nodes ?? []).flatMap { [$0.mountNamespaceFile, $0.utsNamespaceFile].compactMap { $0 } }
                + (((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
                    .filter { $0.hasSuffix(".mnt") || $0.hasSuffix(".uts") }.map { "\(directory)/\($0)" })
        ).sorted()
        let scope = LabProcessScope(
            lab: name, networkNamespaceNames: namespaces,
            mountNamespaceFiles: namespaceFiles.filter { $0.hasSuffix(".mnt") })
        let (ended, survivors) = await scope.endAll()
        report.removed += ended.map { "process \($0.pid) (\($0.name))" }
        guard survivors.isEmpty else {
            let list = survivors.map { survivor in
                let pid = survivor.process.pid
                var text = "process \(pid) (\(survivor.process.name)) in \(survivor.place), "
                    + "state \(ProcessTable.schedulingState(pid: pid))"
                if let freezer = ProcessTable.freezingCgroup(pid: pid) { text += ", frozen by its cgroup (\(freezer))" }
                return text
            }
            throw SFHAError(
                .conflict,
                "lab '\(name)' was not torn down: \(list.joined(separator: "; ")) did not exit after SIGTERM and "
                    + "SIGKILL. Nothing else was removed, so the lab's namespaces and lab.json still lead to it. A process "
                    + "SIGKILL does not end is blocked in the kernel: thaw a frozen cgroup (THAWED into freezer.state, "
                    + "0 into cgroup.freeze), or wait for the uninterruptible I/O (state D) to end; once it can exit, "
                    + "run 'sfha-lab down --name \(name)' again"
                    + (report.removed.isEmpty ? "" : " (ended meanwhile: \(report.removed.joined(separator: ", ")))"))
        }

        // 2. Interfaces first (deleting the host end removes the pair even if a namespace is still pinned), then
        //    the namespaces themselves — nothing runs in them any more.
        for link in names.links() {
            let result = try await runner.run("ip", ["link", "delete", link], timeout: .seconds(30))
            if result.succeeded || !FileManager.default.fileExists(atPath: "/sys/class/net/\(link)") {
                report.removed.append("interface \(link)")
            } else {
                let detail = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
                problems.append("cannot delete interface \(link): \(detail)")
            }
        }
        for namespace in namespaces {
            let result = try await runner.run("ip", ["netns", "delete", namespace], timeout: .seconds(30))
            if result.succeeded || !FileManager.default.fileExists(atPath: "/run/netns/\(namespace)") {
                report.removed.append("network namespace \(namespace)")
            } else {
                let detail = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
                problems.append("cannot delete network namespace \(namespace): \(detail)")
            }
        }

        // 3. Every mount under the state directory: the mount and UTS namespace files (their last references) and
        //    the private self-bind.
        let (unmounted, stillMounted) = MountTable.unmountEverything(under: directory)
        for path in unmounted {
            let namespaceFile = path.hasSuffix(".mnt") || path.hasSuffix(".uts")
            report.removed.append(namespaceFile ? "namespace mount \(path)" : "mount \(path)")
        }
        if !stillMounted.isEmpty {
            problems.append(
                "still mounted after unmounting (lazily too): \(stillMounted.joined(separator: ", ")); "
                    + "see 'findmnt -R \(directory)'")
        }

        // 4. The state directory, lab.json last: until everything else is gone it is how `list` finds the lab.
        //    Never while something failed above or anything is mounted below it (a recursive delete must not
        //    wander into a mount).
        if FileManager.default.fileExists(atPath: directory) {
            if !problems.isEmpty {
                problems.append("kept \(directory) (and lab.json) so the next 'down' finds what is left")
            } else if let reason = removeStateDirectory(directory) {
                problems.append(reason)
            } else {
                report.removed.append("state directory \(directory)")
            }
        }

        // 5. Shared leftovers once no lab is left.
        report.removed += removeSharedLeftoversIfLastLab()

        guard problems.isEmpty else {
            throw SFHAError(
                .io,
                "lab '\(name)' was only partly torn down: \(problems.joined(separator: "; ")). "
                    + "Fix the cause and run 'sfha-lab down --name \(name)' again")
        }
        return report
    }

    /// Removes a lab's state directory with lab.json last; returns why it could not, or nil.
    static func removeStateDirectory(_ directory: String) -> String? {
        let mounted = MountTable.mounts(under: directory)
        guard mounted.isEmpty else {
            return "not removing \(directory): still mounted there: \(mounted.joined(separator: ", "))"
        }
        let stateFile = "\(directory)/lab.json"
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).map { "\(directory)/\($0)" }
        do {
            for entry in entries where entry != stateFile { try FileManager.default.removeItem(atPath: entry) }
            if FileManager.default.fileExists(atPath: stateFile) { try FileManager.default.removeItem(atPath: stateFile) }
            try FileManager.default.removeItem(atPath: directory)
        } catch {
            return "cannot remove \(directory): \(error)"
        }
        return nil
    }

    /// Removes the host mount-point directories labs created (if still empty) and /run/sfha-lab itself, when
    /// no lab directory remains.
    static func removeSharedLeftoversIfLastLab() -> [String] {
        guard FileManager.default.fileExists(atPath: LabPaths.root) else { return [] }
        let result = try? DirectoryLock.withLock(on: LabPaths.root) { () throws(SFHAError) -> [String] in
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: LabPaths.root)) ?? []
            let otherLabs = entries.filter { (try? LabNames.validateLabName($0)) != nil }
            guard otherLabs.isEmpty else { return [] }
            var removed: [String] = []
            // A directory that is no longer empty now holds someone else's files: it stays (and is forgotten).
            for path in LabMountPointRegistry.read() where rmdir(path) == 0 {
                removed.append("mount point \(path)")
            }
            try LabMountPointRegistry.write([])
            return removed
        }
        if rmdir(LabPaths.root) == 0 { return (result ?? []) + ["directory \(LabPaths.root)"] }
        return result ?? []
    }
}
