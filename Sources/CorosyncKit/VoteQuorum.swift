internal import CCorosync

/// votequorum's flags for a node (`corosync-quorumtool -s` "Flags:").
public struct QuorumFlags: OptionSet, Sendable, Hashable, Codable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let twoNode = QuorumFlags(rawValue: 1)
    public static let quorate = QuorumFlags(rawValue: 2)
    public static let waitForAll = QuorumFlags(rawValue: 4)
    public static let lastManStanding = QuorumFlags(rawValue: 8)
    public static let autoTieBreaker = QuorumFlags(rawValue: 16)
    public static let allowDownscale = QuorumFlags(rawValue: 32)
    public static let qdeviceRegistered = QuorumFlags(rawValue: 64)
    public static let qdeviceAlive = QuorumFlags(rawValue: 128)
    public static let qdeviceCastVote = QuorumFlags(rawValue: 256)
    public static let qdeviceMasterWins = QuorumFlags(rawValue: 512)

    /// Names as `corosync-quorumtool` prints them.
    public var names: [String] {
        let table: [(QuorumFlags, String)] = [
            (.twoNode, "2Node"), (.quorate, "Quorate"), (.waitForAll, "WaitForAll"),
            (.lastManStanding, "LastManStanding"), (.autoTieBreaker, "AutoTieBreaker"),
            (.allowDownscale, "AllowDownscale"), (.qdeviceRegistered, "Qdevice"),
            (.qdeviceAlive, "QdeviceAlive"), (.qdeviceCastVote, "QdeviceCastVote"),
            (.qdeviceMasterWins, "QdeviceMasterWins"),
        ]
        return table.filter { contains($0.0) }.map(\.1)
    }
}

/// A node's state as votequorum sees it.
public enum VoteQuorumNodeState: String, Sendable, Codable {
    case member, dead, leaving, unknown
    init(_ raw: UInt32) {
        switch raw {
        case 1: self = .member
        case 2: self = .dead
        case 3: self = .leaving
        default: self = .unknown
        }
    }
}

/// `votequorum_getinfo` for one node.
public struct VoteQuorumInfo: Sendable, Equatable, Codable {
    public var nodeID: UInt32
    public var state: VoteQuorumNodeState
    public var votes: UInt32
    public var expectedVotes: UInt32
    public var highestExpected: UInt32
    public var totalVotes: UInt32
    public var quorum: UInt32
    public var flags: QuorumFlags
    public var qdeviceVotes: UInt32
    public var qdeviceName: String
}

/// What votequorum reports when tracking.
public enum VoteQuorumEvent: Sendable, Equatable {
    case quorum(quorate: Bool, nodes: [(nodeID: UInt32, state: VoteQuorumNodeState)])
    case expectedVotes(UInt32)
    case nodeList(ring: RingID, members: [UInt32])

    public static func == (lhs: VoteQuorumEvent, rhs: VoteQuorumEvent) -> Bool {
        switch (lhs, rhs) {
        case let (.quorum(a, n1), .quorum(b, n2)):
            a == b && n1.map(\.nodeID) == n2.map(\.nodeID) && n1.map(\.state) == n2.map(\.state)
        case let (.expectedVotes(a), .expectedVotes(b)): a == b
        case let (.nodeList(r1, m1), .nodeList(r2, m2)): r1 == r2 && m1 == m2
        default: false
        }
    }
}

/// A connection to votequorum: votes, expected votes, quorum and flags, plus change notifications.
public final class VoteQuorumConnection: Sendable {
    private let driver: HandleDriver
    private let handle: votequorum_handle_t
    /// Changes of quorum, node states and expected votes (current state first). Finishes with an error when
    /// corosync goes away.
    public let events: AsyncThrowingStream<VoteQuorumEvent, any Error>

    public init(endpoint: CorosyncEndpoint = .local) throws(CorosyncError) {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: VoteQuorumEvent.self, bufferingPolicy: .unbounded)
        let sink = Unmanaged.passRetained(EventSink<VoteQuorumEvent>(continuation))
        var callbacks = votequorum_callbacks_t(
            votequorum_quorum_notify_fn: voteQuorumNotify,
            votequorum_expectedvotes_notify_fn: voteQuorumExpectedNotify,
            votequorum_nodelist_notify_fn: voteQuorumNodeListNotify)
        var handle: votequorum_handle_t = 0
        let rc: cs_error_t
        do {
            rc = try endpoint.connect { () -> cs_error_t in votequorum_initialize(&handle, &callbacks) }
        } catch {
            sink.release()
            throw error
        }
        guard rc.isOK else {
            sink.release()
            throw CorosyncError(rc, "votequorum_initialize")
        }
        var fd: Int32 = -1
        var setup = votequorum_fd_get(handle, &fd)
        var failedFunction = "votequorum_fd_get"
        if setup.isOK {
            // votequorum hands a 64-bit context to callbacks: the sink's address.
            let context = UInt64(UInt(bitPattern: sink.toOpaque()))
            setup = votequorum_trackstart(handle, context, UInt32(CS_TRACK_CURRENT | CS_TRACK_CHANGES))
            failedFunction = "votequorum_trackstart"
        }
        guard setup.isOK else {
            votequorum_finalize(handle)
            sink.release()
            throw CorosyncError(setup, failedFunction)
        }
        self.handle = handle
        self.events = stream
        let driver = HandleDriver(label: "votequorum", library: "votequorum")
        self.driver = driver
        let connection = handle  // an immutable copy for the @Sendable closures
        driver.startStreaming(
            fd: fd, sink: sink, dispatch: { votequorum_dispatch(connection, CS_DISPATCH_ALL) },
            finalize: {
                _ = votequorum_trackstop(connection)
                votequorum_finalize(connection)
            })
    }

    deinit { driver.close() }

    public func close() { driver.close() }

    /// votequorum's view of `nodeID` (0 = this node).
    public func info(nodeID: UInt32 = 0) async throws(CorosyncError) -> VoteQuorumInfo {
        let handle = self.handle
        return try await retryingTransient { () throws(CorosyncError) -> VoteQuorumInfo in
            try driver.perform("votequorum_getinfo") { () -> (cs_error_t, VoteQuorumInfo) in
                var info = votequorum_info()
                let rc = votequorum_getinfo(handle, nodeID, &info)
                return (rc, VoteQuorumInfo(
                    nodeID: info.node_id, state: VoteQuorumNodeState(info.node_state), votes: info.node_votes,
                    expectedVotes: info.node_expected_votes, highestExpected: info.highest_expected,
                    totalVotes: info.total_votes, quorum: info.quorum, flags: QuorumFlags(rawValue: info.flags),
                    qdeviceVotes: info.qdevice_votes, qdeviceName: stringFromCTuple(info.qdevice_name)))
            }
        }
    }
}

private func voteSink(_ context: UInt64) -> EventSink<VoteQuorumEvent>? {
    EventSink<VoteQuorumEvent>.from(UnsafeRawPointer(bitPattern: UInt(context)))
}

private func voteQuorumNotify(
    _ handle: votequorum_handle_t, _ context: UInt64, _ quorate: UInt32, _ count: UInt32,
    _ nodes: UnsafeMutablePointer<votequorum_node_t>?
) {
    let list = nodes.map { Array(UnsafeBufferPointer(start: $0, count: Int(count))) } ?? []
    voteSink(context)?.continuation.yield(
        .quorum(quorate: quorate != 0, nodes: list.map { ($0.nodeid, VoteQuorumNodeState($0.state)) }))
}

private func voteQuorumExpectedNotify(_ handle: votequorum_handle_t, _ context: UInt64, _ expected: UInt32) {
    voteSink(context)?.continuation.yield(.expectedVotes(expected))
}

private func voteQuorumNodeListNotify(
    _ handle: votequorum_handle_t, _ context: UInt64, _ ring: votequorum_ring_id_t, _ count: UInt32,
    _ members: UnsafeMutablePointer<UInt32>?
) {
    let list = members.map { Array(UnsafeBufferPointer(start: $0, count: Int(count))) } ?? []
    voteSink(context)?.continuation.yield(.nodeList(ring: RingID(nodeID: ring.nodeid, sequence: ring.seq), members: list))
}
