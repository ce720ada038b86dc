import Foundation
import SFHABase

#if canImport(Glibc)
import Glibc
#endif

/// One host of a lab: a corosync node (`node<i>`) or the client host (`client`).
public struct LabNode: Sendable, Codable, Equatable {
    /// "node1" … "node16", or "client".
    public var name: String
    /// 1…16 for nodes (also the corosync nodeid); 0 for the client host.
    public var index: Int
    /// The host's IPv4 address on the lab subnet.
    public var address: String
    /// The network namespace (`ip netns` name), e.g. "sfha-node1".
    public var networkNamespace: String
    /// The bridge-side end of the host's veth pair (the host-netns interface `isolate` sets down).
    public var hostInterface: String
    /// The host's interface inside its namespace.
    public var interface: String
    /// Per-node state directory on the host (nil for the client host, which has no private mounts).
    public var stateDirectory: String?
    /// Bind-mounted persistent mount namespace (nil for the client host).
    public var mountNamespaceFile: String?
    /// Bind-mounted persistent UTS namespace, so `hostname` says the node name (nil for the client host).
    public var utsNamespaceFile: String?

    public var isClientHost: Bool { index == 0 }
    public var nodeID: Int { index }
}

/// A long-running process started by `Lab.spawn`, recorded so `down` can find it.
public struct LabSpawnedProcess: Sendable, Codable, Equatable {
    public var node: String
    public var pid: Int32
    public var arguments: [String]
    public var logFile: String
}

/// Faults currently applied, so `status` can show them and `heal` can undo them.
public struct LabFaults: Sendable, Codable, Equatable {
    public var isolated: [String] = []
    public var partition: [[String]]? = nil
    public var droppingIncoming: [String] = []
    /// node → "delay=…ms loss=…%" (how it is applied is in `netemMechanism`).
    public var netem: [String: String] = [:]

    public init() {}
}

/// Everything `lab.json` records: enough for any process to run commands in the lab or tear it down.
public struct LabState: Sendable, Codable, Equatable {
    public var formatVersion: Int = 1
    public var spec: LabSpec
    public var subnet: String
    public var bridge: String
    public var stateDirectory: String
    public var binDirectory: String
    public var nodes: [LabNode]
    public var clientHost: LabNode
    /// corosync pid per node name (as last started by the lab).
    public var corosyncPIDs: [String: Int32] = [:]
    public var spawned: [LabSpawnedProcess] = []
    public var faults = LabFaults()
    /// Seconds since 1970 when `up` started.
    public var createdAt: Double
    /// The pid of the process that ran `up` (diagnostics only).
    public var createdByPID: Int32
}

/// File-system layout of labs.
public enum LabPaths {
    /// Root of all lab state. On the host's /run so a reboot forgets labs, like it forgets namespaces.
    public static let root = "/run/sfha-lab"

    public static func stateDirectory(_ lab: String) -> String { "\(root)/\(lab)" }
    public static func stateFile(_ lab: String) -> String { "\(root)/\(lab)/lab.json" }
    public static func binDirectory(_ lab: String) -> String { "\(root)/\(lab)/bin" }

    /// Inside every node, its own state directory is also bind-mounted here (its units, identity, logs).
    public static let nodeDirectoryInsideNode = "/run/sfha-lab-node"
    /// Inside every node: pid and enable/mask files of the systemctl stand-in (on the node's private /run tmpfs).
    public static let unitStateInsideNode = "/run/sfha-lab-units"

    /// Host directory → the per-node subdirectory bind-mounted over it inside each node.
    public static let nodeBindMounts: [(target: String, subdirectory: String)] = [
        ("/etc/corosync", "etc-corosync"),
        ("/var/lib/corosync", "var-lib-corosync"),
        ("/var/log/corosync", "var-log-corosync"),
        ("/etc/sfha", "etc-sfha"),
        ("/etc/wireguard", "etc-wireguard"),
        ("/var/lib/sfha", "var-lib-sfha"),
    ]
}

extension LabState {
    static func decode(_ bytes: [UInt8], path: String) throws(SFHAError) -> LabState {
        do {
            return try JSONDecoder().decode(LabState.self, from: Data(bytes))
        } catch {
            throw SFHAError(
                .invalidState, "lab state \(path) is unreadable; tear the lab down with 'sfha-lab down --name <lab>'",
                cause: error)
        }
    }

    func encoded() throws(SFHAError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            return Array(try encoder.encode(self)) + [UInt8(ascii: "\n")]
        } catch {
            throw SFHAError(.internalError, "could not encode the state of lab '\(spec.name)'", cause: error)
        }
    }

    static func read(lab: String) throws(SFHAError) -> LabState {
        let path = LabPaths.stateFile(lab)
        let bytes: [UInt8]
        do {
            bytes = try AtomicFile.read(path)
        } catch where error.code == .notFound {
            throw SFHAError(.notFound, "lab '\(lab)' does not exist (no \(path)); start it with 'sfha-lab up --name \(lab)'")
        }
        return try decode(bytes, path: path)
    }

    func write() throws(SFHAError) {
        try AtomicFile.write(try encoded(), to: LabPaths.stateFile(spec.name), mode: 0o644)
    }

    /// Read-modify-write of lab.json under an exclusive lock on the lab directory, so concurrent `sfha-lab`
    /// processes (e.g. two fault commands) do not lose each other's updates.
    @discardableResult
    static func update(lab: String, _ change: (inout LabState) throws(SFHAError) -> Void) throws(SFHAError) -> LabState {
        try DirectoryLock.withLock(on: LabPaths.stateDirectory(lab)) { () throws(SFHAError) -> LabState in
            var state = try read(lab: lab)
            try change(&state)
            try state.write()
            return state
        }
    }
}

/// An advisory `flock` on a directory (labs lock their state directory; `up`/`down` lock the root for the
/// shared mount-point bookkeeping).
enum DirectoryLock {
    static func withLock<T>(on directory: String, _ body: () throws(SFHAError) -> T) throws(SFHAError) -> T {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw SFHAError(.io, "cannot open \(directory) to lock it: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw SFHAError(.io, "cannot lock \(directory): \(String(cString: strerror(errno)))")
            }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}
