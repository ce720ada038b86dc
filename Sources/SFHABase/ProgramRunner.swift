import Foundation
import Synchronization

/// What a finished program returned.
public struct ProgramResult: Sendable, Equatable {
    public var exitCode: Int32
    public var standardOutput: String
    public var standardError: String
    /// True when the program was killed because it ran past its time limit.
    public var timedOut: Bool

    public init(exitCode: Int32, standardOutput: String = "", standardError: String = "", timedOut: Bool = false) {
        self.exitCode = exitCode
        self.standardOutput = standardOutput
        self.standardError = standardError
        self.timedOut = timedOut
    }

    public var succeeded: Bool { exitCode == 0 && !timedOut }
}

/// Runs programs. Always an executable plus an argument array: sfha never builds shell command strings.
/// Secrets travel on standard input (`input`), never in the arguments.
public protocol ProgramRunner: Sendable {
    func run(_ executable: String, _ arguments: [String], input: [UInt8]?, timeout: Duration?) async throws(SFHAError)
        -> ProgramResult
}

extension ProgramRunner {
    public func run(_ executable: String, _ arguments: [String], timeout: Duration? = .seconds(30)) async throws(SFHAError)
        -> ProgramResult
    {
        try await run(executable, arguments, input: nil, timeout: timeout)
    }

    /// Runs the program and throws a `commandFailed` error naming it and quoting its stderr unless it exits 0.
    @discardableResult
    public func check(_ executable: String, _ arguments: [String], input: [UInt8]? = nil, timeout: Duration? = .seconds(30))
        async throws(SFHAError) -> ProgramResult
    {
        let result = try await run(executable, arguments, input: input, timeout: timeout)
        guard result.succeeded else {
            let why = result.timedOut ? "timed out" : "exited with status \(result.exitCode)"
            let detail = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
            throw SFHAError(
                .commandFailed,
                "\(([executable] + arguments).joined(separator: " ")) \(why)" + (detail.isEmpty ? "" : ": \(detail)"))
        }
        return result
    }
}

/// Runs real programs with Foundation's `Process` (no shell involved).
public struct SystemProgramRunner: ProgramRunner {
    public init() {}

    public func run(_ executable: String, _ arguments: [String], input: [UInt8]?, timeout: Duration?) async throws(SFHAError)
        -> ProgramResult
    {
        guard let path = Self.resolve(executable) else {
            throw SFHAError(.notFound, "program '\(executable)' was not found in PATH; install it or fix PATH")
        }
        let outcome: Result<ProgramResult, SFHAError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Self.runBlocking(path: path, arguments: arguments, input: input, timeout: timeout))
            }
        }
        return try outcome.get()
    }

    /// Finds `name` in `PATH` unless it already contains a slash.
    public static func resolve(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    private static func runBlocking(path: String, arguments: [String], input: [UInt8]?, timeout: Duration?)
        -> Result<ProgramResult, SFHAError>
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let outPipe = Pipe()
        let errPipe = Pipe()
        let inPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = input == nil ? FileHandle.nullDevice : inPipe
        do {
            try process.run()
        } catch {
            return .failure(SFHAError(.commandFailed, "could not start \(path)", cause: error))
        }
        let group = DispatchGroup()
        let output = Mutex<(Data, Data)>((Data(), Data()))
        group.enter()
        DispatchQueue.global().async {
            let data = outPipe.fileHandleForReading.readDataToEndOfFile()
            output.withLock { $0.0 = data }
            group.leave()
        }
        group.enter()
        DispatchQueue.global().async {
            let data = errPipe.fileHandleForReading.readDataToEndOfFile()
            output.withLock { $0.1 = data }
            group.leave()
        }
        if let input {
            let handle = inPipe.fileHandleForWriting
            try? handle.write(contentsOf: Data(input))
            try? handle.close()
        }
        let timedOut = Atomic<Bool>(false)
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            let nanos = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanos)) {
                if process.isRunning {
                    timedOut.store(true, ordering: .sequentiallyConsistent)
                    kill(process.processIdentifier, SIGKILL)
                }
            }
        }
        process.waitUntilExit()
        group.wait()
        let (out, err) = output.withLock { $0 }
        return .success(ProgramResult(
            exitCode: process.terminationStatus,
            standardOutput: String(decoding: out, as: UTF8.self),
            standardError: String(decoding: err, as: UTF8.self),
            timedOut: timedOut.load(ordering: .sequentiallyConsistent)))
    }
}

/// A scripted `ProgramRunner` for tests: records every invocation and answers from a handler.
public final class FakeProgramRunner: ProgramRunner {
    public struct Invocation: Sendable, Equatable {
        public var executable: String
        public var arguments: [String]
        public var input: [UInt8]?
    }

    private let state: Mutex<[Invocation]> = Mutex([])
    private let handler: @Sendable (Invocation) -> ProgramResult

    public init(handler: @escaping @Sendable (Invocation) -> ProgramResult = { _ in ProgramResult(exitCode: 0) }) {
        self.handler = handler
    }

    public var invocations: [Invocation] { state.withLock { $0 } }

    public func run(_ executable: String, _ arguments: [String], input: [UInt8]?, timeout: Duration?) async throws(SFHAError)
        -> ProgramResult
    {
        let invocation = Invocation(executable: executable, arguments: arguments, input: input)
        state.withLock { $0.append(invocation) }
        return handler(invocation)
    }
}
