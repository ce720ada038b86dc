import SFHABase

/// Adds, removes and lists VIPs with `ip` (argument arrays, JSON listing). Slower than netlink (one program per
/// call, a few milliseconds each); kept as the portable fallback and as the baseline of `VIPBenchmark`.
public struct IPCommandAddressController: AddressController {
    public var runner: any ProgramRunner
    public var timeout: Duration
    /// `ip -n NAME`: act in the named network namespace (`/run/netns/NAME`); nil for the current one.
    public var namespaceName: String?

    public init(runner: any ProgramRunner = SystemProgramRunner(), timeout: Duration = .seconds(5), namespaceName: String? = nil) {
        self.runner = runner
        self.timeout = timeout
        self.namespaceName = namespaceName
    }

    private func ip(_ arguments: [String]) async throws(SFHAError) -> ProgramResult {
        try await runner.run("ip", (namespaceName.map { ["-n", $0] } ?? []) + arguments, timeout: timeout)
    }

    public func addresses(on interface: String) async throws(SFHAError) -> [InterfaceAddress] {
        try InterfaceName.validate(interface)
        let result = try await ip(["-j", "addr", "show", "dev", interface])
        guard result.succeeded else { throw Self.failure("ip -j addr show dev \(interface)", result) }
        return try AddressParsing.parseIPJSON(result.standardOutput, interface: interface)
    }

    public func add(_ vip: VirtualIP) async throws(SFHAError) -> AddressChange {
        try VIPValidation.validate(vip)
        if try await isPresent(vip) { return .alreadyPresent }
        var arguments = ["addr", "add", vip.cidr, "dev", vip.interface]
        if vip.address.isIPv6 { arguments.append("nodad") }
        let result = try await ip(arguments)
        if result.succeeded { return .added }
        // Raced with another writer: the address is there, which is what was asked.
        if result.standardError.contains("File exists"), try await isPresent(vip) { return .alreadyPresent }
        throw Self.failure("ip " + arguments.joined(separator: " "), result)
    }

    public func remove(_ vip: VirtualIP) async throws(SFHAError) -> AddressChange {
        try VIPValidation.validate(vip)
        let arguments = ["addr", "del", vip.cidr, "dev", vip.interface]
        let result = try await ip(arguments)
        if result.succeeded { return .removed }
        guard let other = try await addresses(on: vip.interface).first(where: { $0.address == vip.address }) else {
            return .alreadyAbsent
        }
        // There with another prefix length (IPv6 deletes match on it): remove exactly that address.
        let retryArguments = ["addr", "del", "\(other.address)/\(other.prefixLength)", "dev", vip.interface]
        let retry = try await ip(retryArguments)
        if retry.succeeded { return .removed }
        throw Self.failure("ip " + retryArguments.joined(separator: " "), retry)
    }

    static func failure(_ command: String, _ result: ProgramResult) -> SFHAError {
        let detail = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
        return SFHAError(
            .commandFailed,
            "\(command) " + (result.timedOut ? "timed out" : "exited with status \(result.exitCode)")
                + (detail.isEmpty ? "" : ": \(detail)"))
    }
}
