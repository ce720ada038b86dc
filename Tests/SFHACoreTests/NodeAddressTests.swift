import Foundation
import SFHABase
import Testing

@testable import SFHACore

@Suite(.timeLimit(.minutes(2))) struct NodeAddressParsingTests {
    static let ipJSON = """
        [{"ifindex":2,"ifname":"eth0","flags":["BROADCAST","UP"],"address":"26:30:45:c6:c1:ba","addr_info":[
          {"family":"inet","local":"10.0.0.10","prefixlen":24,"scope":"global","label":"eth0"},
          {"family":"inet","local":"10.0.0.100","prefixlen":32,"scope":"global","secondary":true,"label":"eth0"},
          {"family":"inet6","local":"2001:DB8:0:0::1","prefixlen":64,"scope":"global"},
          {"family":"inet6","local":"fe80::2430:45ff:fec6:c1ba","prefixlen":64,"scope":"link"}]},
         {"ifindex":3,"ifname":"eth1","addr_info":[{"family":"inet","local":"10.0.0.1","prefixlen":24}]}]
        """

    @Test func ipJSONIsParsedExactlyPerInterface() throws {
        let eth0 = try AddressParsing.parseIPJSON(Self.ipJSON, interface: "eth0")
        #expect(eth0.map(\.description) == [
            "10.0.0.10/24 dev eth0", "10.0.0.100/32 dev eth0", "2001:db8::1/64 dev eth0", "fe80::2430:45ff:fec6:c1ba/64 dev eth0",
        ])
        #expect(try AddressParsing.parseIPJSON(Self.ipJSON).count == 5)
        #expect(try AddressParsing.parseIPJSON("", interface: "eth0").isEmpty)
        #expect(throws: SFHAError.self) { try AddressParsing.parseIPJSON("not json") }
    }

    @Test func aVIPThatIsAPrefixOfAnotherAddressIsNotPresent() async throws {
        // The original's `hasVip` substring match took 10.0.0.1 for present when 10.0.0.10 was there.
        let listed = try AddressParsing.parseIPJSON(Self.ipJSON, interface: "eth0")
        let controller = FakeAddressController(addresses: listed)
        let vip1 = VirtualIP(name: "v", address: IPAddress("10.0.0.1")!, prefixLength: 24)
        let vip10 = VirtualIP(name: "v", address: IPAddress("10.0.0.10")!, prefixLength: 24)
        let vip6 = VirtualIP(name: "v", address: IPAddress("2001:db8::1")!, prefixLength: 64)
        let vip6Other = VirtualIP(name: "v", address: IPAddress("2001:db8::10")!, prefixLength: 64)
        #expect(try await controller.isPresent(vip1) == false)
        #expect(try await controller.isPresent(vip10))
        #expect(try await controller.isPresent(vip6))
        #expect(try await controller.isPresent(vip6Other) == false)
        // 10.0.0.1 exists, but on eth1: not on the VIP's interface.
        #expect(listed.contains { $0.address == IPAddress("10.0.0.1")! } == false)
    }

    @Test func ipv6TextFormsCompareAsAddresses() throws {
        let forms = ["2001:db8::1", "2001:DB8::1", "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8:0:0:0:0:0:1"]
        let parsed = forms.compactMap { IPAddress($0) }
        #expect(parsed.count == forms.count)
        #expect(Set(parsed).count == 1)
        #expect(AddressParsing.parseCIDR("2001:db8::1/64")?.address == IPAddress("2001:db8::1"))
        #expect(AddressParsing.parseCIDR("10.0.0.1/24")?.prefixLength == 24)
        #expect(AddressParsing.parseCIDR("10.0.0.1/33") == nil)
        #expect(AddressParsing.parseCIDR("10.0.0.1") == nil)
        #expect(AddressParsing.parseCIDR("10.0.0.01/24") == nil)
    }
}

@Suite(.timeLimit(.minutes(2))) struct NodeNetlinkMessageTests {
    @Test func addRequestIsByteExact() {
        let vip = VirtualIP(name: "v", address: IPAddress("10.0.0.5")!, prefixLength: 24)
        let bytes = NetlinkAddressMessage.addRequest(vip, interfaceIndex: 2, sequence: 7)
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        #expect(hex
            == "28000000" + "1400" + "0506" + "07000000" + "00000000"  // nlmsghdr: len 40, RTM_NEWADDR, REQ|ACK|EXCL|CREATE
            + "02180000" + "02000000"  // ifaddrmsg: AF_INET, /24, flags 0, scope 0, index 2
            + "08000200" + "0a000005"  // IFA_LOCAL
            + "08000100" + "0a000005")  // IFA_ADDRESS
    }

    @Test func ipv6AddRequestCarriesNoDAD() {
        let vip = VirtualIP(name: "v", address: IPAddress("fd00::5")!, prefixLength: 64)
        let bytes = NetlinkAddressMessage.addRequest(vip, interfaceIndex: 3, sequence: 1)
        #expect(bytes.count == 16 + 8 + 20 + 20 + 8)
        #expect(bytes[16] == 10 && bytes[17] == 64)
        // IFA_FLAGS (8) = IFA_F_NODAD (2), the last attribute.
        #expect(Array(bytes.suffix(8)) == [8, 0, 8, 0, 2, 0, 0, 0])
    }

    @Test func deleteRequestNamesOnlyTheLocalAddress() {
        let bytes = NetlinkAddressMessage.deleteRequest(IPAddress("10.0.0.5")!, prefixLength: 24, interfaceIndex: 2, sequence: 9)
        #expect(bytes.count == 32)
        #expect(NetlinkAddressMessage.readLE16(bytes, 4) == NetlinkAddressMessage.RTM_DELADDR)
        #expect(NetlinkAddressMessage.readLE16(bytes, 6) == 0x5)  // request + ack, no dump/create
        #expect(Array(bytes[24..<32]) == [8, 0, 2, 0, 10, 0, 0, 5])
    }

    @Test func dumpAndAcknowledgementsAreParsed() {
        func newAddress(_ family: UInt8, _ prefix: UInt8, _ index: UInt32, local: [UInt8]?, address: [UInt8]) -> [UInt8] {
            var attributes: [(UInt16, [UInt8])] = [(NetlinkAddressMessage.IFA_ADDRESS, address)]
            if let local { attributes.append((NetlinkAddressMessage.IFA_LOCAL, local)) }
            return NetlinkAddressMessage.build(
                type: NetlinkAddressMessage.RTM_NEWADDR, flags: NetlinkAddressMessage.NLM_F_MULTI, sequence: 5, family: family,
                prefixLength: prefix, interfaceIndex: index, attributes: attributes)
        }
        let v6 = IPAddress("2001:db8::1")!.bytes
        let datagram = newAddress(2, 24, 2, local: [10, 0, 0, 10], address: [10, 0, 0, 10])
            + newAddress(2, 32, 2, local: [10, 0, 0, 1], address: [10, 0, 0, 99])  // point-to-point: local wins
            + newAddress(10, 64, 4, local: nil, address: v6)
            + NetlinkAddressMessage.build(
                type: NetlinkAddressMessage.NLMSG_DONE, flags: NetlinkAddressMessage.NLM_F_MULTI, sequence: 5, family: 0,
                prefixLength: 0, interfaceIndex: 0, attributes: [])
        let parsed = NetlinkAddressMessage.parse(datagram)
        #expect(parsed.done)
        #expect(parsed.error == nil)
        #expect(parsed.addresses.map { "\($0.index) \($0.address)/\($0.prefixLength)" } == ["2 10.0.0.10/24", "2 10.0.0.1/32", "4 2001:db8::1/64"])

        // NLMSG_ERROR carries -errno; 0 is an acknowledgement.
        let ack = NetlinkAddressMessage.le32(36) + NetlinkAddressMessage.le16(2) + [0, 0] + NetlinkAddressMessage.le32(8)
            + NetlinkAddressMessage.le32(0) + NetlinkAddressMessage.le32(UInt32(bitPattern: -17)) + [UInt8](repeating: 0, count: 16)
        let error = NetlinkAddressMessage.parse(ack)
        #expect(error.error == 17)
        #expect(error.sequences == [8])
    }
}

@Suite(.timeLimit(.minutes(2))) struct NodePacketTests {
    let mac: [UInt8] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]

    @Test func gratuitousARPIsARequestForTheVIPItself() {
        let packet = NeighbourPackets.gratuitousARP(hardwareAddress: mac, address: IPv4Address(10, 0, 0, 5))
        #expect(packet == [0, 1, 8, 0, 6, 4, 0, 1] + mac + [10, 0, 0, 5] + [255, 255, 255, 255, 255, 255] + [10, 0, 0, 5])
        #expect(NeighbourPackets.linkLayerBroadcast(interfaceIndex: 2).count == 20)
    }

    @Test func unsolicitedAdvertisementHasOverrideAndTargetLinkLayerAddress() {
        let target = IPv6Address("fd00::5")!
        let packet = NeighbourPackets.neighbourAdvertisement(hardwareAddress: mac, target: target)
        #expect(packet.count == 32)
        #expect(Array(packet[0..<8]) == [136, 0, 0, 0, 0x20, 0, 0, 0])
        #expect(Array(packet[8..<24]) == target.bytes)
        #expect(Array(packet[24..<32]) == [2, 1] + mac)
        #expect(NeighbourSolicitationProbe.advertisementOwner(packet, target: target) == "52:54:00:12:34:56")
        #expect(NeighbourSolicitationProbe.advertisementOwner(packet, target: IPv6Address("fd00::6")!) == nil)
        let solicitation = NeighbourPackets.neighbourSolicitation(hardwareAddress: mac, target: target)
        #expect(NeighbourSolicitationProbe.advertisementOwner(solicitation, target: target) == nil)
    }

    @Test func solicitedNodeMulticastKeepsTheLow24Bits() {
        #expect(NeighbourPackets.solicitedNode(IPv6Address("2001:db8::12:3456")!).description == "ff02::1:ff12:3456")
        #expect(NeighbourPackets.socketAddress(NeighbourPackets.allNodes, interfaceIndex: 2).count == 28)
    }

    @Test func announcementPolicyScheduleIsBurstThenRepeat() {
        #expect(AnnouncementPolicy.default.schedule.count == 10)
        let policy = AnnouncementPolicy(burstCount: 3, burstInterval: .milliseconds(10), repeatDelay: .seconds(5), repeatCount: 2)
        #expect(policy.schedule == [.zero, .milliseconds(10), .milliseconds(20), .seconds(5), .milliseconds(5010)])
        #expect(AnnouncementPolicy(burstCount: 0, burstInterval: .zero, repeatDelay: nil, repeatCount: 0).schedule == [.zero])
    }
}

@Suite(.timeLimit(.minutes(2))) struct NodeValidationTests {
    @Test(arguments: ["nginx", "nginx.service", "getty@tty1.service", "my_app-2.service", "a:b.mount", "x\\x2dy.service"])
    func validUnitNames(_ unit: String) throws {
        try UnitName.validate(unit)
    }

    @Test(arguments: ["", "-nginx", "--now", ".hidden", "@x", "a b", "a;rm -rf /", "a@b@c", "nginx\n", "ünit", String(repeating: "a", count: 256)])
    func invalidUnitNames(_ unit: String) {
        #expect(throws: SFHAError.self) { try UnitName.validate(unit) }
    }

    @Test func interfaceNamesAndVIPsAreChecked() {
        #expect(throws: Never.self) { try InterfaceName.validate("eth0") }
        for bad in ["", "eth0 x", "a/b", "eth0:1", "0123456789abcdef", ".."] {
            #expect(throws: SFHAError.self) { try InterfaceName.validate(bad) }
        }
        #expect(throws: SFHAError.self) {
            try VIPValidation.validate(VirtualIP(name: "v", address: IPAddress("10.0.0.1")!, prefixLength: 33))
        }
        #expect(throws: SFHAError.self) {
            try VIPValidation.validate(VirtualIP(name: "v", address: IPAddress("127.0.0.2")!, prefixLength: 8))
        }
        #expect(throws: SFHAError.self) {
            try VIPValidation.validate(VirtualIP(name: "v", address: IPAddress("ff02::1")!, prefixLength: 64))
        }
        #expect(throws: Never.self) {
            try VIPValidation.validate(VirtualIP(name: "v", address: IPAddress("fd00::1")!, prefixLength: 64))
        }
    }
}
