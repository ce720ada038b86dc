import SFHABase

/// systemd units through `systemctl` (argument arrays; names validated first).
public struct SystemctlServiceController: ServiceController {
    public var runner: any ProgramRunner
    /// For start/stop/restart (systemd's own default job timeout is 90 s; sfha waits less and reports).
    public var timeout: Duration
    public var queryTimeout: Duration

    public init(runner: any ProgramRunner = SystemProgramRunner(), timeout: Duration = .seconds(30), queryTimeout: Duration = .seconds(5)) {
        self.runner = runner
        self.timeout = timeout
        self.queryTimeout = queryTimeout
    }

    public func start(_ unit: String) async throws(SFHAError) { try await job("start", unit) }
    public func stop(_ unit: String) async throws(SFHAError) { try await job("stop", unit) }
    public func restart(_ unit: String) async throws(SFHAError) { try await job("restart", unit) }

    /// `systemctl is-active`: exit 0 = active; 3 (or 4, unknown unit) = not active; anything else is an error.
    public func isActive(_ unit: String) async throws(SFHAError) -> Bool {
        try UnitName.validate(unit)
        let result = try await runner.run("systemctl", ["is-active", unit], timeout: queryTimeout)
        if result.succeeded { return true }
        if !result.timedOut && (result.exitCode == 3 || result.exitCode == 4) { return false }
        throw IPCommandAddressController.failure("systemctl is-active \(unit)", result)
    }

    /// `systemctl show -p LoadState --value`: `not-found` when no unit file exists (systemd answers it with exit 0).
    public func exists(_ unit: String) async throws(SFHAError) -> Bool {
        try UnitName.validate(unit)
        let result = try await runner.run("systemctl", ["show", "-p", "LoadState", "--value", unit], timeout: queryTimeout)
        guard result.succeeded else { throw IPCommandAddressController.failure("systemctl show -p LoadState \(unit)", result) }
        return result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) != "not-found"
    }

    private func job(_ verb: String, _ unit: String) async throws(SFHAError) {
        try UnitName.validate(unit)
        let result = try await runner.run("systemctl", [verb, unit], timeout: timeout)
        guard result.succeeded else { throw IPCommandAddressController.failure("systemctl \(verb) \(unit)", result) }
    }
}

/// systemd unit names as systemd accepts them (`unit_name_is_valid`): at most 255 bytes of `[A-Za-z0-9:_.\-@\\]`,
/// not starting with `-` (it would read as an option) or `.`, at most one `@`, a non-empty prefix.
public enum UnitName {
    public static func validate(_ unit: String) throws(SFHAError) {
        let allowed = Set(Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.-@\\".utf8))
        let bytes = Array(unit.utf8)
        guard (1...255).contains(bytes.count), bytes.allSatisfy(allowed.contains), bytes[0] != UInt8(ascii: "-"),
              bytes[0] != UInt8(ascii: "."), bytes[0] != UInt8(ascii: "@"),
              bytes.filter({ $0 == UInt8(ascii: "@") }).count <= 1
        else {
            throw SFHAError(
                .invalidArgument,
                "'\(unit)' is not a valid systemd unit name (1-255 of A-Z a-z 0-9 : _ . - @ \\, not starting with '-', '.' or '@')")
        }
    }
}
