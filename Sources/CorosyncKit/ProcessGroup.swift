internal import CCorosync
import Glibc

/// A process in a corosync process group: its node and its pid on that node.
public struct ProcessGroupMember: Sendable, Hashable, Codable, CustomStringConvertible {
    public var nodeID: UInt32
    public var pid: UInt32
    public init(nodeID: UInt32, pid: UInt32) {
        self.nodeID = nodeID
        self.pid = pid
    }
    public var description: String { "\(nodeID)/\(pid)" }
}

/// Why a process joined or left a group.
public enum ProcessGroupChangeReason: String, Sendable, Codable {
    /// The process called join / leave.
    case joined, left
    /// Its node joined or left the corosync membership.
    case nodeUp, nodeDown
    /// The process died (or closed its connection) without leaving.
    case processDown
    case unknown

    init(_ raw: UInt32) {
        switch raw {
        case 1: self = .joined
        case 2: self = .left
        case 3: self = .nodeDown
        case 4: self = .nodeUp
        case 5: self = .processDown
        default: self = .unknown
        }
    }
}

/// A change of a group's membership.
public struct ProcessGroupMembershipChange: Sendable, Equatable {
    public var members: [ProcessGroupMember]
    public var joined: [(member: ProcessGroupMember, reason: ProcessGroupChangeReason)]
    public var left: [(member: ProcessGroupMember, reason: ProcessGroupChangeReason)]

    public init(
        members: [ProcessGroupMember], joined: [(member: ProcessGroupMember, reason: ProcessGroupChangeReason)],
        left: [(member: ProcessGroupMember, reason: ProcessGroupChangeReason)]
    ) {
        self.members = members
        self.joined = joined
        self.left = left
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.members == rhs.members
            && lhs.joined.map(\.member) == rhs.joined.map(\.member) && lhs.joined.map(\.reason) == rhs.joined.map(\.reason)
            && lhs.left.map(\.member) == rhs.left.map(\.member) && lhs.left.map(\.reason) == rhs.left.map(\.reason)
    }
}

/// What a group member receives, in the same total order on every member.
public enum ProcessGroupEvent: Sendable, Equatable {
    case message(from: ProcessGroupMember, payload: [UInt8])
    case membership(ProcessGroupMembershipChange)
    /// The totem ring changed (delivered before the group membership changes it causes).
    case ring(RingID, nodes: [UInt32])
}

/// Membership of one corosync process group (CPG) with totally ordered messaging.
///
/// Messages are sent with CPG_TYPE_AGREED: every member delivers every message in the same order, and
/// membership changes are delivered at the same point of that order on every member (virtual synchrony).
/// A process that dies leaves the group at once (`processDown`), which is how sfha daemons see each other's
/// liveness.
public final class ProcessGroup: Sendable {
    public let name: String
    /// This process's identity in the group.
    public let localMember: ProcessGroupMember
    /// Everything the group delivers. Finishes with an error when corosync goes away, normally after `leave()`.
    public let events: AsyncThrowingStream<ProcessGroupEvent, any Error>
    private let driver: HandleDriver
    private let handle: cpg_handle_t

    /// Connects to CPG and joins the group `name` (1–127 bytes).
    public init(joining name: String, endpoint: CorosyncEndpoint = .local) throws(CorosyncError) {
        guard !name.utf8.isEmpty, name.utf8.count < Int(CPG_MAX_NAME_LENGTH) else {
            throw CorosyncError(code: .invalidParameter, function: "cpg_join", subject: name)
        }
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: ProcessGroupEvent.self, bufferingPolicy: .unbounded)
        let sink = Unmanaged.passRetained(EventSink<ProcessGroupEvent>(continuation))
        var model = cpg_model_v1_data_t()
        model.model = CPG_MODEL_V1
        model.cpg_deliver_fn = cpgDeliver
        model.cpg_confchg_fn = cpgConfigurationChange
        model.cpg_totem_confchg_fn = cpgTotemChange
        // The current ring is delivered first, so a member knows its ring (and its place in the total order) from
        // the start, not only from the next membership change.
        model.flags = UInt32(CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF)
        var handle: cpg_handle_t = 0
        let rc: cs_error_t
        do {
            rc = try endpoint.connect { () -> cs_error_t in
                withUnsafeMutablePointer(to: &model) { pointer in
                    pointer.withMemoryRebound(to: cpg_model_data_t.self, capacity: 1) {
                        cpg_model_initialize(&handle, CPG_MODEL_V1, $0, sink.toOpaque())
                    }
                }
            }
        } catch {
            sink.release()
            throw error
        }
        guard rc.isOK else {
            sink.release()
            throw CorosyncError(rc, "cpg_model_initialize")
        }
        var fd: Int32 = -1
        var localNode: UInt32 = 0
        var groupName = cpgName(name)
        var setup = cpg_fd_get(handle, &fd)
        var failedFunction = "cpg_fd_get"
        if setup.isOK {
            setup = cpg_local_get(handle, &localNode)
            failedFunction = "cpg_local_get"
        }
        if setup.isOK {
            // Joining during a membership change answers TRY_AGAIN: retry briefly, as corosync's tools do.
            for attempt in 0..<50 {
                setup = cpg_join(handle, &groupName)
                failedFunction = "cpg_join"
                if setup != CS_ERR_TRY_AGAIN { break }
                usleep(UInt32(min(10_000 * (attempt + 1), 100_000)))
            }
        }
        guard setup.isOK else {
            cpg_finalize(handle)
            sink.release()
            throw CorosyncError(setup, failedFunction, subject: name)
        }
        self.name = name
        self.handle = handle
        self.localMember = ProcessGroupMember(nodeID: localNode, pid: UInt32(getpid()))
        self.events = stream
        let driver = HandleDriver(label: "cpg.\(name)", library: "cpg")
        self.driver = driver
        let connection = handle  // an immutable copy for the @Sendable closures
        driver.startStreaming(
            fd: fd, sink: sink, dispatch: { cpg_dispatch(connection, CS_DISPATCH_ALL) },
            finalize: {
                cpg_finalize(connection)
            })
    }

    deinit { driver.close() }

    /// Sends `payload` to every member (including this one), in total order. Retries while corosync applies
    /// flow control (TRY_AGAIN), bounded.
    public func send(_ payload: [UInt8]) async throws(CorosyncError) {
        let handle = self.handle
        try await retryingTransient(attempts: 100) { () throws(CorosyncError) in
            try driver.perform("cpg_mcast_joined", subject: name) {
                payload.withUnsafeBytes { bytes in
                    var vector = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
                    return cpg_mcast_joined(handle, CPG_TYPE_AGREED, &vector, 1)
                }
            }
        }
    }

    /// Sends `payload` once, without retrying: nil when corosync took it, else the error (`isTransient` when
    /// corosync applies flow control or is forming a membership). The call runs on the connection's own queue, so
    /// a corosync that answers slowly holds up neither the caller's thread nor Swift's cooperative pool.
    public func trySend(_ payload: [UInt8]) async -> CorosyncError? {
        let handle = self.handle
        let name = self.name
        let driver = self.driver
        return await withCheckedContinuation { (continuation: CheckedContinuation<CorosyncError?, Never>) in
            driver.queue.async {
                let rc: cs_error_t = driver.isClosedOnQueue ? CS_ERR_BAD_HANDLE : payload.withUnsafeBytes { bytes in
                    var vector = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
                    return cpg_mcast_joined(handle, CPG_TYPE_AGREED, &vector, 1)
                }
                continuation.resume(returning: rc.isOK ? nil : CorosyncError(rc, "cpg_mcast_joined", subject: name))
            }
        }
    }

    /// The current members of the group.
    public func members() throws(CorosyncError) -> [ProcessGroupMember] {
        let handle = self.handle
        let name = self.name
        return try driver.perform("cpg_membership_get") { () -> (cs_error_t, [ProcessGroupMember]) in
            var groupName = cpgName(name)
            var list = [cpg_address](repeating: cpg_address(), count: Int(CPG_MEMBERS_MAX))
            var count = Int32(list.count)
            let rc = cpg_membership_get(handle, &groupName, &list, &count)
            return (rc, list.prefix(Int(max(count, 0))).map { ProcessGroupMember(nodeID: $0.nodeid, pid: $0.pid) })
        }
    }

    /// Leaves the group and closes the connection; the others see `left` with reason `.left`.
    public func leave() {
        let handle = self.handle
        let name = self.name
        driver.queue.async {
            var groupName = cpgName(name)
            _ = cpg_leave(handle, &groupName)
        }
        driver.close()
    }
}

private func cpgName(_ name: String) -> cpg_name {
    var result = cpg_name()
    let bytes = Array(name.utf8.prefix(Int(CPG_MAX_NAME_LENGTH) - 1))
    withUnsafeMutableBytes(of: &result.value) { raw in
        raw.copyBytes(from: bytes)
    }
    result.length = UInt32(bytes.count)
    return result
}

private func cpgSink(_ handle: cpg_handle_t) -> EventSink<ProcessGroupEvent>? {
    var context: UnsafeMutableRawPointer?
    guard cpg_context_get(handle, &context).isOK else { return nil }
    return EventSink<ProcessGroupEvent>.from(UnsafeRawPointer(context))
}

private func cpgDeliver(
    _ handle: cpg_handle_t, _ group: UnsafePointer<cpg_name>?, _ nodeID: UInt32, _ pid: UInt32,
    _ message: UnsafeMutableRawPointer?, _ length: Int
) {
    let payload = message.map { Array(UnsafeRawBufferPointer(start: $0, count: length)) } ?? []
    cpgSink(handle)?.continuation.yield(.message(from: ProcessGroupMember(nodeID: nodeID, pid: pid), payload: payload))
}

private func addresses(_ list: UnsafePointer<cpg_address>?, _ count: Int) -> [cpg_address] {
    guard let list, count > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: list, count: count))
}

private func cpgConfigurationChange(
    _ handle: cpg_handle_t, _ group: UnsafePointer<cpg_name>?,
    _ members: UnsafePointer<cpg_address>?, _ memberCount: Int,
    _ left: UnsafePointer<cpg_address>?, _ leftCount: Int,
    _ joined: UnsafePointer<cpg_address>?, _ joinedCount: Int
) {
    func member(_ a: cpg_address) -> ProcessGroupMember { ProcessGroupMember(nodeID: a.nodeid, pid: a.pid) }
    let change = ProcessGroupMembershipChange(
        members: addresses(members, memberCount).map(member),
        joined: addresses(joined, joinedCount).map { (member($0), ProcessGroupChangeReason($0.reason)) },
        left: addresses(left, leftCount).map { (member($0), ProcessGroupChangeReason($0.reason)) })
    cpgSink(handle)?.continuation.yield(.membership(change))
}

private func cpgTotemChange(_ handle: cpg_handle_t, _ ring: cpg_ring_id, _ count: UInt32, _ list: UnsafePointer<UInt32>?) {
    let nodes = list.map { Array(UnsafeBufferPointer(start: $0, count: Int(count))) } ?? []
    cpgSink(handle)?.continuation.yield(.ring(RingID(nodeID: ring.nodeid, sequence: ring.seq), nodes: nodes))
}
