@testable import CorosyncKit
import Testing

@Suite("corosync.conf parsing and reading", .timeLimit(.minutes(2)))
struct ConfParsingTests {
    @Test("every fixture round-trips byte for byte", arguments: ConfFixtures.all.map(\.name))
    func roundTrip(name: String) throws {
        let text = try #require(ConfFixtures.all.first { $0.name == name }?.text)
        let conf = try CorosyncConf(parsing: text)
        #expect(Array(conf.render().utf8) == Array(text.utf8))
        #expect(try CorosyncConf(parsing: conf.render()) == conf)
    }

    @Test func debianDefaultReading() throws {
        let conf = try CorosyncConf(parsing: ConfFixtures.debianDefault)
        #expect(conf.clusterName == "debian")
        #expect(conf.transport == nil)
        #expect(conf.cryptoCipher == "none")
        #expect(conf.cryptoHash == "none")
        #expect(conf.token == nil)
        #expect(conf.quorum == CorosyncQuorumOptions(provider: "corosync_votequorum"))
        #expect(conf.nodes == [CorosyncNodeEntry(nodeID: 1, name: "node1", addresses: ["127.0.0.1"])])
        #expect(conf.value(at: "logging.logger_subsys.subsys") == "QUORUM")
        #expect(conf.value(at: "logging.timestamp") == nil)
        #expect(conf.values(at: "logging.debug") == ["off"])
        #expect(conf.values(at: "logging.logger_subsys.debug") == ["off"])
    }

    @Test func pcsStyleReading() throws {
        let conf = try CorosyncConf(parsing: ConfFixtures.pcsStyle)
        #expect(conf.clusterName == "webfarm")
        #expect(conf.transport == "knet")
        #expect(conf.cryptoCipher == "aes256")
        #expect(conf.cryptoHash == "sha256")
        #expect(conf.quorum.twoNode == true)
        #expect(conf.quorum.waitForAll == nil)
        #expect(conf.nodes == [
            CorosyncNodeEntry(nodeID: 1, name: "web-a", addresses: ["192.168.122.11"]),
            CorosyncNodeEntry(nodeID: 2, name: "web-b", addresses: ["192.168.122.12"]),
        ])
        #expect(conf.value(at: "logging.logfile") == "/var/log/cluster/corosync.log")
    }

    @Test func proxmoxStyleReading() throws {
        let conf = try CorosyncConf(parsing: ConfFixtures.proxmoxStyle)
        #expect(conf.clusterName == "homelab")
        #expect(conf.secauth == true)
        #expect(conf.value(at: "totem.config_version") == "7")
        #expect(conf.value(at: "totem.link_mode") == "passive")
        #expect(conf.values(at: "totem.interface.linknumber") == ["0", "1"])
        #expect(conf.value(at: "totem.interface.knet_link_priority") == "10")
        #expect(conf.nodes.map(\.name) == ["pve1", "pve2", "pve3"])
        #expect(conf.nodes.map(\.nodeID) == [1, 2, 3])
        #expect(conf.nodes[2].addresses == ["10.10.10.3", "172.16.0.3"])
        #expect(conf.values(at: "nodelist.node.quorum_votes") == ["1", "1", "1"])
    }

    @Test func udpuTwoRingsReading() throws {
        let conf = try CorosyncConf(parsing: ConfFixtures.udpuTwoRings)
        #expect(conf.transport == "udpu")
        #expect(conf.secauth == false)
        #expect(conf.token == 5000)
        #expect(conf.value(at: "compatibility") == "whitetank")
        #expect(conf.values(at: "totem.interface.bindnetaddr") == ["10.0.1.0", "10.0.2.0"])
        #expect(conf.quorum == CorosyncQuorumOptions(
            provider: "corosync_votequorum", waitForAll: true, lastManStanding: true, expectedVotes: 3))
        // Nodes without a name read with an empty name.
        #expect(conf.nodes == [
            CorosyncNodeEntry(nodeID: 1, name: "", addresses: ["10.0.1.1", "10.0.2.1"]),
            CorosyncNodeEntry(nodeID: 2, name: "", addresses: ["10.0.1.2", "10.0.2.2"]),
            CorosyncNodeEntry(nodeID: 3, name: "", addresses: ["10.0.1.3", "10.0.2.3"]),
        ])
    }

    @Test func ipv6Reading() throws {
        let conf = try CorosyncConf(parsing: ConfFixtures.ipv6Rings)
        #expect(conf.token == 3000)
        #expect(conf.value(at: "totem.ip_version") == "ipv6")
        #expect(conf.nodes == [
            CorosyncNodeEntry(nodeID: 11, name: "six-1", addresses: ["fd00::1", "fe80::5054:ff:fe12:3401%eth0"]),
            CorosyncNodeEntry(nodeID: 12, name: "six-2", addresses: ["fd00::2", "fe80::5054:ff:fe12:3402%eth0"]),
        ])
        #expect(conf.quorum.twoNode == true)
    }

    @Test func qdeviceReading() throws {
        let conf = try CorosyncConf(parsing: ConfFixtures.qdevice)
        #expect(conf.value(at: "quorum.device.net.host") == "qnetd.example.net")
        #expect(conf.value(at: "quorum.device.net.algorithm") == "ffsplit")
        #expect(conf.value(at: "quorum.device.model") == "net")
        #expect(conf.value(at: "quorum.device.heuristics.exec_ping") == "/bin/ping -q -c 1 192.168.1.254")
        #expect(conf.quorum.autoTieBreaker == false)
        #expect(conf.nodes.map(\.addresses) == [["arb-a.example.net"], ["arb-b.example.net"]])
    }

    @Test func oddSpacingReading() throws {
        let conf = try CorosyncConf(parsing: ConfFixtures.oddSpacing)
        #expect(conf.value(at: "totem.version") == "2")
        #expect(conf.clusterName == "odd")
        #expect(conf.transport == "knet")
        #expect(conf.value(at: "totem.token_coefficient") == "650")
        // No inline comments in corosync.conf: the "#" belongs to the value.
        #expect(conf.cryptoCipher == "none # not a comment")
        #expect(conf.value(at: "totem.interface.linknumber") == "0")
        // "quorum: {" opens a section named "quorum".
        #expect(conf.quorum.provider == "corosync_votequorum")
        #expect(conf.quorum.expectedVotes == 3)
        // A repeated key inside a node reads as the last one, like corosync.
        #expect(conf.nodes == [
            CorosyncNodeEntry(nodeID: 1, name: "a", addresses: ["10.9.9.9"]),
            CorosyncNodeEntry(nodeID: 2, name: "b", addresses: ["10.1.1.2"]),
            CorosyncNodeEntry(nodeID: 3, name: "c", addresses: ["10.1.1.3"]),
        ])
        #expect(conf.values(at: "nodelist.node.ring0_addr") == ["10.1.1.1", "10.9.9.9", "10.1.1.2", "10.1.1.3"])
        #expect(conf.value(at: "nodelist.node.ring0_addr") == "10.1.1.1")
    }

    @Test func unusualSectionsReading() throws {
        let conf = try CorosyncConf(parsing: ConfFixtures.unusualSections)
        #expect(conf.token == nil)
        #expect(conf.value(at: "totem.token") == "not-a-number")
        #expect(conf.value(at: "resources.system.memory_used.poll_period") == "3000")
        #expect(conf.value(at: "uidgid.gid") == "haclient")
        // Missing nodeid reads as 0, missing name as "", a link gap as "".
        #expect(conf.nodes == [
            CorosyncNodeEntry(nodeID: 0, name: "", addresses: ["10.2.0.1", "", "10.4.0.1"]),
            CorosyncNodeEntry(nodeID: 0, name: "second", addresses: ["10.2.0.2"]),
        ])
    }

    @Test func crlfAndMissingFinalNewline() throws {
        let crlf = try CorosyncConf(parsing: ConfFixtures.crlf)
        let lf = try CorosyncConf(parsing: ConfFixtures.pcsStyle)
        #expect(crlf.nodes == lf.nodes)
        #expect(crlf.clusterName == "webfarm")
        #expect(crlf.items.first?.section?.openLine.ending == .crlf)
        let noNewline = try CorosyncConf(parsing: ConfFixtures.noTrailingNewline)
        #expect(noNewline.items.last?.section?.closeLine.ending == CorosyncLineEnding.none)
        #expect(noNewline.nodes.count == 2)
        // A lone "\r" at the very end is stripped by corosync and kept as the line ending here.
        let loneCR = try CorosyncConf(parsing: "a {\n}\r")
        #expect(loneCR.items.first?.section?.closeLine.ending == .cr)
        #expect(loneCR.render() == "a {\n}\r")
    }

    @Test func dottedPathsMatchDottedNames() throws {
        let conf = try CorosyncConf(parsing: "quorum.device {\n\tmodel: net\n}\nquorum {\n\tdevice {\n\t\tmodel: disk\n\t}\n}\n")
        #expect(conf.values(at: "quorum.device.model") == ["net", "disk"])
        #expect(conf.value(at: "quorum.device") == nil)
        #expect(conf.value(at: "") == nil)
    }

    /// Quirks of corosync's own parser that are accepted on purpose (checked against `corosync -t`).
    @Test func corosyncQuirksAccepted() throws {
        let pairs: [(line: String, key: String, value: String)] = [
            ("key: fe80::1", "key", "fe80::1"),
            ("key:: v", "key", ": v"),
            ("key: }", "key", "}"),
            ("key:", "key", ""),
            ("key\t:\tv a l", "key", "v a l"),
            (": v", ":", "v"),
            ("k:x: y", "k", "x: y"),
        ]
        for sample in pairs {
            let conf = try CorosyncConf(parsing: "s {\n\(sample.line)\n}\n")
            let pair = try #require(conf.items.first?.section?.children.first)
            #expect(pair == .pair(CorosyncConfPair(
                key: sample.key, value: sample.value, line: CorosyncConfLine(text: sample.line, ending: .lf))))
        }
        let names: [(line: String, name: String)] = [
            ("totem{", "totem"), ("totem: {", "totem"), ("  totem  {  ", "totem"), ("key: value{", "key: value"),
            ("a b {", "a b"), (": {", ":"),
        ]
        for sample in names {
            let conf = try CorosyncConf(parsing: sample.line + "\n}\n")
            #expect(conf.items.first?.sectionName == sample.name)
        }
    }

    /// coroparse.c cuts a key at the byte before its value (strchr_rs skips the colon and the blanks after it), so a
    /// line starting with ':' has an empty key, or the key ":" when a blank follows. Checked with `corosync -t`.
    @Test func emptyAndColonKeysReadLikeCorosync() throws {
        let text = "ab {\n:x\n\t:: 1\n: y\n:\n}\nnodelist {\n\tnode {\n\t\t:z\n\t}\n}\n"
        let conf = try CorosyncConf(parsing: text)
        let pairs = conf.items.first?.section?.children.compactMap { item -> [String]? in
            guard case .pair(let pair) = item else { return nil }
            return [pair.key, pair.value]
        }
        #expect(pairs == [["", "x"], ["", ": 1"], [":", "y"], ["", ""]])
        #expect(conf.values(at: "ab.") == ["x", ": 1", ""])
        #expect(conf.value(at: "ab.:") == "y")
        #expect(conf.value(at: "nodelist.node.") == "z")
        #expect(Array(conf.render().utf8) == Array(text.utf8))
        #expect(try CorosyncConf(parsing: conf.render()) == conf)
    }

    /// corosync reads lines as C strings: a line starting with NUL reads as empty, and the last line, when it has no
    /// newline, ends at its first NUL. Both are kept byte for byte.
    @Test func nulBytesReadLikeCorosync() throws {
        let text = "a {\n\u{0}{ not a section\n\tkey: old\n}\nabc: v\r\u{0} ignored }"
        var conf = try CorosyncConf(parsing: text)
        #expect(conf.items.first?.section?.children.first == .blank(CorosyncConfLine(text: "\u{0}{ not a section", ending: .lf)))
        #expect(conf.value(at: "abc") == "v")
        #expect(Array(conf.render().utf8) == Array(text.utf8))
        try conf.set("a.key", "new")
        #expect(conf.render() == "a {\n\u{0}{ not a section\n\tkey: new\n}\nabc: v\r\u{0} ignored }")
        #expect(try CorosyncConf(parsing: conf.render()) == conf)
    }

    /// main_config_parser_cb checks uidgid and member items by key, not by path, and stores them under names of
    /// its own, so nested sections (even oddly named ones) may hold them.
    @Test func uidgidAndMemberItemsInNestedSections() throws {
        let text = """
            uidgid {
            	a b {
            		uid: root
            	}
            }
            totem {
            	interface {
            		member {
            			nested {
            				memberaddr: 10.0.0.1
            			}
            		}
            	}
            }

            """
        let conf = try CorosyncConf(parsing: text)
        #expect(conf.value(at: "uidgid.a b.uid") == "root")
        #expect(conf.value(at: "totem.interface.member.nested.memberaddr") == "10.0.0.1")
    }

    @Test func parsesAThousandLines() throws {
        var text = "totem {\n\tversion: 2\n}\nnodelist {\n"
        for index in 1...199 {
            text += "\tnode {\n\t\tname: n\(index)\n\t\tnodeid: \(index)\n\t\tring0_addr: 10.0.\(index / 250).\(index % 250 + 1)\n\t}\n"
        }
        text += "}\n"
        #expect(text.split(separator: "\n").count >= 1000)
        let conf = try CorosyncConf(parsing: text)
        #expect(conf.nodes.count == 199)
        #expect(conf.nodes.last?.name == "n199")
    }
}
