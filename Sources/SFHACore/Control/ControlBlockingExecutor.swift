import Dispatch
import Foundation
import Synchronization

/// Runs blocking jobs (socket I/O with timeouts) on a few reusable threads of its own — not on the cooperative pool,
/// and not on Dispatch queues (on Linux those share their threads with the cooperative pool, so blocking them can
/// starve async code). Creating a thread per call works too but costs 50–100 µs and a fatter latency tail.
///
/// A thread parks for `idleTimeout` after a job and exits when nothing comes; at most `maxIdle` threads park.
final class ControlBlockingExecutor: Sendable {
    static let shared = ControlBlockingExecutor()

    private final class Worker: Sendable {
        let wake = DispatchSemaphore(value: 0)
        let job = Mutex<(@Sendable () -> Void)?>(nil)
    }

    private let idle = Mutex<[Worker]>([])
    private let idleTimeout: DispatchTimeInterval
    private let maxIdle: Int

    init(idleTimeout: DispatchTimeInterval = .seconds(10), maxIdle: Int = 4) {
        self.idleTimeout = idleTimeout
        self.maxIdle = maxIdle
    }

    func run(_ job: @escaping @Sendable () -> Void) {
        if let worker = idle.withLock({ $0.popLast() }) {
            worker.job.withLock { $0 = job }
            worker.wake.signal()
            return
        }
        let worker = Worker()
        worker.job.withLock { $0 = job }
        Thread.detachNewThread { [self] in
            Thread.current.name = "sfha-control-io"
            loop(worker)
        }
    }

    /// Runs `job` on a pooled thread and returns its result to the calling task.
    func result<T: Sendable>(_ job: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            run { continuation.resume(returning: job()) }
        }
    }

    private func loop(_ worker: Worker) {
        while true {
            let job = worker.job.withLock { job in
                defer { job = nil }
                return job
            }
            job?()
            let parked = idle.withLock { list -> Bool in
                guard list.count < maxIdle else { return false }
                list.append(worker)
                return true
            }
            guard parked else { return }
            if worker.wake.wait(timeout: .now() + idleTimeout) == .timedOut {
                let removed = idle.withLock { list -> Bool in
                    guard let index = list.firstIndex(where: { $0 === worker }) else { return false }
                    list.remove(at: index)
                    return true
                }
                if removed { return }
                // run() took this worker just as the wait timed out: its signal is on the way.
                worker.wake.wait()
            }
        }
    }
}
