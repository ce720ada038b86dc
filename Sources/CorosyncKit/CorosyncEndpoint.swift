import Glibc
internal import CSFHAShim

/// Which corosync to talk to.
///
/// corosync's client IPC uses abstract unix sockets, which belong to a network namespace: a client reaches the
/// corosync running in the namespace its socket was created in. `.networkNamespace` lets one process (a test, the
/// lab, a benchmark) talk to the corosync of another namespace: the calling thread enters that namespace only
/// while a connection is being opened, then returns to its own. The sockets keep their namespace afterwards.
public enum CorosyncEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// The corosync of this process's own network namespace (the normal case).
    case local
    /// The corosync of the network namespace bound at `path`, e.g. `/run/netns/lab-node1`.
    case networkNamespace(path: String)

    public var description: String {
        switch self {
        case .local: "local corosync"
        case .networkNamespace(let path): "corosync in network namespace \(path)"
        }
    }

    /// Runs `body` (which opens connections) with the calling thread inside the endpoint's network namespace.
    /// `body` must be synchronous so the thread cannot change in between.
    func connect<T>(_ body: () throws(CorosyncError) -> T) throws(CorosyncError) -> T {
        guard case .networkNamespace(let path) = self else { return try body() }
        let original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard original >= 0 else { throw CorosyncError(code: .library, function: "open(/proc/thread-self/ns/net)") }
        defer { close(original) }
        let target = open(path, O_RDONLY | O_CLOEXEC)
        guard target >= 0 else { throw CorosyncError(code: .library, function: "open", subject: path) }
        defer { close(target) }
        guard sfha_setns_network(target) == 0 else { throw CorosyncError(code: .access, function: "setns", subject: path) }
        defer {
            // Returning to our own namespace cannot fail for a namespace we were just in; if it ever did, this
            // thread would silently talk to the wrong corosync, so stop rather than continue.
            if sfha_setns_network(original) != 0 { abort() }
        }
        return try body()
    }
}
