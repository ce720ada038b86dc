internal import CCorosync
import Glibc

/// A typed cmap value.
public enum CMapValue: Sendable, Hashable, CustomStringConvertible {
    case int8(Int8), uint8(UInt8), int16(Int16), uint16(UInt16), int32(Int32), uint32(UInt32)
    case int64(Int64), uint64(UInt64), float(Float), double(Double), string(String), binary([UInt8])

    public var description: String {
        switch self {
        case .int8(let v): "\(v)"
        case .uint8(let v): "\(v)"
        case .int16(let v): "\(v)"
        case .uint16(let v): "\(v)"
        case .int32(let v): "\(v)"
        case .uint32(let v): "\(v)"
        case .int64(let v): "\(v)"
        case .uint64(let v): "\(v)"
        case .float(let v): "\(v)"
        case .double(let v): "\(v)"
        case .string(let v): v
        case .binary(let v): v.map { String($0, radix: 16) }.joined(separator: " ")
        }
    }

    /// The value as an unsigned integer, when it is an integer type holding a non-negative value.
    public var unsignedValue: UInt64? {
        switch self {
        case .int8(let v): v >= 0 ? UInt64(v) : nil
        case .uint8(let v): UInt64(v)
        case .int16(let v): v >= 0 ? UInt64(v) : nil
        case .uint16(let v): UInt64(v)
        case .int32(let v): v >= 0 ? UInt64(v) : nil
        case .uint32(let v): UInt64(v)
        case .int64(let v): v >= 0 ? UInt64(v) : nil
        case .uint64(let v): v
        case .string(let v): UInt64(v)
        default: nil
        }
    }

    public var stringValue: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    /// Decodes a value from corosync's (type, bytes) representation.
    init?(type: cmap_value_types_t, bytes: UnsafeRawBufferPointer) {
        func load<T>(_: T.Type) -> T? {
            guard bytes.count >= MemoryLayout<T>.size else { return nil }
            return bytes.loadUnaligned(as: T.self)
        }
        switch type {
        case CMAP_VALUETYPE_INT8: guard let v = load(Int8.self) else { return nil }; self = .int8(v)
        case CMAP_VALUETYPE_UINT8: guard let v = load(UInt8.self) else { return nil }; self = .uint8(v)
        case CMAP_VALUETYPE_INT16: guard let v = load(Int16.self) else { return nil }; self = .int16(v)
        case CMAP_VALUETYPE_UINT16: guard let v = load(UInt16.self) else { return nil }; self = .uint16(v)
        case CMAP_VALUETYPE_INT32: guard let v = load(Int32.self) else { return nil }; self = .int32(v)
        case CMAP_VALUETYPE_UINT32: guard let v = load(UInt32.self) else { return nil }; self = .uint32(v)
        case CMAP_VALUETYPE_INT64: guard let v = load(Int64.self) else { return nil }; self = .int64(v)
        case CMAP_VALUETYPE_UINT64: guard let v = load(UInt64.self) else { return nil }; self = .uint64(v)
        case CMAP_VALUETYPE_FLOAT: guard let v = load(Float.self) else { return nil }; self = .float(v)
        case CMAP_VALUETYPE_DOUBLE: guard let v = load(Double.self) else { return nil }; self = .double(v)
        case CMAP_VALUETYPE_STRING:
            // The length corosync reports includes the trailing NUL.
            let end = bytes.firstIndex(of: 0) ?? bytes.count
            self = .string(String(decoding: bytes[0..<end], as: UTF8.self))
        case CMAP_VALUETYPE_BINARY: self = .binary(Array(bytes))
        default: return nil
        }
    }

    fileprivate func withCRepresentation<R>(_ body: (UnsafeRawBufferPointer, cmap_value_types_t) -> R) -> R {
        func raw<T>(_ value: T, _ type: cmap_value_types_t) -> R {
            withUnsafeBytes(of: value) { body($0, type) }
        }
        switch self {
        case .int8(let v): return raw(v, CMAP_VALUETYPE_INT8)
        case .uint8(let v): return raw(v, CMAP_VALUETYPE_UINT8)
        case .int16(let v): return raw(v, CMAP_VALUETYPE_INT16)
        case .uint16(let v): return raw(v, CMAP_VALUETYPE_UINT16)
        case .int32(let v): return raw(v, CMAP_VALUETYPE_INT32)
        case .uint32(let v): return raw(v, CMAP_VALUETYPE_UINT32)
        case .int64(let v): return raw(v, CMAP_VALUETYPE_INT64)
        case .uint64(let v): return raw(v, CMAP_VALUETYPE_UINT64)
        case .float(let v): return raw(v, CMAP_VALUETYPE_FLOAT)
        case .double(let v): return raw(v, CMAP_VALUETYPE_DOUBLE)
        case .string(let v):
            var bytes = Array(v.utf8)
            bytes.append(0)
            return bytes.withUnsafeBytes { body($0, CMAP_VALUETYPE_STRING) }
        case .binary(let v): return v.withUnsafeBytes { body($0, CMAP_VALUETYPE_BINARY) }
        }
    }
}

/// One change seen by a cmap track.
public struct CMapChange: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case added, modified, deleted }
    public var kind: Kind
    public var key: String
    public var newValue: CMapValue?
    public var oldValue: CMapValue?
}

/// A connection to corosync's cmap: its node-local key/value database.
///
/// cmap is **not replicated**: a key written here exists only in this node's corosync process (and is lost when
/// corosync restarts). Use it to read corosync's own configuration and runtime state, or as a node-local cache —
/// never to share state between nodes (sfha uses CPG for that, see `ProcessGroup`).
public final class CMap: Sendable {
    private let driver: HandleDriver
    private let handle: cmap_handle_t
    private let tracks: TrackRegistry
    /// The connection's socket (libqb's, for requests and events), kept for `withdrawPendingRequest`.
    private let socket: Int32

    /// Which of corosync's key/value maps a connection reads.
    public enum Map: Sendable {
        /// Configuration and runtime state (`totem.*`, `nodelist.*`, `runtime.*`).
        case main
        /// Live statistics (`stats.srp.*`, `stats.knet.*`, …), computed by corosync when read.
        case stats
    }

    /// Connects to corosync's cmap (`map`: the main map unless told otherwise).
    public init(endpoint: CorosyncEndpoint = .local, map: Map = .main) throws(CorosyncError) {
        var handle: cmap_handle_t = 0
        var fd: Int32 = -1
        try endpoint.connect { () throws(CorosyncError) in
            let rc = cmap_initialize_map(&handle, map == .stats ? CMAP_MAP_STATS : CMAP_MAP_DEFAULT)
            guard rc.isOK else { throw CorosyncError(rc, "cmap_initialize_map") }
            let fdResult = cmap_fd_get(handle, &fd)
            guard fdResult.isOK else {
                cmap_finalize(handle)
                throw CorosyncError(fdResult, "cmap_fd_get")
            }
        }
        self.handle = handle
        self.socket = fd
        self.driver = HandleDriver(label: "cmap", library: "cmap")
        let tracks = TrackRegistry()
        self.tracks = tracks
        let connection = handle  // an immutable copy for the @Sendable closures
        driver.start(
            fd: fd,
            dispatch: { cmap_dispatch(connection, CS_DISPATCH_ALL) },
            finalize: {
                cmap_finalize(connection)
                tracks.finishAll(throwing: nil)
            },
            onLoss: { error in tracks.finishAll(throwing: error) })
    }

    deinit { driver.close() }

    /// Closes the connection; every track stream finishes.
    public func close() { driver.close() }

    /// Withdraws a request that corosync holds back: shuts the connection's socket down (without closing it), so
    /// corosync drops the connection at once and the waiting call fails soon after (within libqb's 2 s wait). Any
    /// thread may call it, but only while a call on this connection is in flight (the descriptor is then still
    /// this connection's); the connection is unusable afterwards and must be closed.
    public func withdrawPendingRequest() { _ = Glibc.shutdown(socket, Int32(SHUT_RDWR)) }

    /// The value of `key`, or nil when the key does not exist.
    public func get(_ key: String) async throws(CorosyncError) -> CMapValue? {
        try await retryingTransient { () throws(CorosyncError) -> CMapValue? in
            try driver.withOpenHandle("cmap_get") { () throws(CorosyncError) -> CMapValue? in
                try Self.read(handle, key)
            }
        }
    }

    /// The value of `key` read on the calling thread, which waits for corosync's answer (for a dedicated thread
    /// such as `TotemActivityMonitor`'s; async code uses `get`). No retry: a transient error is thrown.
    public func getNow(_ key: String) throws(CorosyncError) -> CMapValue? {
        try driver.withOpenHandle("cmap_get") { () throws(CorosyncError) -> CMapValue? in try Self.read(handle, key) }
    }

    /// An integer key read on the calling thread with a single request (no size query first: statistics are read
    /// several times a second). nil when the key does not exist or does not hold a non-negative integer.
    public func unsignedNow(_ key: String) throws(CorosyncError) -> UInt64? {
        try driver.withOpenHandle("cmap_get") { () throws(CorosyncError) -> UInt64? in
            var buffer = (UInt64(0), UInt64(0))
            var length = MemoryLayout.size(ofValue: buffer)
            var type = cmap_value_types_t(rawValue: 0)
            let rc = withUnsafeMutableBytes(of: &buffer) { cmap_get(handle, key, $0.baseAddress, &length, &type) }
            if rc == CS_ERR_NOT_EXIST { return nil }
            guard rc.isOK else { throw CorosyncError(rc, "cmap_get", subject: key) }
            return withUnsafeBytes(of: &buffer) { CMapValue(type: type, bytes: UnsafeRawBufferPointer(rebasing: $0[0..<min(length, $0.count)])) }?
                .unsignedValue
        }
    }

    /// Sets `key` to `value`, creating it if needed.
    public func set(_ key: String, _ value: CMapValue) async throws(CorosyncError) {
        try await retryingTransient { () throws(CorosyncError) in
            try driver.perform("cmap_set", subject: key) {
                value.withCRepresentation { bytes, type in cmap_set(handle, key, bytes.baseAddress, bytes.count, type) }
            }
        }
    }

    /// Deletes `key`. Deleting a key that does not exist is not an error.
    public func delete(_ key: String) async throws(CorosyncError) {
        do {
            try await retryingTransient { () throws(CorosyncError) in
                try driver.perform("cmap_delete", subject: key) { cmap_delete(handle, key) }
            }
        } catch where error.code == .notExist {
            return
        }
    }

    /// Every key starting with `prefix` (all keys for ""), in corosync's order, with its value.
    public func entries(prefix: String = "") async throws(CorosyncError) -> [(key: String, value: CMapValue)] {
        try await retryingTransient { () throws(CorosyncError) -> [(key: String, value: CMapValue)] in
            try driver.withOpenHandle("cmap_iter_init") { () throws(CorosyncError) -> [(key: String, value: CMapValue)] in
                var iterator: cmap_iter_handle_t = 0
                let rc = cmap_iter_init(handle, prefix.isEmpty ? nil : prefix, &iterator)
                guard rc.isOK else { throw CorosyncError(rc, "cmap_iter_init", subject: prefix) }
                defer { cmap_iter_finalize(handle, iterator) }
                var result: [(key: String, value: CMapValue)] = []
                var name = [CChar](repeating: 0, count: Int(CMAP_KEYNAME_MAXLEN) + 1)
                while true {
                    var length = 0
                    var type = cmap_value_types_t(rawValue: 0)
                    let next = cmap_iter_next(handle, iterator, &name, &length, &type)
                    if next == CS_ERR_NO_SECTIONS { break }
                    guard next.isOK else { throw CorosyncError(next, "cmap_iter_next", subject: prefix) }
                    let key = name.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                    // A key can vanish between iteration and read: skip it rather than fail the whole listing.
                    if let value = try Self.read(handle, key) { result.append((key, value)) }
                }
                return result
            }
        }
    }

    /// Changes to `key` (or every key under it when `prefix` is true), as they happen.
    /// The stream finishes with an error when corosync goes away, and normally when the consumer stops iterating
    /// or the connection is closed.
    public func track(_ key: String, prefix: Bool = true) throws(CorosyncError) -> AsyncThrowingStream<CMapChange, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: CMapChange.self, bufferingPolicy: .unbounded)
        let sink = Unmanaged.passRetained(EventSink<CMapChange>(continuation))
        let flags = CMAP_TRACK_ADD | CMAP_TRACK_DELETE | CMAP_TRACK_MODIFY | (prefix ? CMAP_TRACK_PREFIX : 0)
        let handle = self.handle
        let driver = self.driver
        let tracks = self.tracks
        let trackHandle: cmap_track_handle_t
        do {
            trackHandle = try driver.perform("cmap_track_add") { () -> (cs_error_t, cmap_track_handle_t) in
                var track: cmap_track_handle_t = 0
                let rc = cmap_track_add(handle, key, flags, cmapNotify, sink.toOpaque(), &track)
                if rc.isOK { tracks.add(track, sink) }
                return (rc, track)
            }
        } catch {
            sink.release()
            throw error
        }
        continuation.onTermination = { _ in
            // Stop tracking on the handle's queue; the sink is released only once no callback can use it.
            driver.queue.async {
                if let sink = tracks.remove(trackHandle) {
                    if !driver.isClosedOnQueue { cmap_track_delete(handle, trackHandle) }
                    sink.release()
                }
            }
        }
        return stream
    }

    private static func read(_ handle: cmap_handle_t, _ key: String) throws(CorosyncError) -> CMapValue? {
        var length = 0
        var type = cmap_value_types_t(rawValue: 0)
        let sizeRC = cmap_get(handle, key, nil, &length, &type)
        if sizeRC == CS_ERR_NOT_EXIST { return nil }
        guard sizeRC.isOK else { throw CorosyncError(sizeRC, "cmap_get", subject: key) }
        var buffer = [UInt8](repeating: 0, count: max(length, 1))
        var bufferLength = buffer.count
        let rc = buffer.withUnsafeMutableBytes { cmap_get(handle, key, $0.baseAddress, &bufferLength, &type) }
        if rc == CS_ERR_NOT_EXIST { return nil }
        guard rc.isOK else { throw CorosyncError(rc, "cmap_get", subject: key) }
        return buffer.withUnsafeBytes { CMapValue(type: type, bytes: UnsafeRawBufferPointer(rebasing: $0[0..<bufferLength])) }
    }
}

/// The sinks of active tracks, so that a lost connection can finish every stream.
/// Only used on the handle's queue (callbacks, track add/remove, finalize) — hence unchecked.
private final class TrackRegistry: @unchecked Sendable {
    private var sinks: [cmap_track_handle_t: Unmanaged<EventSink<CMapChange>>] = [:]

    func add(_ track: cmap_track_handle_t, _ sink: Unmanaged<EventSink<CMapChange>>) { sinks[track] = sink }
    func remove(_ track: cmap_track_handle_t) -> Unmanaged<EventSink<CMapChange>>? { sinks.removeValue(forKey: track) }

    func finishAll(throwing error: CorosyncError?) {
        let all = sinks
        sinks = [:]
        for sink in all.values {
            sink.takeUnretainedValue().continuation.finish(throwing: error)
            sink.release()
        }
    }
}

private func cmapNotify(
    _ handle: cmap_handle_t, _ track: cmap_track_handle_t, _ event: Int32, _ keyName: UnsafePointer<CChar>?,
    _ newValue: cmap_notify_value, _ oldValue: cmap_notify_value, _ userData: UnsafeMutableRawPointer?
) {
    guard let sink = EventSink<CMapChange>.from(userData), let keyName else { return }
    func decode(_ value: cmap_notify_value) -> CMapValue? {
        guard value.type.rawValue != 0, let data = value.data else { return nil }
        return CMapValue(type: value.type, bytes: UnsafeRawBufferPointer(start: data, count: value.len))
    }
    let kind: CMapChange.Kind
    switch event {
    case CMAP_TRACK_ADD: kind = .added
    case CMAP_TRACK_DELETE: kind = .deleted
    default: kind = .modified
    }
    sink.continuation.yield(
        CMapChange(kind: kind, key: String(cString: keyName), newValue: decode(newValue), oldValue: decode(oldValue)))
}
