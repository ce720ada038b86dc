import SFHABase
import Foundation
@testable import SFHACore
import Testing

@Suite("IP addresses, VIPs and check targets", .timeLimit(.minutes(2)))
struct ConfigAddressTests {
    @Test(arguments: ["0.0.0.0", "10.0.0.1", "192.168.1.100", "255.255.255.255", "1.2.3.4"])
    func ipv4RoundTrips(text: String) throws {
        let address = try #require(IPv4Address(text))
        #expect(address.description == text)
    }

    @Test(arguments: [
        "", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.04", "1.2.3.-4", " 1.2.3.4", "1.2.3.4 ", "1..3.4",
        "a.b.c.d", "1.2.3.4/24", "0x1.2.3.4", "1234.1.1.1",
    ])
    func ipv4RejectsAmbiguousText(text: String) {
        #expect(IPv4Address(text) == nil)
    }

    @Test func ipv4Properties() throws {
        let address = try #require(IPv4Address("192.168.1.100"))
        #expect(address.rawValue == 0xC0A8_0164 && address.octets == [192, 168, 1, 100])
        #expect(IPv4Address("127.1.2.3")?.isLoopback == true)
        #expect(IPv4Address("239.1.1.1")?.isMulticast == true)
        #expect(IPv4Address("169.254.0.1")?.isLinkLocal == true)
        #expect(IPv4Address.mask(prefixLength: 24) == 0xFFFF_FF00 && IPv4Address.mask(prefixLength: 0) == 0)
    }

    /// RFC 5952 canonical text.
    @Test(arguments: [
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
        ("::", "::"),
        ("::1", "::1"),
        ("1::", "1::"),
        ("fe80::1:2", "fe80::1:2"),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
        ("64:ff9b::192.0.2.33", "64:ff9b::c000:221"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
        ("1:2:3:4:5:6::", "1:2:3:4:5:6::"),
    ])
    func ipv6Canonical(input: String, canonical: String) throws {
        let address = try #require(IPv6Address(input))
        #expect(address.description == canonical)
        #expect(IPv6Address(canonical) == address)
    }

    @Test(arguments: [
        "", ":", ":::", "1:::2", "1::2::3", "12345::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "::1%eth0", "[::1]",
        "g::1", "1:2:3:4:5:6:7::8", ":1:2:3:4:5:6:7", "1:2:3:4:5:6:7:", "::1.2.3", "1.2.3.4::",
    ])
    func ipv6RejectsInvalidText(text: String) {
        #expect(IPv6Address(text) == nil)
    }

    @Test func ipAddressEnumAndCodable() throws {
        #expect(IPAddress("10.0.0.1") == .v4(IPv4Address(10, 0, 0, 1)))
        #expect(IPAddress("2001:DB8::1")?.description == "2001:db8::1")
        #expect(IPAddress("2001:db8::1")?.maximumPrefixLength == 128)
        #expect(IPAddress("nope") == nil)
        let encoded = try JSONEncoder().encode([IPAddress("2001:0DB8::0001")!, IPAddress("10.0.0.1")!])
        #expect(String(decoding: encoded, as: UTF8.self) == #"["2001:db8::1","10.0.0.1"]"#)
        #expect(try JSONDecoder().decode([IPAddress].self, from: encoded).count == 2)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(IPAddress.self, from: Data(#""1.2.3.256""#.utf8)) }
    }

    @Test func ipv6VIPs() throws {
        let config = try ConfigTest.load(ConfigTest.minimal("""
            vips:
              - name: v6
                ip: 2001:DB8:0:0::100
              - name: v6b
                ip: "2001:db8::200/56"
                interface: ens18
              - name: v6c
                ip: 2001:db8::300
                cidr: 128

            """))
        let vips = try #require(config.cluster.groups.first).vips
        #expect(vips.map(\.cidr) == ["2001:db8::100/64", "2001:db8::200/56", "2001:db8::300/128"])
        #expect(vips[1].interface == "ens18")
        #expect(vips[0].address.isIPv6)
    }

    @Test func ipv4PointToPointPrefixesAllowEdgeAddresses() throws {
        let config = try ConfigTest.load(ConfigTest.minimal("""
            vips:
              - {name: a, ip: 10.0.0.0/31}
              - {name: b, ip: 10.0.0.255/32}

            """))
        #expect(config.cluster.groups.first?.vips.map(\.cidr) == ["10.0.0.0/31", "10.0.0.255/32"])
    }

    @Test func tcpTargets() throws {
        let config = try ConfigTest.load(ConfigTest.minimal("""
            health_checks:
              - {name: a, type: tcp, target: "[2001:DB8::1]:5432"}
              - {name: b, type: tcp, target: "db.example.com:5432"}
              - {name: c, target: "10.0.0.1:1"}
              - {name: d, type: tcp, target: "[::1]:65535"}

            """))
        #expect(config.cluster.nodeChecks.map(\.kind) == [
            .tcp(host: "2001:db8::1", port: 5432), .tcp(host: "db.example.com", port: 5432),
            .tcp(host: "10.0.0.1", port: 1), .tcp(host: "::1", port: 65535),
        ])
        #expect(config.cluster.nodeChecks[0].kind.description == "tcp [2001:db8::1]:5432")
        // Node check defaults: 10 s / 5 s / 3 / 2, not critical.
        #expect(config.cluster.nodeChecks[2] == HealthCheck(
            name: "c", kind: .tcp(host: "10.0.0.1", port: 1), interval: .seconds(10), timeout: .seconds(5),
            failuresBeforeUnhealthy: 3, successesBeforeHealthy: 2, critical: false, restartUnit: nil))
    }

    @Test(arguments: [
        ("[2001:db8::1]", "\"[2001:db8::1]\" has no port: expected [address]:port"),
        ("[2001:db8::1:5432", "\"[2001:db8::1:5432\" lacks the closing ']' of the IPv6 address"),
        ("[10.0.0.1]:80", "\"10.0.0.1\" is not an IPv6 address"),
        ("db:0", "\"db:0\" has an invalid port: expected 1 to 65535"),
        ("db:080", "\"db:080\" has an invalid port: expected 1 to 65535"),
        ("db", "\"db\" has no port: expected host:port"),
        (":80", "\":80\" has no host: expected host:port"),
        ("-db:80", "\"-db\" is not a valid host name"),
        ("db..x:80", "\"db..x\" is not a valid host name"),
    ])
    func invalidTCPTargets(target: String, message: String) {
        let yaml = ConfigTest.minimal("health_checks:\n  - name: c\n    target: \"\(target)\"\n")
        #expect(ConfigTest.errors(yaml) == ["/etc/sfha/config.yml:5:13: health_checks[0].target: \(message)"])
    }

    @Test func httpAndHTTPSTargets() throws {
        let config = try ConfigTest.load(ConfigTest.minimal("""
            health_checks:
              - {name: a, type: http, target: "http://[::1]:8080/health"}
              - {name: b, type: http, target: "https://example.com/"}
              - {name: c, type: https, target: "https://10.0.0.1:8443/x", verify_certificate: false}

            """))
        #expect(config.cluster.nodeChecks.map(\.kind) == [
            .http(URL(string: "http://[::1]:8080/health")!),
            .https(URL(string: "https://example.com/")!, verifyCertificate: true),
            .https(URL(string: "https://10.0.0.1:8443/x")!, verifyCertificate: false),
        ])
        #expect(ConfigTest.errors(ConfigTest.minimal("health_checks:\n  - {name: a, type: http, target: \"http:///x\"}\n"))
            == ["/etc/sfha/config.yml:4:35: health_checks[0].target: \"http:///x\" has no host (expected http://host/…)"])
        #expect(ConfigTest.errors(ConfigTest.minimal("health_checks:\n  - {name: a, type: http, target: \"http://h:0/\"}\n"))
            == ["/etc/sfha/config.yml:4:35: health_checks[0].target: \"http://h:0/\" has port 0, expected 1 to 65535"])
        #expect(ConfigTest.errors(ConfigTest.minimal("health_checks:\n  - {name: a, type: http, target: \"http://a b/\"}\n"))
            == ["/etc/sfha/config.yml:4:35: health_checks[0].target: \"http://a b/\" is not a valid URL: it contains whitespace"])
    }

    @Test func systemdAndExecChecks() throws {
        let config = try ConfigTest.load(ConfigTest.minimal("""
            services:
              - name: web
                unit: nginx.service
                healthcheck: {type: systemd}
              - name: getty@tty1
                healthcheck: {type: systemd, target: other.service}
            health_checks:
              - {name: e, type: exec, command: [check_disk, "-w", "10%"], interval: 1m, timeout: 30s}

            """))
        let services = try #require(config.cluster.groups.first).services
        // A service's systemd check defaults to the service's own unit.
        #expect(services[0].healthCheck?.kind == .systemd(unit: "nginx.service"))
        #expect(services[1].unit == "getty@tty1" && services[1].systemdUnitName == "getty@tty1.service")
        #expect(services[1].healthCheck?.kind == .systemd(unit: "other.service"))
        #expect(config.cluster.nodeChecks.first?.kind == .exec(arguments: ["check_disk", "-w", "10%"]))
        #expect(config.cluster.nodeChecks.first?.interval == .seconds(60))
    }

    @Test func unitNames() {
        #expect(Validators.unitName("nginx") == nil)
        #expect(Validators.unitName("postgresql@15-main.service") == nil)
        #expect(Validators.unitName("dev-sda1.swap") == nil)
        #expect(Validators.unitName("a\\x2db.mount") == nil)
        #expect(Validators.unitName(String(repeating: "a", count: 257)) == "a unit name has 1 to 256 characters")
        #expect(Validators.unitName(".service") == "a unit name cannot start with '-' or '.'")
        #expect(Validators.unitName("@x.service") == "a unit name cannot start with '@'")
        #expect(Validators.unitName("x;reboot") != nil)
        #expect(SystemdUnitName.fullName("nginx") == "nginx.service")
        #expect(SystemdUnitName.fullName("web.target") == "web.target")
    }

    @Test func interfaceNames() {
        #expect(Validators.interfaceName("eth0") == nil)
        #expect(Validators.interfaceName("enp0s31f6.100") == nil)
        #expect(Validators.interfaceName("123456789012345") == nil)
        #expect(Validators.interfaceName("1234567890123456") != nil)
        #expect(Validators.interfaceName("") != nil)
        #expect(Validators.interfaceName("..") != nil)
        #expect(Validators.interfaceName("eth 0") != nil)
        #expect(Validators.interfaceName("-i") == "an interface name cannot start with '-'")
        #expect(Validators.interfaceName("ethé") != nil)
    }
}
