import Foundation
import SFHABase
import Testing

@testable import SFHACore

/// The program-based real effects, driven through `FakeProgramRunner`: exact argument arrays, exit-status semantics.
@Suite(.timeLimit(.minutes(2))) struct NodeCommandEffectsTests {
    static let vip4 = VirtualIP(name: "web", address: IPAddress("10.0.0.1")!, prefixLength: 24, interface: "eth0")
    static let vip6 = VirtualIP(name: "web6", address: IPAddress("fd00::1")!, prefixLength: 64, interface: "eth0")

    static func listing(_ addresses: [String]) -> String {
        let infos = addresses.map { cidr -> String in
            let (address, prefix) = AddressParsing.parseCIDR(cidr)!
            return "{\"family\":\"\(address.isIPv6 ? "inet6" : "inet")\",\"local\":\"\(address)\",\"prefixlen\":\(prefix)}"
        }
        return "[{\"ifindex\":2,\"ifname\":\"eth0\",\"addr_info\":[\(infos.joined(separator: ","))]}]"
    }

    @Test func ipControllerAddsWithArgumentArraysAndNodadForIPv6() async throws {
        let runner = FakeProgramRunner { invocation in
            if invocation.arguments.contains("show") { return ProgramResult(exitCode: 0, standardOutput: Self.listing(["10.0.0.10/24"])) }
            return ProgramResult(exitCode: 0)
        }
        let controller = IPCommandAddressController(runner: runner, namespaceName: "lab-node1")
        #expect(try await controller.add(Self.vip4) == .added)
        #expect(try await controller.add(Self.vip6) == .added)
        let calls = runner.invocations.map { [$0.executable] + $0.arguments }
        #expect(calls == [
            ["ip", "-n", "lab-node1", "-j", "addr", "show", "dev", "eth0"],
            ["ip", "-n", "lab-node1", "addr", "add", "10.0.0.1/24", "dev", "eth0"],
            ["ip", "-n", "lab-node1", "-j", "addr", "show", "dev", "eth0"],
            ["ip", "-n", "lab-node1", "addr", "add", "fd00::1/64", "dev", "eth0", "nodad"],
        ])
    }

    @Test func ipControllerIsIdempotent() async throws {
        // 10.0.0.1 is present: no add. Removing an absent address is a success, not an error.
        let runner = FakeProgramRunner { invocation in
            if invocation.arguments.contains("show") { return ProgramResult(exitCode: 0, standardOutput: Self.listing(["10.0.0.1/24"])) }
            if invocation.arguments.contains("del") {
                return ProgramResult(exitCode: 2, standardError: "RTNETLINK answers: Cannot assign requested address\n")
            }
            return ProgramResult(exitCode: 0)
        }
        let controller = IPCommandAddressController(runner: runner)
        #expect(try await controller.add(Self.vip4) == .alreadyPresent)
        #expect(runner.invocations.count == 1)
        #expect(try await controller.remove(Self.vip6) == .alreadyAbsent)
        #expect(runner.invocations.last?.arguments == ["-j", "addr", "show", "dev", "eth0"])
    }

    @Test func ipControllerRemovesAnIPv6AddressPresentWithAnotherPrefix() async throws {
        let runner = FakeProgramRunner { invocation in
            if invocation.arguments.contains("show") { return ProgramResult(exitCode: 0, standardOutput: Self.listing(["fd00::1/48"])) }
            if invocation.arguments.contains("fd00::1/64") { return ProgramResult(exitCode: 2, standardError: "RTNETLINK answers: Cannot assign requested address") }
            return ProgramResult(exitCode: 0)
        }
        #expect(try await IPCommandAddressController(runner: runner).remove(Self.vip6) == .removed)
        #expect(runner.invocations.last?.arguments == ["addr", "del", "fd00::1/48", "dev", "eth0"])
    }

    @Test func ipControllerReportsRealFailures() async {
        let runner = FakeProgramRunner { invocation in
            if invocation.arguments.contains("show") { return ProgramResult(exitCode: 1, standardError: "Device \"eth9\" does not exist.") }
            return ProgramResult(exitCode: 2, standardError: "RTNETLINK answers: Operation not permitted")
        }
        let error = await #expect(throws: SFHAError.self) {
            _ = try await IPCommandAddressController(runner: runner).add(Self.vip4)
        }
        #expect(error?.message.contains("does not exist") == true)
        let badName = VirtualIP(name: "x", address: IPAddress("10.0.0.1")!, prefixLength: 24, interface: "eth0; reboot")
        await #expect(throws: SFHAError.self) { _ = try await IPCommandAddressController(runner: runner).add(badName) }
        #expect(runner.invocations.count == 1)
    }

    @Test func systemctlControllerValidatesBeforeRunning() async throws {
        let runner = FakeProgramRunner { invocation in
            if invocation.arguments == ["is-active", "down.service"] { return ProgramResult(exitCode: 3, standardOutput: "inactive\n") }
            if invocation.arguments == ["is-active", "broken.service"] { return ProgramResult(exitCode: 1, standardError: "Failed to connect to bus") }
            return ProgramResult(exitCode: 0, standardOutput: "active\n")
        }
        let services = SystemctlServiceController(runner: runner)
        try await services.start("web.service")
        try await services.stop("web.service")
        try await services.restart("getty@tty1")
        #expect(try await services.isActive("web.service"))
        #expect(try await services.isActive("down.service") == false)
        await #expect(throws: SFHAError.self) { _ = try await services.isActive("broken.service") }
        await #expect(throws: SFHAError.self) { try await services.start("--now") }
        await #expect(throws: SFHAError.self) { try await services.start("web; rm -rf /") }
        #expect(runner.invocations.map { [$0.executable] + $0.arguments } == [
            ["systemctl", "start", "web.service"], ["systemctl", "stop", "web.service"], ["systemctl", "restart", "getty@tty1"],
            ["systemctl", "is-active", "web.service"], ["systemctl", "is-active", "down.service"],
            ["systemctl", "is-active", "broken.service"],
        ])
    }

    @Test func systemctlFailureIsAnError() async {
        let runner = FakeProgramRunner { _ in ProgramResult(exitCode: 5, standardError: "Unit nope.service not found.") }
        let error = await #expect(throws: SFHAError.self) { try await SystemctlServiceController(runner: runner).start("nope") }
        #expect(error?.message.contains("not found") == true)
    }
}

@Suite(.timeLimit(.minutes(2))) struct NodeArpingTests {
    let vip = VirtualIP(name: "v", address: IPAddress("10.231.1.200")!, prefixLength: 24)

    @Test func noAnswerIsFree() throws {
        let result = ProgramResult(exitCode: 0, standardOutput: "ARPING 10.231.1.200 from 0.0.0.0 eth0\nSent 2 probes (2 broadcast(s))\nReceived 0 response(s)\n")
        #expect(try SystemDuplicateAddressChecker.interpretArping(result, vip: vip) == .free)
    }

    @Test func anAnswerIsInUseWithTheOwnersMAC() throws {
        let result = ProgramResult(
            exitCode: 1,
            standardOutput: "ARPING 10.231.1.200 from 0.0.0.0 eth0\nUnicast reply from 10.231.1.200 [26:30:45:C6:C1:BA]  0.580ms\nSent 1 probes (1 broadcast(s))\nReceived 1 response(s)\n")
        #expect(try SystemDuplicateAddressChecker.interpretArping(result, vip: vip) == .inUse(by: "26:30:45:c6:c1:ba"))
    }

    @Test(arguments: [
        ProgramResult(exitCode: 1, standardError: "arping: invalid argument: '0.5'\n"),  // exit 1 without a reply line
        ProgramResult(exitCode: 2, standardError: "arping: Device nosuch not available.\n"),
        ProgramResult(exitCode: 0, timedOut: true),
    ])
    func anythingElseIsAnErrorNotFree(_ result: ProgramResult) {
        #expect(throws: SFHAError.self) { try SystemDuplicateAddressChecker.interpretArping(result, vip: vip) }
    }

    @Test func checkerRunsArpingInDuplicateDetectionMode() async throws {
        let runner = FakeProgramRunner { _ in ProgramResult(exitCode: 0, standardOutput: "Received 0 response(s)\n") }
        #expect(try await SystemDuplicateAddressChecker(runner: runner, ipv4Method: .arping).check(vip) == .free)
        #expect(runner.invocations.map(\.arguments) == [["-D", "-c", "2", "-w", "1", "-I", "eth0", "10.231.1.200"]])
        #expect(runner.invocations.first?.executable == "arping")
    }
}

@Suite(.timeLimit(.minutes(2))) struct NodeProbeTests {
    @Test func httpsKeepsCertificateVerificationUnlessTheCheckDisablesIt() async {
        let runner = FakeProgramRunner { _ in ProgramResult(exitCode: 0, standardOutput: "204") }
        let probe = SystemHealthProbe(runner: runner)
        let url = URL(string: "https://example.test:8443/health")!
        #expect(await probe.probe(.https(url), timeout: .milliseconds(1500)) == .healthy("HTTP 204"))
        #expect(await probe.probe(.https(url, verifyCertificate: false), timeout: .seconds(2)).healthy)
        let calls = runner.invocations
        #expect(calls.count == 2)
        #expect(calls.allSatisfy { $0.executable == "curl" && $0.arguments.last == "https://example.test:8443/health" })
        #expect(calls[0].arguments.contains("--insecure") == false)
        #expect(calls[0].arguments.contains("-k") == false)
        #expect(calls[1].arguments.contains("--insecure"))
        #expect(calls[0].arguments.contains("1.500"))
        #expect(calls[0].arguments.contains("=https"))
    }

    @Test func httpsStatusAndCurlErrorsAreUnhealthy() async {
        let results: [ProgramResult] = [
            ProgramResult(exitCode: 0, standardOutput: "503"),
            ProgramResult(exitCode: 60, standardOutput: "000", standardError: "curl: (60) SSL certificate problem: self-signed certificate"),
            ProgramResult(exitCode: 28, standardOutput: "000"),
            ProgramResult(exitCode: 0, standardOutput: "302"),
        ]
        var outcomes: [ProbeResult] = []
        for result in results {
            let single = FakeProgramRunner { _ in result }
            outcomes.append(await SystemHealthProbe(runner: single).probe(.https(URL(string: "https://h/")!), timeout: .seconds(1)))
        }
        #expect(outcomes.map(\.healthy) == [false, false, false, true])
        #expect(outcomes[1].detail.contains("certificate"))
        #expect(outcomes[2].detail == "timeout")
    }

    @Test func execAndSystemdProbesUseExitStatus() async {
        let runner = FakeProgramRunner { invocation in
            switch invocation.executable {
            case "/usr/local/bin/check-db": ProgramResult(exitCode: invocation.arguments == ["--fast"] ? 0 : 1)
            case "systemctl": ProgramResult(exitCode: invocation.arguments.last == "web.service" ? 0 : 3, standardOutput: invocation.arguments.last == "web.service" ? "active\n" : "failed\n")
            default: ProgramResult(exitCode: 0, timedOut: true)
            }
        }
        let probe = SystemHealthProbe(runner: runner)
        #expect(await probe.probe(.exec(arguments: ["/usr/local/bin/check-db", "--fast"]), timeout: .seconds(1)).healthy)
        #expect(await probe.probe(.exec(arguments: ["/usr/local/bin/check-db"]), timeout: .seconds(1)) == .unhealthy("exit 1"))
        #expect(await probe.probe(.exec(arguments: ["slow"]), timeout: .seconds(1)) == .unhealthy("timeout"))
        #expect(await probe.probe(.exec(arguments: []), timeout: .seconds(1)).healthy == false)
        #expect(await probe.probe(.systemd(unit: "web.service"), timeout: .seconds(1)) == .healthy("active"))
        #expect(await probe.probe(.systemd(unit: "db.service"), timeout: .seconds(1)) == .unhealthy("failed"))
        #expect(await probe.probe(.systemd(unit: "-bad"), timeout: .seconds(1)).healthy == false)
        #expect(runner.invocations.count == 5)
    }

    @Test func httpStatusLinesAndTargets() {
        #expect(HTTPProbe.statusCode(Array("HTTP/1.0 200 OK\r\nServer: x\r\n".utf8)) == 200)
        #expect(HTTPProbe.statusCode(Array("HTTP/1.1 301 Moved\r\n".utf8)) == 301)
        #expect(HTTPProbe.statusCode(Array("HTTP/1.1 503\r\n".utf8)) == 503)
        #expect(HTTPProbe.statusCode(Array("SSH-2.0-OpenSSH\r\n".utf8)) == nil)
        let target = HTTPTarget(URL(string: "http://[fd00::5]:8080/health?deep=1")!)
        #expect(target == HTTPTarget(URL(string: "http://[fd00::5]:8080/health?deep=1")!))
        #expect(target?.host == "fd00::5")
        #expect(target?.port == 8080)
        #expect(target?.path == "/health?deep=1")
        #expect(target?.hostHeader == "[fd00::5]:8080")
        #expect(HTTPTarget(URL(string: "http://web.local/")!)?.hostHeader == "web.local")
        #expect(HTTPTarget(URL(string: "https://web.local/")!) == nil)
    }

    @Test func tcpProbeToAClosedLoopbackPortIsUnhealthy() async {
        // Port 1 on loopback: nothing listens in this environment's namespace (connection refused, not a timeout).
        let result = await SystemHealthProbe().probe(.tcp(host: "127.0.0.1", port: 1), timeout: .seconds(2))
        #expect(result.healthy == false)
        #expect(result.detail.contains("refused"))
    }
}
