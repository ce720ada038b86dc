import Foundation
@testable import CorosyncKit
import Testing

@Suite("corosync.conf edits", .timeLimit(.minutes(2)))
struct ConfEditTests {
    static let minimal = "totem {\n\tversion: 2\n\tcluster_name: c\n}\n\nquorum {\n\tprovider: corosync_votequorum\n}\n"

    @Test func addToDebianDefaultCopiesTabsAndAddsTwoNode() throws {
        var conf = try CorosyncConf(parsing: ConfFixtures.debianDefault)
        let id = try conf.addNode(name: "node2", addresses: ["192.168.1.2"])
        #expect(id == 2)
        let expected = ConfFixtures.debianDefault
            .replacingOccurrences(
                of: "\t\t#ring1_addr: 192.168.1.1\n\t}\n",
                with: "\t\t#ring1_addr: 192.168.1.1\n\t}\n\n\tnode {\n\t\tname: node2\n\t\tnodeid: 2\n\t\tring0_addr: 192.168.1.2\n\t}\n")
            .replacingOccurrences(
                of: "\tprovider: corosync_votequorum\n}", with: "\tprovider: corosync_votequorum\n\ttwo_node: 1\n}")
        #expect(conf.render() == expected)
        #expect(conf.quorum.twoNode == true)
    }

    @Test func addToPcsStyleCopiesSpacesKeyOrderAndRemovesTwoNode() throws {
        var conf = try CorosyncConf(parsing: ConfFixtures.pcsStyle)
        #expect(try conf.addNode(name: "web-c", addresses: ["192.168.122.13"]) == 3)
        let expected = ConfFixtures.pcsStyle
            .replacingOccurrences(
                of: "        nodeid: 2\n    }\n",
                with: "        nodeid: 2\n    }\n\n    node {\n        ring0_addr: 192.168.122.13\n        name: web-c\n        nodeid: 3\n    }\n")
            .replacingOccurrences(of: "    two_node: 1\n", with: "")
        #expect(conf.render() == expected)
        #expect(conf.quorum.twoNode == nil)
    }

    @Test func addToProxmoxStyleUsesTwoLinksAndTwoSpaces() throws {
        var conf = try CorosyncConf(parsing: ConfFixtures.proxmoxStyle)
        #expect(try conf.addNode(name: "pve4", addresses: ["10.10.10.4", "172.16.0.4"]) == 4)
        let expected = ConfFixtures.proxmoxStyle.replacingOccurrences(
            of: "    ring1_addr: 172.16.0.3\n  }\n",
            with: "    ring1_addr: 172.16.0.3\n  }\n  node {\n    name: pve4\n    nodeid: 4\n    ring0_addr: 10.10.10.4\n    ring1_addr: 172.16.0.4\n  }\n")
        #expect(conf.render() == expected)
    }

    @Test func addToEmptyNodelist() throws {
        var conf = try CorosyncConf(parsing: Self.minimal + "\nnodelist {\n\t# nodes go here\n}\n")
        #expect(try conf.addNode(name: "a", addresses: ["10.0.0.1"]) == 1)
        #expect(conf.render() == Self.minimal
            + "\nnodelist {\n\t# nodes go here\n\tnode {\n\t\tname: a\n\t\tnodeid: 1\n\t\tring0_addr: 10.0.0.1\n\t}\n}\n")
        #expect(conf.nodes == [CorosyncNodeEntry(nodeID: 1, name: "a", addresses: ["10.0.0.1"])])
    }

    @Test func addCreatesMissingNodelistAndEndsTheLastLine() throws {
        var conf = try CorosyncConf(parsing: String(Self.minimal.dropLast()))
        try conf.addNode(name: "a", addresses: ["10.0.0.1"])
        try conf.addNode(name: "b", addresses: ["10.0.0.2"])
        #expect(conf.render() == Self.minimal.replacingOccurrences(
            of: "corosync_votequorum\n", with: "corosync_votequorum\n\ttwo_node: 1\n")
            + "\nnodelist {\n\tnode {\n\t\tname: a\n\t\tnodeid: 1\n\t\tring0_addr: 10.0.0.1\n\t}\n"
            + "\tnode {\n\t\tname: b\n\t\tnodeid: 2\n\t\tring0_addr: 10.0.0.2\n\t}\n}\n")
    }

    @Test func addKeepsCRLF() throws {
        var conf = try CorosyncConf(parsing: ConfFixtures.crlf)
        try conf.addNode(name: "web-c", addresses: ["web-c.example.com"])
        let rendered = conf.render()
        #expect(rendered.contains("\r\n    node {\r\n        ring0_addr: web-c.example.com\r\n        name: web-c\r\n"))
        #expect(!rendered.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
    }

    @Test func nodeIDIsMaxPlusOneAndNeverRenumbers() throws {
        var conf = try CorosyncConf(parsing: Self.minimal + "nodelist {\n\tnode {\n\t\tname: a\n\t\tnodeid: 5\n\t\tring0_addr: 10.0.0.5\n\t}\n"
            + "\tnode {\n\t\tname: b\n\t\tnodeid: 2\n\t\tring0_addr: 10.0.0.2\n\t}\n}\n")
        #expect(try conf.addNode(name: "c", addresses: ["10.0.0.3"]) == 6)
        try conf.removeNode(named: "a")
        #expect(try conf.addNode(name: "d", addresses: ["10.0.0.4"]) == 7)
        #expect(conf.nodes.map(\.nodeID) == [2, 6, 7])
    }

    @Test func namesThatArePrefixesOfEachOther() throws {
        var conf = try CorosyncConf(parsing: Self.minimal + "nodelist {\n}\n")
        try conf.addNode(name: "node10", addresses: ["10.0.0.10"])
        try conf.addNode(name: "node1", addresses: ["10.0.0.1"])
        try conf.addNode(name: "node", addresses: ["10.0.0.100"])
        #expect(conf.nodes.map(\.name) == ["node10", "node1", "node"])
        #expect(throws: CorosyncConfError(kind: .alreadyExists, line: 0, reason: "a node named 'node1' already exists")) {
            try conf.addNode(name: "node1", addresses: ["10.0.0.99"])
        }
        try conf.removeNode(named: "node1")
        #expect(conf.nodes.map(\.name) == ["node10", "node"])
        #expect(throws: CorosyncConfError(kind: .notFound, line: 0, reason: "no node named 'node1'")) {
            try conf.removeNode(named: "node1")
        }
        #expect(throws: CorosyncConfError.self) { try conf.removeNode(named: "node1 ") }
        #expect(conf.nodes.map(\.name) == ["node10", "node"])
    }

    @Test func duplicateAddressesAreRejected() throws {
        var conf = try CorosyncConf(parsing: ConfFixtures.ipv6Rings)
        let before = conf
        for address in ["fd00:0:0::1", "FD00::2", "fe80::5054:ff:fe12:3401%eth0"] {
            #expect(throws: CorosyncConfError.self, "\(address)") { try conf.addNode(name: "new", addresses: [address]) }
        }
        var hosts = try CorosyncConf(parsing: ConfFixtures.qdevice)
        #expect(throws: CorosyncConfError(
            kind: .alreadyExists, line: 0, reason: "address 'ARB-A.example.net.' is already used by node 'arb-a'")) {
            try hosts.addNode(name: "new", addresses: ["ARB-A.example.net."])
        }
        #expect(throws: CorosyncConfError.self) { try conf.addNode(name: "new", addresses: ["fd00::9", "fd00::9"]) }
        #expect(conf == before)
        // Same address on another link of the same zone is still a different address.
        try conf.addNode(name: "six-3", addresses: ["fd00::3", "fe80::5054:ff:fe12:3401%eth1"])
        #expect(conf.nodes.last?.addresses == ["fd00::3", "fe80::5054:ff:fe12:3401%eth1"])
    }

    @Test func removeLastNodeAndTwoNodeTransitions() throws {
        var conf = try CorosyncConf(parsing: ConfFixtures.pcsStyle)
        let original = conf.render()
        try conf.addNode(name: "web-c", addresses: ["192.168.122.13"])  // 2 → 3
        #expect(conf.values(at: "quorum.two_node").isEmpty)
        try conf.removeNode(named: "web-c")  // 3 → 2
        #expect(conf.values(at: "quorum.two_node") == ["1"])
        // Back to the original bytes: the blank separating the removed node went with it.
        #expect(conf.render() == original)
        try conf.removeNode(named: "web-a")  // 2 → 1
        #expect(conf.values(at: "quorum.two_node").isEmpty)
        try conf.removeNode(named: "web-b")  // 1 → 0
        #expect(conf.nodes.isEmpty)
        #expect(conf.render().contains("nodelist {\n}\n"))
        #expect(try CorosyncConf(parsing: conf.render()) == conf)
    }

    @Test func twoNodeIsLeftAloneWithoutVotequorumAndRemovedWithQdevice() throws {
        var plain = try CorosyncConf(parsing: "totem {\n\tversion: 2\n}\nnodelist {\n}\n")
        try plain.addNode(name: "a", addresses: ["10.0.0.1"])
        try plain.addNode(name: "b", addresses: ["10.0.0.2"])
        #expect(plain.value(at: "quorum.two_node") == nil)
        #expect(plain.items.count == 2)

        var device = try CorosyncConf(parsing: ConfFixtures.qdevice.replacingOccurrences(
            of: "auto_tie_breaker: 0\n", with: "auto_tie_breaker: 0\n    two_node: 1\n"))
        try device.addNode(name: "arb-c", addresses: ["arb-c.example.net"])
        #expect(device.value(at: "quorum.two_node") == nil)
        try device.removeNode(named: "arb-c")
        #expect(device.value(at: "quorum.two_node") == nil)
    }

    @Test func twoNodeZeroIsCorrectedAndOneIsKeptByteIdentical() throws {
        var conf = try CorosyncConf(parsing: ConfFixtures.ipv6Rings.replacingOccurrences(of: "two_node: 1", with: "two_node:0"))
        try conf.addNode(name: "six-3", addresses: ["fd00::3"])
        try conf.removeNode(named: "six-3")
        #expect(conf.render().contains("\ttwo_node: 1\n"))
        // Already "1" when the second node arrives: the line keeps its own spelling.
        var kept = try CorosyncConf(parsing: Self.minimal.replacingOccurrences(of: "votequorum\n", with: "votequorum\n\ttwo_node:1\n")
            + "nodelist {\n\tnode {\n\t\tname: a\n\t\tnodeid: 1\n\t\tring0_addr: 10.0.0.1\n\t}\n}\n")
        try kept.addNode(name: "b", addresses: ["10.0.0.2"])
        #expect(kept.render().contains("\ttwo_node:1\n"))
        #expect(kept.values(at: "quorum.two_node") == ["1"])
    }

    @Test func setReplacesOnlyTheValue() throws {
        var conf = try CorosyncConf(parsing: ConfFixtures.oddSpacing)
        try conf.set("totem.version", "3")
        try conf.set("totem.cluster_name", "renamed")
        try conf.set("quorum.expected_votes", "5")
        #expect(conf.render() == ConfFixtures.oddSpacing
            .replacingOccurrences(of: "version:2\n", with: "version:3\n")
            .replacingOccurrences(of: "cluster_name :  odd   \t\n", with: "cluster_name :  renamed   \t\n")
            .replacingOccurrences(of: "expected_votes:3\n", with: "expected_votes:5\n"))
        #expect(conf.clusterName == "renamed")
        #expect(conf.quorum.expectedVotes == 5)
    }

    @Test func setExistingNestedAndEveryOccurrence() throws {
        var conf = try CorosyncConf(parsing: ConfFixtures.qdevice)
        try conf.set("quorum.device.net.tls", "off")
        #expect(conf.render() == ConfFixtures.qdevice.replacingOccurrences(of: "tls: on", with: "tls: off"))
        var proxmox = try CorosyncConf(parsing: ConfFixtures.proxmoxStyle)
        try proxmox.set("totem.interface.knet_link_priority", "20")
        #expect(proxmox.values(at: "totem.interface.knet_link_priority") == ["20"])
        var udpu = try CorosyncConf(parsing: ConfFixtures.udpuTwoRings)
        try udpu.set("totem.interface.mcastport", "5500")
        #expect(udpu.values(at: "totem.interface.mcastport") == ["5500", "5500"])
        try udpu.set("totem.token", "10000")
        #expect(udpu.token == 10000)
        #expect(udpu.render().contains("\trrp_mode: passive\n\ttoken: 10000\n\ttoken_retransmits"))
    }

    @Test func setNewKeysInNestedAndNewSections() throws {
        var conf = try CorosyncConf(parsing: ConfFixtures.qdevice)
        try conf.set("quorum.device.net.port", "5403")
        #expect(conf.render().contains("            tie_breaker: lowest\n            port: 5403\n        }\n"))
        var debian = try CorosyncConf(parsing: ConfFixtures.debianDefault)
        try debian.set("quorum.device.net.host", "qnetd")
        #expect(debian.render().contains(
            "\tprovider: corosync_votequorum\n\tdevice {\n\t\tnet {\n\t\t\thost: qnetd\n\t\t}\n\t}\n}\n"))
        try debian.set("quorum.device.model", "net")
        #expect(debian.render().contains("\tdevice {\n\t\tnet {\n\t\t\thost: qnetd\n\t\t}\n\t\tmodel: net\n\t}\n"))
        #expect(debian.value(at: "quorum.device.model") == "net")
        var pcs = try CorosyncConf(parsing: ConfFixtures.pcsStyle)
        try pcs.set("system.sched_rr", "yes")
        #expect(pcs.render() == ConfFixtures.pcsStyle + "\nsystem {\n    sched_rr: yes\n}\n")
        var crlf = try CorosyncConf(parsing: ConfFixtures.crlfNoTrailingNewline)
        try crlf.set("totem.token", "3000")
        try crlf.set("resources.watchdog_timeout", "6")
        #expect(crlf.render() == ConfFixtures.crlf
            .replacingOccurrences(of: "cluster_uuid: 6c1f0e0d5b7a4f6e9d3e2b1a09f8e7d6\r\n",
                                  with: "cluster_uuid: 6c1f0e0d5b7a4f6e9d3e2b1a09f8e7d6\r\n    token: 3000\r\n")
            + "\r\nresources {\r\n    watchdog_timeout: 6\r\n}\r\n")
    }

    @Test func setOnEmptyValueAndEmptyDocument() throws {
        var conf = try CorosyncConf(parsing: "totem {\n\ttoken:\n}\n")
        try conf.set("totem.token", "1000")
        #expect(conf.render() == "totem {\n\ttoken: 1000\n}\n")
        var empty = CorosyncConf()
        try empty.set("totem.version", "2")
        #expect(empty.render() == "totem {\n\tversion: 2\n}\n")
    }

    @Test func removeKeys() throws {
        var conf = try CorosyncConf(parsing: ConfFixtures.udpuTwoRings)
        #expect(try conf.remove("totem.token"))
        #expect(conf.render() == ConfFixtures.udpuTwoRings.replacingOccurrences(of: "\ttoken: 5000\n", with: ""))
        #expect(try conf.remove("totem.token") == false)
        #expect(try conf.remove("totem.interface.ttl"))
        #expect(conf.value(at: "totem.interface.ttl") == nil)
    }

    @Test func injectionAttemptsAreRejectedAndLeaveTheDocumentUnchanged() throws {
        var conf = try CorosyncConf(parsing: ConfFixtures.debianDefault)
        let before = conf
        let badNames = ["x\n}", "a{", "a b", "", "a}", "a:b", "#a", String(repeating: "n", count: 65), "é"]
        for name in badNames {
            #expect(throws: CorosyncConfError.self, "\(name.debugDescription)") {
                try conf.addNode(name: name, addresses: ["10.0.0.9"])
            }
        }
        let badAddresses = [
            "10.0.0.9\n}", "10.0.0.9 ", "a b", "host{", "1.2.3", "256.0.0.1", "fe80::1%", "fe80::1%a b", "::g",
            "-bad.example", "bad-.example", "under_score.example", "", "a..b", "10.0.0.9#x", "host:80",
        ]
        for address in badAddresses {
            #expect(throws: CorosyncConfError.self, "\(address.debugDescription)") {
                try conf.addNode(name: "ok", addresses: [address])
            }
        }
        #expect(throws: CorosyncConfError.self) { try conf.addNode(name: "ok", addresses: []) }
        #expect(throws: CorosyncConfError.self) {
            try conf.addNode(name: "ok", addresses: (1...9).map { "10.1.0.\($0)" })
        }
        for value in ["1\n}", "a{", "}", " x", "x ", "", "a\rb", "tab\there", String(repeating: "v", count: 600)] {
            #expect(throws: CorosyncConfError.self, "\(value.debugDescription)") { try conf.set("totem.token", value) }
        }
        for path in ["totem", "totem.", ".token", "to tem.x", "nodelist.node.name", "totem.tok{en", "totem.a:b", "a..b"] {
            #expect(throws: CorosyncConfError.self, "\(path.debugDescription)") { try conf.set(path, "1") }
            #expect(throws: CorosyncConfError.self, "\(path.debugDescription)") { try conf.remove(path) }
        }
        #expect(conf == before)
        #expect(conf.render() == ConfFixtures.debianDefault)
    }

    /// An edit that would leave a file corosync refuses is rejected and changes nothing.
    @Test func editsThatCorosyncWouldRefuseAreRejected() throws {
        var conf = try CorosyncConf(parsing: ConfFixtures.debianDefault)
        let before = conf
        let edits: [(String, (inout CorosyncConf) throws(CorosyncConfError) -> Void)] = [
            // logger_subsys needs subsys.
            ("remove subsys", { conf throws(CorosyncConfError) in try conf.remove("logging.logger_subsys.subsys") }),
            // uidgid only takes uid and gid.
            ("set uidgid.user", { conf throws(CorosyncConfError) in try conf.set("uidgid.user", "hacluster") }),
            // A new logging_daemon section would lack name.
            ("set logging.logging_daemon.debug", { conf throws(CorosyncConfError) in
                try conf.set("logging.logging_daemon.debug", "on")
            }),
        ]
        for (label, edit) in edits {
            let thrown = #expect(throws: CorosyncConfError.self, "\(label)") { try edit(&conf) }
            #expect(thrown?.kind == .invalidArgument, "\(label)")
            #expect(conf == before, "\(label)")
        }

        // The last line ends at its NUL byte only while it has no newline; appending a section would give it one.
        let cutShort = "totem {\n\tversion: 2\n}\nabc: v\u{0}tail"
        var nul = try CorosyncConf(parsing: cutShort)
        #expect(throws: CorosyncConfError.self) { try nul.set("quorum.provider", "corosync_votequorum") }
        #expect(nul.render() == cutShort)
        try nul.set("totem.token", "3000")
        #expect(nul.value(at: "totem.token") == "3000")
    }

    @Test func validAddressForms() throws {
        var conf = try CorosyncConf(parsing: Self.minimal)
        let addresses = ["192.0.2.1", "2001:db8::1", "fe80::1%eth0", "node-a.example.com", "host.", "localhost"]
        for (index, address) in addresses.enumerated() {
            try conf.addNode(name: "n\(index)", addresses: [address])
        }
        #expect(conf.nodes.map { $0.addresses[0] } == addresses)
        #expect(conf.nodes.map(\.nodeID) == [1, 2, 3, 4, 5, 6])
    }
}

@Suite("corosync.conf nodelist from the membership record", .timeLimit(.minutes(1)))
struct ConfNodelistReconcileTests {
    static let three = """
        totem {
        \tversion: 2
        \tcluster_name: c
        }

        nodelist {
        \tnode {
        \t\tname: node1
        \t\tnodeid: 1
        \t\tring0_addr: 10.99.0.1
        \t}

        \tnode {
        \t\tname: node2
        \t\tnodeid: 2
        \t\tring0_addr: 10.99.0.2
        \t}

        \tnode {
        \t\tname: node3
        \t\tnodeid: 3
        \t\tring0_addr: 10.99.0.3
        \t}
        }

        quorum {
        \tprovider: corosync_votequorum
        }

        """

    static func wanted(_ nodes: [(String, UInt32)]) -> [CorosyncConf.WantedNode] {
        nodes.map { CorosyncConf.WantedNode(name: $0.0, nodeID: $0.1, addresses: ["10.99.0.\($0.1)"]) }
    }

    @Test func addsAndRemovesByExactNameKeepingIdsAndEverythingElse() throws {
        var conf = try CorosyncConf(parsing: Self.three)
        // node3 was removed; node4 joins with the id the record allocated (4, not 3: ids are never reused).
        let change = try conf.reconcileNodelist(Self.wanted([("node1", 1), ("node2", 2), ("node4", 4)]))
        #expect(change.removed == ["node3"] && change.added == ["node4"])
        #expect(conf.nodes.map(\.nodeID) == [1, 2, 4] && conf.nodes.map(\.name) == ["node1", "node2", "node4"])
        #expect(conf.render().hasPrefix("totem {\n\tversion: 2\n\tcluster_name: c\n}\n"))
        // Already right: nothing changes, byte for byte.
        let before = conf.render()
        let none = try conf.reconcileNodelist(Self.wanted([("node1", 1), ("node2", 2), ("node4", 4)]))
        #expect(none.removed.isEmpty && none.added.isEmpty && conf.render() == before)
        // Down to two: two_node appears.
        try conf.reconcileNodelist(Self.wanted([("node1", 1), ("node4", 4)]))
        #expect(conf.quorum.twoNode == true)
    }

    @Test func neverRenumbersAndChangesNothingOnConflict() throws {
        var conf = try CorosyncConf(parsing: Self.three)
        let before = conf.render()
        #expect(throws: CorosyncConfError.self) { try conf.reconcileNodelist(Self.wanted([("node1", 1), ("node2", 5)])) }
        #expect(throws: CorosyncConfError.self) { try conf.reconcileNodelist(Self.wanted([("node1", 1), ("node9", 2)] )) }
        #expect(conf.render() == before)
        // An explicit id already in use is refused by addNode too.
        #expect(throws: CorosyncConfError.self) { try conf.addNode(name: "node9", nodeID: 2, addresses: ["10.99.0.9"]) }
    }

    @Test func aNodePutBackGoesWhereItsIdBelongs() throws {
        // node1 deleted by hand, then put back from the record: the file is byte for byte what it was (blank lines
        // between node sections kept), not node1 appended after node3.
        let original = try CorosyncConf(parsing: Self.three)
        var conf = original
        try conf.removeNode(named: "node1")
        let wanted = original.nodes.map { CorosyncConf.WantedNode(name: $0.name, nodeID: $0.nodeID, addresses: $0.addresses) }
        let (removed, added) = try conf.reconcileNodelist(wanted)
        #expect(removed.isEmpty && added == ["node1"])
        #expect(conf.render() == Self.three)
        // In the middle too.
        var middle = original
        try middle.removeNode(named: "node2")
        _ = try middle.reconcileNodelist(wanted)
        #expect(middle.render() == Self.three)
    }
}
