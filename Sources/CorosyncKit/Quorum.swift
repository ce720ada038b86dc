internal import CCorosync

/// A totem ring identifier: the node that formed the ring and its sequence number.
public struct RingID: Sendable, Hashable, Codable, CustomStringConvertible {
    public var nodeID: UInt32
    public var sequence: UInt64
    public init(nodeID: UInt32, sequence: UInt64) {
        self.nodeID = nodeID
        self.sequence = sequence
    }
    public var description: String { "\(nodeID).\(String(sequence, radix: 16))" }
}

/// What corosync's quorum service reports.
public enum QuorumEvent: Sendable, Equatable {
    /// The quorate state and the members of the current ring.
    case quorum(quorate: Bool, ring: RingID, members: [UInt32])
    /// The membership of a new ring, with who joined and who left compared with the previous one.
    case nodeList(ring: RingID, members: [UInt32], joined: [UInt32], left: [UInt32])
}

/// A connection to corosync's quorum service, delivering quorum and membership changes as they happen.
public final class QuorumConnection: Sendable {
    private let driver: HandleDriver
    private let handle: quorum_handle_t
    /// The current state first (CS_TRACK_CURRENT), then every change. Finishes with an error when corosync goes away.
    public let events: AsyncThrowingStream<QuorumEvent, any Error>

    public init(endpoint: CorosyncEndpoint = .local) throws(CorosyncError) {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: QuorumEvent.self, bufferingPolicy: .unbounded)
        let sink = Unmanaged.passRetained(EventSink<QuorumEvent>(continuation))
        var handle: quorum_handle_t = 0
        var quorumType: UInt32 = 0
        var model = quorum_model_v1_data_t()
        model.model = QUORUM_MODEL_V1
        model.quorum_notify_fn = quorumNotify
        model.nodelist_notify_fn = nodeListNotify
        let rc: cs_error_t
        do {
            rc = try endpoint.connect { () -> cs_error_t in
                withUnsafeMutablePointer(to: &model) { pointer in
                    pointer.withMemoryRebound(to: quorum_model_data_t.self, capacity: 1) {
                        quorum_model_initialize(&handle, QUORUM_MODEL_V1, $0, &quorumType, sink.toOpaque())
                    }
                }
            }
        } catch {
            sink.release()
            throw error
        }
        guard rc.isOK else {
            sink.release()
            throw CorosyncError(rc, "quorum_model_initialize")
        }
        var fd: Int32 = -1
        var setup = quorum_fd_get(handle, &fd)
        var failedFunction = "quorum_fd_get"
        if setup.isOK {
            setup = quorum_trackstart(handle, UInt32(CS_TRACK_CURRENT | CS_TRACK_CHANGES))
            failedFunction = "quorum_trackstart"
        }
        guard setup.isOK else {
            quorum_finalize(handle)
            sink.release()
            throw CorosyncError(setup, failedFunction)
        }
        self.handle = handle
        self.events = stream
        let driver = HandleDriver(label: "quorum", library: "quorum")
        self.driver = driver
        let connection = handle  // an immutable copy for the @Sendable closures
        driver.startStreaming(
            fd: fd, sink: sink, dispatch: { quorum_dispatch(connection, CS_DISPATCH_ALL) },
            finalize: {
                _ = quorum_trackstop(connection)
                quorum_finalize(connection)
            })
    }

    deinit { driver.close() }

    public func close() { driver.close() }

    /// Whether this node's partition is quorate right now.
    public func isQuorate() throws(CorosyncError) -> Bool {
        let handle = self.handle
        return try driver.perform("quorum_getquorate") { () -> (cs_error_t, Bool) in
            var quorate: Int32 = 0
            let rc = quorum_getquorate(handle, &quorate)
            return (rc, quorate != 0)
        }
    }
}

private func quorumSink(_ handle: quorum_handle_t) -> EventSink<QuorumEvent>? {
    var context: UnsafeRawPointer?
    guard quorum_context_get(handle, &context).isOK else { return nil }
    return EventSink<QuorumEvent>.from(context)
}

private func nodeIDs(_ list: UnsafePointer<UInt32>?, _ count: UInt32) -> [UInt32] {
    guard let list, count > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: list, count: Int(count)))
}

private func quorumNotify(
    _ handle: quorum_handle_t, _ quorate: UInt32, _ ring: quorum_ring_id, _ count: UInt32, _ list: UnsafePointer<UInt32>?
) {
    quorumSink(handle)?.continuation.yield(
        .quorum(quorate: quorate != 0, ring: RingID(nodeID: ring.nodeid, sequence: ring.seq), members: nodeIDs(list, count)))
}

private func nodeListNotify(
    _ handle: quorum_handle_t, _ ring: quorum_ring_id,
    _ memberCount: UInt32, _ members: UnsafePointer<UInt32>?,
    _ joinedCount: UInt32, _ joined: UnsafePointer<UInt32>?,
    _ leftCount: UInt32, _ left: UnsafePointer<UInt32>?
) {
    quorumSink(handle)?.continuation.yield(
        .nodeList(
            ring: RingID(nodeID: ring.nodeid, sequence: ring.seq), members: nodeIDs(members, memberCount),
            joined: nodeIDs(joined, joinedCount), left: nodeIDs(left, leftCount)))
}
