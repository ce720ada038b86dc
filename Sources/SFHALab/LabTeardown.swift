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

    /// Unmounts `path` until it is no longer a mount point (it may be stacked); lazily as a last resort.
    static func unmountAll(_ path: String) -> Bool {
        var attempts = 0
        while isMountPoint(path) {
            attempts += 1
            if attempts > 8 { return false }
            if umount2(path, 0) != 0 {
                if errno == EINVAL || errno == ENOENT { return !isMountPoint(path) }
                _ = umount2(path, Int32(MNT_DETACH))
            }
        }
        return true
    }
}

extension Lab {
    /// Tears a lab down completely and idempotently: every process in its namespaces (corosync, spawned and
    /// anything else), the namespace mounts, the veths and bridge, the namespaces (with their nftables tables and
    /// qdiscs), the state directory, and host mount points the lab created (once no lab is left).
    /// Works from lab.json, and by name pattern when lab.json is missing or broken (after a crash).
    /// Throws only when something could not be removed, naming it; everything else is removed first.
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

        // 1. Processes: everything whose network or mount namespace belongs to the lab.
        let namespaces = names.networkNamespaces()
        let namespaceFiles = Set(
            (state?.nodes ?? []).flatMap { [$0.mountNamespaceFile, $0.utsNamespaceFile].compactMap { $0 } }
                + (((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
                    .filter { $0.hasSuffix(".mnt") || $0.hasSuffix(".uts") }.map { "\(directory)/\($0)" })
        ).sorted()
        let netInodes = Set(namespaces.compactMap { ProcessTable.namespaceInode(ofFile: "/run/netns/\($0)") })
        let mntInodes = Set(namespaceFiles.filter { $0.hasSuffix(".mnt") }.compactMap(ProcessTable.namespaceInode(ofFile:)))
        var victims: [LabProcess] = []
        let ownPID = getpid()
        for pid in ProcessTable.allPIDs() where pid != ownPID {
            let net = ProcessTable.namespaceInode(pid: pid, kind: "net")
            let mnt = ProcessTable.namespaceInode(pid: pid, kind: "mnt")
            if (net.map(netInodes.contains) ?? false) || (mnt.map(mntInodes.contains) ?? false) {
                victims.append(
                    LabProcess(pid: pid, name: ProcessTable.shortName(pid: pid), commandLine: []))
            }
        }
        let survivors = await ProcessTable.terminate(victims.map(\.pid))
        for victim in victims where !survivors.contains(victim.pid) {
            report.removed.append("process \(victim.pid) (\(victim.name))")
        }
        for pid in survivors { problems.append("process \(pid) (\(ProcessTable.shortName(pid: pid))) survived SIGKILL") }

        // 2. Namespace files (the last references to the mount and UTS namespaces).
        for file in namespaceFiles {
            if MountTable.isMountPoint(file) {
                if MountTable.unmountAll(file) {
                    report.removed.append("namespace mount \(file)")
                } else {
                    problems.append("cannot unmount \(file)")
                }
            }
        }

        // 3. Interfaces first (deleting the host end removes the pair even if a namespace is still pinned), then
        //    the namespaces themselves.
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

        // 4. The state directory: its private self-bind, then the files — but never while anything is still
        //    mounted below it (a recursive delete must not wander into a mount).
        if FileManager.default.fileExists(atPath: directory) {
            if MountTable.isMountPoint(directory), !MountTable.unmountAll(directory) {
                problems.append("cannot unmount \(directory)")
            }
            let remaining = MountTable.mounts(under: directory)
            if remaining.isEmpty {
                do {
                    try FileManager.default.removeItem(atPath: directory)
                    report.removed.append("state directory \(directory)")
                } catch {
                    problems.append("cannot remove \(directory): \(error)")
                }
            } else {
                problems.append("not removing \(directory): still mounted there: \(remaining.joined(separator: ", "))")
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
