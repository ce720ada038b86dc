@testable import CorosyncKit
import Testing

/// The SplitMix64 generator: tiny, fast and reproducible, so a failing case can be replayed from the seed in the message.
struct ConfSplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func pick<T>(_ choices: [T]) -> T {
        choices[Int.random(in: 0..<choices.count, using: &self)]
    }

    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &self) < percent }
}

/// What a generated document means, independent of its formatting.
indirect enum ConfSkeleton: Equatable, CustomStringConvertible {
    case pair(String, String)
    case section(String, [ConfSkeleton])

    static func of(_ items: [CorosyncConfItem]) -> [ConfSkeleton] {
        items.compactMap { item in
            switch item {
            case .pair(let pair): .pair(pair.key, pair.value)
            case .section(let section): .section(section.name, of(section.children))
            case .blank, .comment: nil
            }
        }
    }

    var description: String {
        switch self {
        case .pair(let key, let value): "\(key)=\(value)"
        case .section(let name, let children): "\(name){\(children.map(\.description).joined(separator: ","))}"
        }
    }
}

/// Random but valid corosync.conf text in all the formatting variants the parser must preserve.
struct ConfDocumentGenerator {
    var random: ConfSplitMix64
    var text = ""
    let indentUnit: String
    let useCRLF: Bool

    init(seed: UInt64) {
        random = ConfSplitMix64(seed: seed)
        indentUnit = random.pick(["\t", "    ", "  ", "", " \t"])
        useCRLF = random.chance(20)
    }

    static let sectionNames = ["totem", "quorum", "nodelist", "node", "interface", "device", "net", "misc", "a_b", "x-y", "a b", "key: v"]
    /// Section names corosync cannot store keys under (they hold only sections, comments and blank lines here).
    static let keylessSectionNames: Set<String> = ["a b", "key: v"]
    /// All valid in cmap key names; "" (from a line like ":x") and "k" only below the top level, where the key name
    /// gets its section's prefix (corosync needs at least 3 bytes).
    static let keys = ["version", "token", "name", "ring0_addr", "k", "x-y", "crypto_hash", "a/b.c", ""]
    static let values = ["2", "3000", "fe80::1", "a b", "x # not comment", "}", "", "value:with:colons", "é ü", "10.0.0.1", "#x", "a\tb"]

    mutating func line(_ content: String) {
        text += content
        text += useCRLF && !random.chance(5) ? "\r\n" : "\n"
    }

    mutating func blanks() -> String { random.pick(["", " ", "\t", "  \t", "   "]) }

    mutating func items(depth: Int, indent: String, keysAllowed: Bool = true) -> [ConfSkeleton] {
        var result: [ConfSkeleton] = []
        for _ in 0..<Int.random(in: 0...(depth == 0 ? 6 : 4), using: &random) {
            switch Int.random(in: 0..<10, using: &random) {
            case 0:
                line(blanks())
            case 1:
                line(indent + random.pick(["", " ", "\t"]) + "#" + random.pick(["", " comment", " { not a section", " } x", "#"]) + blanks())
            case 2...5:
                guard keysAllowed else { continue }
                let key = random.pick(depth == 0 ? Self.keys.filter { $0.utf8.count >= 3 } : Self.keys)
                let value = random.pick(Self.values)
                // A blank before the value would make an empty key read as ":".
                let separator = key.isEmpty ? ":"
                    : value.isEmpty ? random.pick([":", ": "]) : random.pick([":", ": ", " : ", ":\t", " :  "])
                line(indent + key + separator + value + blanks())
                result.append(.pair(key, value))
            default:
                guard depth < 3 else { continue }
                let name = random.pick(Self.sectionNames)
                line(indent + name + random.pick([" {", "{", ": {", "  {", "\t{"]) + blanks())
                let children = items(
                    depth: depth + 1, indent: indent + indentUnit,
                    keysAllowed: keysAllowed && !Self.keylessSectionNames.contains(name))
                line(indent + "}" + blanks())
                result.append(.section(name, children))
            }
        }
        return result
    }

    /// Text plus its meaning; the last line ending is sometimes removed.
    mutating func document() -> (text: String, skeleton: [ConfSkeleton]) {
        let skeleton = items(depth: 0, indent: "")
        if random.chance(25), text.hasSuffix("\n") {
            text.removeLast()  // drops "\n" or the single Character "\r\n"
            if random.chance(20) { text += "\r" }
        }
        return (text, skeleton)
    }
}

@Suite("corosync.conf properties", .timeLimit(.minutes(5)))
struct ConfPropertyTests {
    static let caseCount = 400

    @Test func randomDocumentsRoundTrip() throws {
        var sections = 0, crlfDocuments = 0, unterminated = 0
        for index in 0..<Self.caseCount {
            let seed = 0xC0FFEE &+ UInt64(index)
            var generator = ConfDocumentGenerator(seed: seed)
            let (text, skeleton) = generator.document()
            let conf: CorosyncConf
            do {
                conf = try CorosyncConf(parsing: text)
            } catch {
                Issue.record("seed \(seed): \(error) in \(text.debugDescription)")
                continue
            }
            #expect(Array(conf.render().utf8) == Array(text.utf8), "seed \(seed)")
            #expect(try CorosyncConf(parsing: conf.render()) == conf, "seed \(seed)")
            #expect(ConfSkeleton.of(conf.items) == skeleton, "seed \(seed)")
            sections += conf.items.filter { $0.section != nil }.count
            if text.contains("\r\n") { crlfDocuments += 1 }
            if !text.isEmpty, !text.hasSuffix("\n") { unterminated += 1 }
        }
        // The generator really produces the variety the property is about.
        #expect(sections > Self.caseCount && crlfDocuments > 20 && unterminated > 20, "\(sections) \(crlfDocuments) \(unterminated)")
    }

    static let bases: [String] = [
        ConfFixtures.debianDefault, ConfFixtures.pcsStyle, ConfFixtures.proxmoxStyle, ConfFixtures.ipv6Rings,
        ConfFixtures.qdevice, ConfFixtures.oddSpacing, ConfFixtures.crlf, ConfFixtures.noTrailingNewline,
        "totem {\n\tversion: 2\n}\n", "",
    ]
    static let setPaths = [
        "totem.token", "totem.token_coefficient", "quorum.wait_for_all", "quorum.device.votes", "logging.debug",
        "system.sched_rr", "totem.interface.knet_ping_interval", "resources.system.memory_used.poll_period",
    ]
    static let nodeNames = ["n1", "n10", "n100", "node", "node1", "node10", "web-a", "pve1", "six-1", "x.y_z"]

    @Test func randomEditSequences() throws {
        var added = 0, removed = 0, rejected = 0
        for index in 0..<Self.caseCount {
            let seed = 0xED17 &+ UInt64(index)
            var random = ConfSplitMix64(seed: seed)
            var conf = try CorosyncConf(parsing: random.pick(Self.bases))
            for step in 0..<Int.random(in: 1...8, using: &random) {
                let context = "seed \(seed) step \(step)"
                let before = conf
                switch Int.random(in: 0..<5, using: &random) {
                case 0, 1:
                    let name = random.pick(Self.nodeNames)
                    let addresses = (0..<Int.random(in: 1...2, using: &random)).map { link in
                        "10.\(link).\(Int.random(in: 0...3, using: &random)).\(Int.random(in: 1...6, using: &random))"
                    }
                    do {
                        let id = try conf.addNode(name: name, addresses: addresses)
                        added += 1
                        #expect(id == (before.nodes.map(\.nodeID).max() ?? 0) + 1, "\(context)")
                        #expect(conf.nodes == before.nodes + [CorosyncNodeEntry(nodeID: id, name: name, addresses: addresses)], "\(context)")
                        checkNodeEditKeptOtherLines(before: before, after: conf, context: context)
                        #expect(Array(conf.nodeSections().map(\.section).dropLast()) == before.nodeSections().map(\.section), "\(context)")
                    } catch {
                        rejected += 1
                        #expect(error.kind == .alreadyExists, "\(context): \(error)")
                        #expect(conf == before, "\(context)")
                    }
                case 2:
                    let name = random.chance(70) ? (before.nodes.randomElement(using: &random)?.name ?? "none") : "absent"
                    do {
                        try conf.removeNode(named: name)
                        removed += 1
                        var expected = before.nodes
                        var expectedSections = before.nodeSections().map(\.section)
                        if let position = expected.firstIndex(where: { $0.name == name }) {
                            expected.remove(at: position)
                            expectedSections.remove(at: position)
                        }
                        #expect(conf.nodes == expected, "\(context)")
                        #expect(conf.nodeSections().map(\.section) == expectedSections, "\(context)")
                        checkNodeEditKeptOtherLines(before: before, after: conf, context: context)
                    } catch {
                        #expect(error.kind == .notFound, "\(context): \(error)")
                        #expect(conf == before, "\(context)")
                    }
                case 3:
                    let path = random.pick(Self.setPaths)
                    let value = random.pick(["1", "0", "3000", "yes", "a b", "x:y"])
                    try conf.set(path, value)
                    #expect(conf.values(at: path) == [value], "\(context)")
                    checkUntouchedTopLevel(before: before, after: conf, except: [String(path.prefix { $0 != "." })], context: context)
                default:
                    let path = random.pick(Self.setPaths)
                    try conf.remove(path)
                    #expect(conf.values(at: path).isEmpty, "\(context)")
                    checkUntouchedTopLevel(before: before, after: conf, except: [String(path.prefix { $0 != "." })], context: context)
                }
                #expect(try CorosyncConf(parsing: conf.render()) == conf, "\(context)")
                let ids = conf.nodes.map(\.nodeID)
                #expect(Set(ids).count == ids.count, "\(context): duplicate node ids \(ids)")
                checkTwoNode(conf, context: context)
            }
        }
        #expect(added > 100 && removed > 50 && rejected > 10, "\(added) added, \(removed) removed, \(rejected) rejected")
    }

    /// Exactly two nodes with votequorum and no quorum device ↔ `two_node: 1`.
    func checkTwoNode(_ conf: CorosyncConf, context: String) {
        guard conf.quorum.provider == "corosync_votequorum" else {
            #expect(conf.values(at: "quorum.two_node").isEmpty, "\(context)")
            return
        }
        let wanted = conf.nodes.count == 2 && conf.value(at: "quorum.device.model") == nil
        #expect(conf.values(at: "quorum.two_node") == (wanted ? ["1"] : []), "\(context): \(conf.nodes.count) nodes")
    }

    /// Node edits only touch the nodelist (other nodes stay identical) and quorum's two_node line.
    func checkNodeEditKeptOtherLines(before: CorosyncConf, after: CorosyncConf, context: String) {
        checkUntouchedTopLevel(before: before, after: after, except: ["nodelist", "quorum"], context: context)
        func quorumLines(_ conf: CorosyncConf) -> [CorosyncConfItem] {
            conf.items.compactMap(\.section).filter { $0.name == "quorum" }.flatMap(\.children).filter {
                if case .pair(let pair) = $0 { return pair.key != "two_node" }
                return true
            }
        }
        #expect(quorumLines(before) == quorumLines(after), "\(context)")
    }

    /// Top-level items other than the named sections keep their exact text (blank lines and the document's final
    /// line ending may change when a section is appended).
    func checkUntouchedTopLevel(before: CorosyncConf, after: CorosyncConf, except touched: Set<String>, context: String) {
        func untouched(_ conf: CorosyncConf) -> [String] {
            var texts: [String] = []
            for item in conf.items {
                if item.isBlank { continue }
                if let name = item.sectionName, touched.contains(name) { continue }
                var single = CorosyncConf()
                single.items = [item]
                texts.append(single.render())
            }
            if var last = texts.popLast() {
                while let character = last.last, character == "\n" || character == "\r" || character == "\r\n" {
                    last.removeLast()
                }
                texts.append(last)
            }
            return texts
        }
        #expect(untouched(before) == untouched(after), "\(context)")
    }
}
