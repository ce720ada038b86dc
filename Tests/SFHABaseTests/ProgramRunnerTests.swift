import Foundation
import SFHABase
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite(.timeLimit(.minutes(2))) struct ProgramRunnerTests {
    let runner = SystemProgramRunner()

    @Test func capturesOutputErrorsAndExitCode() async throws {
        let result = try await runner.run("printf", ["%s|%s", "a b", "c"])
        #expect(result.exitCode == 0 && result.succeeded)
        #expect(result.standardOutput == "a b|c")  // arguments arrive as given, no shell splitting
        let failing = try await runner.run("ls", ["/nonexistent-sfha-path"])
        #expect(failing.exitCode == 2)
        #expect(failing.standardError.contains("nonexistent-sfha-path"))
        #expect(!failing.succeeded)
    }

    @Test func passesStandardInputWithoutArguments() async throws {
        let secret = Array("secret-\(UInt64.random(in: 0...UInt64.max))\n".utf8)
        let result = try await runner.run("cat", [], input: secret, timeout: .seconds(5))
        #expect(Array(result.standardOutput.utf8) == secret)
    }

    @Test func killsAProgramThatRunsPastItsTimeLimit() async throws {
        // The program would run for an hour: a runner that did not kill it would hang until the suite's time limit.
        let result = try await runner.run("sleep", ["3600"], timeout: .milliseconds(300))
        #expect(result.timedOut)
        #expect(!result.succeeded)
        #expect(result.exitCode == 128 + SIGKILL, "ended by SIGKILL, not by itself (exit \(result.exitCode))")
    }

    @Test func returnsWhenTheProgramExitsEvenIfADaemonItStartedKeepsTheOutputOpen() async throws {
        // The parent prints its child's pid and exits at once; the child keeps stdout open for an hour (a daemon, as
        // `systemctl start` of a forking unit leaves behind). A runner waiting for the pipe to close would hang.
        let script = "import os, sys, time\npid = os.fork()\nif pid == 0:\n    time.sleep(3600)\n    os._exit(0)\nprint(pid)\nsys.stdout.flush()\nos._exit(0)\n"
        let result = try await runner.run("python3", ["-c", script], timeout: .seconds(60))
        #expect(result.succeeded && !result.timedOut)
        let daemon = try #require(pid_t(result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)))
        // The runner returned while the daemon still held the pipe.
        #expect(kill(daemon, 0) == 0, "the daemon is still running")
        kill(daemon, SIGKILL)
    }

    @Test func childInheritsOnlyStandardDescriptors() async throws {
        // A descriptor this process holds (without close-on-exec) must not leak into the child.
        let leaked = open("/dev/null", O_RDONLY)
        defer { close(leaked) }
        let result = try await runner.run("ls", ["/proc/self/fd"])
        let descriptors = result.standardOutput.split(separator: "\n").compactMap { Int($0) }
        // ls itself opens one descriptor (3) to read the directory.
        #expect(descriptors.allSatisfy { $0 <= 3 }, "child saw descriptors \(descriptors)")
    }

    @Test func reportsAMissingProgramClearly() async throws {
        await #expect(throws: SFHAError.self) {
            try await runner.run("sfha-no-such-program", [])
        }
        do {
            _ = try await runner.run("sfha-no-such-program", [])
        } catch {
            #expect(error.code == .notFound)
            #expect(error.message.contains("sfha-no-such-program"))
        }
    }

    @Test func checkNamesTheCommandAndItsError() async throws {
        do {
            try await runner.check("ls", ["/nonexistent-sfha-path"])
            Issue.record("check must throw for a failing program")
        } catch {
            #expect(error.code == .commandFailed)
            #expect(error.message.contains("ls /nonexistent-sfha-path exited with status 2"))
        }
    }

    @Test func fakeRecordsInvocations() async throws {
        let fake = FakeProgramRunner { invocation in
            ProgramResult(exitCode: invocation.arguments.first == "fail" ? 1 : 0, standardOutput: "ok")
        }
        let first = try await fake.run("ip", ["addr"])
        let second = try await fake.run("ip", ["fail"], input: [1, 2], timeout: nil)
        #expect(first.succeeded && !second.succeeded)
        #expect(fake.invocations.map(\.arguments) == [["addr"], ["fail"]])
        #expect(fake.invocations.last?.input == [1, 2])
    }
}

@Suite(.timeLimit(.minutes(2))) struct AtomicFileTests {
    let directory: String = {
        let path = "/tmp/sfha-atomic-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(path, 0o700)
        return path
    }()

    @Test func writesWithModeAndReadsBack() throws {
        let path = "\(directory)/file"
        try AtomicFile.write("first", to: path, mode: 0o600)
        #expect(try AtomicFile.readText(path) == "first")
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        // No temporary file is left next to the target.
        let entries = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(entries == ["file"])
    }

    @Test func keepsABoundedNumberOfBackupsNewestFirst() throws {
        let path = "\(directory)/conf"
        for version in 1...5 { try AtomicFile.write("v\(version)", to: path, backups: 3) }
        #expect(try AtomicFile.readText(path) == "v5")
        #expect(AtomicFile.backups(of: path) == ["\(path).1", "\(path).2", "\(path).3"])
        #expect(try AtomicFile.readText("\(path).1") == "v4")
        #expect(try AtomicFile.readText("\(path).3") == "v2")
    }

    @Test func readingAMissingFileIsNotFound() {
        do {
            _ = try AtomicFile.read("\(directory)/missing")
            Issue.record("reading a missing file must throw")
        } catch {
            #expect(error.code == .notFound)
        }
    }
}
