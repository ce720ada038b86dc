import Dispatch
internal import CCorosync

/// Owns one connection to a corosync client library.
///
/// corosync's libraries call back synchronously from inside `*_dispatch`, and their `*_finalize` may not run
/// concurrently with a dispatch (lib/quorum.c says so). So every C call for a handle — requests, dispatch and
/// finalize — runs on one serial queue, and a read source on the library's fd drives dispatch (no polling).
/// Finalize runs exactly once, in the source's cancel handler, after the last dispatch.
final class HandleDriver: @unchecked Sendable {
    // Invariant: `closed` and `source` are only touched on `queue`.
    let queue: DispatchQueue
    private var source: (any DispatchSourceRead)?
    private var closed = false
    private let library: String

    init(label: String, library: String) {
        self.queue = DispatchQueue(label: "sfha.corosync.\(label)")
        self.library = library
    }

    /// Starts dispatching events. `dispatch` must call the library's `*_dispatch(handle, CS_DISPATCH_ALL)`;
    /// `finalize` releases the handle and anything the callbacks use; `onLoss` is told when the library reports
    /// that corosync went away (the driver then closes itself).
    func start(
        fd: Int32,
        dispatch: @escaping @Sendable () -> cs_error_t,
        finalize: @escaping @Sendable () -> Void,
        onLoss: @escaping @Sendable (CorosyncError) -> Void
    ) {
        let dispatchFunction = "\(library)_dispatch"
        queue.async { [self] in
            guard !closed else {
                finalize()
                return
            }
            let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
            source.setEventHandler { [self] in
                let rc = dispatch()
                // TRY_AGAIN / TIMEOUT / QUEUE_FULL are transient for dispatch (as in corosync-notifyd).
                if rc.isOK || rc == CS_ERR_TRY_AGAIN || rc == CS_ERR_TIMEOUT || rc == CS_ERR_QUEUE_FULL { return }
                // Anything else (CS_ERR_LIBRARY at EOF, BAD_HANDLE) is final: stop, or the fd would fire forever.
                closed = true
                self.source?.cancel()
                onLoss(CorosyncError(rc, dispatchFunction))
            }
            source.setCancelHandler {
                finalize()
            }
            self.source = source
            source.resume()
        }
    }

    /// Starts dispatching for a connection whose callbacks yield into `sink`: the stream finishes normally after
    /// `finalize`, with the error when corosync goes away, and the connection closes when the consumer stops.
    func startStreaming<Event: Sendable>(
        fd: Int32, sink: Unmanaged<EventSink<Event>>,
        dispatch: @escaping @Sendable () -> cs_error_t, finalize: @escaping @Sendable () -> Void
    ) {
        start(
            fd: fd, dispatch: dispatch,
            finalize: {
                finalize()
                sink.takeUnretainedValue().continuation.finish()
                sink.release()
            },
            onLoss: { error in sink.takeUnretainedValue().continuation.finish(throwing: error) })
        sink.takeUnretainedValue().continuation.onTermination = { [self] _ in close() }
    }

    /// Runs a request on the handle's queue. Throws BAD_HANDLE once the connection is closed or lost.
    func perform<T>(_ function: String, _ body: () -> (cs_error_t, T)) throws(CorosyncError) -> T {
        let (rc, value): (cs_error_t, T?) = queue.sync {
            if closed { return (CS_ERR_BAD_HANDLE, nil) }
            let (rc, value) = body()
            return (rc, value)
        }
        guard rc.isOK, let value else { throw CorosyncError(rc, function) }
        return value
    }

    func perform(_ function: String, subject: String? = nil, _ body: () -> cs_error_t) throws(CorosyncError) {
        let rc: cs_error_t = queue.sync {
            if closed { return CS_ERR_BAD_HANDLE }
            return body()
        }
        guard rc.isOK else { throw CorosyncError(rc, function, subject: subject) }
    }

    /// Runs arbitrary work on the queue while the handle is open (for calls with several result codes).
    func withOpenHandle<T>(_ function: String, _ body: () throws(CorosyncError) -> T) throws(CorosyncError) -> T {
        let result: Result<T, CorosyncError> = queue.sync {
            if closed { return .failure(CorosyncError(CS_ERR_BAD_HANDLE, function)) }
            do throws(CorosyncError) {
                return .success(try body())
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Closes the connection. Idempotent; finalize runs on the queue after any in-flight dispatch.
    func close() {
        queue.async { [self] in
            guard !closed else { return }
            closed = true
            source?.cancel()
        }
    }

    /// Whether the handle is closed; only valid on `queue` (e.g. in a stream's termination handler hop).
    var isClosedOnQueue: Bool {
        dispatchPrecondition(condition: .onQueue(queue))
        return closed
    }
}

/// Holds the continuation a C callback yields into. Passed to C as an unmanaged pointer.
final class EventSink<Event: Sendable>: Sendable {
    let continuation: AsyncThrowingStream<Event, any Error>.Continuation
    init(_ continuation: AsyncThrowingStream<Event, any Error>.Continuation) { self.continuation = continuation }

    static func from(_ pointer: UnsafeRawPointer?) -> EventSink<Event>? {
        guard let pointer else { return nil }
        return Unmanaged<EventSink<Event>>.fromOpaque(pointer).takeUnretainedValue()
    }
}

/// Copies a fixed-size C char array (imported as a tuple) into a String.
func stringFromCTuple<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { raw in
        let bytes = raw.bindMemory(to: UInt8.self)
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        return String(decoding: bytes[0..<end], as: UTF8.self)
    }
}
