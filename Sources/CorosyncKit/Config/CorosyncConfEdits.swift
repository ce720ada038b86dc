/// Edits that rewrite or insert only the lines they concern; every other line stays byte-identical.
/// Each edit works on a copy and only replaces `self` once everything succeeded, so a rejected edit leaves the
/// document unchanged.
extension CorosyncConf {
    // MARK: Nodes

    /// Appends a `node { }` block (name, nodeid, ringN_addr) to the nodelist and returns its node id: `nodeID` when
    /// given (sfha's membership record allocates ids, never reusing one; it must not be in use here), else one more
    /// than the highest existing id (existing ids are never changed). Creates `nodelist { }` when missing, copies the
    /// indentation and spacing of the existing nodes, and keeps `quorum.two_node` right (see ``removeNode(named:)``).
    @discardableResult
    public mutating func addNode(name: String, nodeID requested: UInt32? = nil, addresses: [String]) throws(CorosyncConfError) -> UInt32 {
        try CorosyncConfValidation.checkNodeName(name)
        try CorosyncConfValidation.checkAddresses(addresses)
        let existing = nodes
        if existing.contains(where: { $0.name == name }) {
            throw CorosyncConfError(kind: .alreadyExists, line: 0, reason: "a node named '\(name)' already exists")
        }
        var owners: [String: String] = [:]
        for node in existing {
            for address in node.addresses where !address.isEmpty {
                owners[CorosyncConfValidation.normalizedAddress(address)] = node.name
            }
        }
        for address in addresses {
            if let owner = owners[CorosyncConfValidation.normalizedAddress(address)] {
                throw CorosyncConfError(
                    kind: .alreadyExists, line: 0, reason: "address '\(address)' is already used by node '\(owner)'")
            }
        }
        let nodeID: UInt32
        if let requested {
            guard requested > 0 else { throw .invalid("node id 0 is not valid") }
            if let holder = existing.first(where: { $0.nodeID == requested }) {
                throw CorosyncConfError(kind: .alreadyExists, line: 0, reason: "node id \(requested) is already used by node '\(holder.name)'")
            }
            nodeID = requested
        } else {
            let highest = existing.map(\.nodeID).max() ?? 0
            guard highest < UInt32.max else { throw .invalid("no node id left above \(highest)") }
            nodeID = highest + 1
        }

        var document = self
        let style = CorosyncConfStyle(of: document)
        let locations = document.nodeSections()
        let nodelistIndex: Int
        if let last = locations.last {
            nodelistIndex = last.nodelistIndex
        } else if let index = document.items.firstIndex(where: { $0.sectionName == "nodelist" }) {
            nodelistIndex = index
        } else {
            Self.appendTopLevel(
                style.section(named: "nodelist", indent: style.topLevelIndent, children: []), to: &document.items, style: style)
            nodelistIndex = document.items.count - 1
        }
        guard case .section(var nodelist) = document.items[nodelistIndex] else {
            throw .invalid("internal error: nodelist not found after creating it")
        }

        let lastNodeIndex = nodelist.children.lastIndex(where: { $0.sectionName == "node" })
        let template: CorosyncConfSection? = lastNodeIndex.flatMap { nodelist.children[$0].section } ?? locations.last?.section
        let nodeIndent = style.childIndent(of: nodelist)
        let fieldIndent = template.map { style.childIndent(of: $0) } ?? nodeIndent + style.indentUnit
        let separator = template.flatMap { CorosyncConfStyle.pairSeparator(in: $0.children) } ?? style.pairSeparator

        var fields: [(String, String)] = []
        for key in Self.nodeKeyOrder(template: template) {
            switch key {
            case "name": fields.append(("name", name))
            case "nodeid": fields.append(("nodeid", String(nodeID)))
            default: fields += addresses.enumerated().map { ("ring\($0.offset)_addr", $0.element) }
            }
        }
        var nodeLines: [CorosyncConfItem] = []
        for (key, value) in fields {
            nodeLines.append(.pair(try style.pair(key: key, value: value, indent: fieldIndent, separator: separator)))
        }
        let openSeparator = template.map { CorosyncConfStyle.openSeparator(of: $0.openLine) } ?? style.openSeparator
        let node = style.section(named: "node", indent: nodeIndent, openSeparator: openSeparator, children: nodeLines)

        var insertAt = nodelist.children.count
        var separatedByBlankLines = false
        if let lastNodeIndex {
            insertAt = lastNodeIndex + 1
            separatedByBlankLines = lastNodeIndex > 0 && nodelist.children[lastNodeIndex - 1].isBlank
        }
        var inserted: [CorosyncConfItem] = [.section(node)]
        // The nodelist stays in node id order: a node put back (sfha propagate) goes before the first higher id, so
        // every member's file ends byte for byte the same.
        if let next = nodelist.children.firstIndex(where: { item in
            guard let section = item.section, section.name == "node" else { return false }
            return Self.nodeEntry(from: section).nodeID > nodeID
        }) {
            insertAt = next
            if separatedByBlankLines { inserted.append(.blank(style.blankLine)) }
        } else if separatedByBlankLines {
            inserted.insert(.blank(style.blankLine), at: 0)
        }
        nodelist.children.insert(contentsOf: inserted, at: insertAt)
        document.items[nodelistIndex] = .section(nodelist)

        try document.keepTwoNodeConsistent()
        try document.checkStillAccepted(after: "adding node '\(name)'")
        self = document
        return nodeID
    }

    /// Removes the node whose `name` is exactly `name` (removing `node1` never touches `node10`), then keeps
    /// `quorum.two_node` right: with the votequorum provider, exactly two nodes and no quorum device, `two_node: 1`
    /// is present; otherwise it is removed (votequorum refuses two_node together with a quorum device).
    /// `wait_for_all` and other quorum keys are left alone: they are explicit operator choices.
    public mutating func removeNode(named name: String) throws(CorosyncConfError) {
        guard let target = nodeSections().first(where: { Self.nodeEntry(from: $0.section).name == name }) else {
            throw CorosyncConfError(kind: .notFound, line: 0, reason: "no node named '\(name)'")
        }
        var document = self
        guard case .section(var nodelist) = document.items[target.nodelistIndex] else {
            throw .invalid("internal error: nodelist moved")
        }
        let index = target.childIndex
        nodelist.children.remove(at: index)
        // Drop the blank line that separated the node from its predecessor, so add/remove cycles don't pile up blanks.
        if index > 0, nodelist.children[index - 1].isBlank,
           index == nodelist.children.count || nodelist.children[index].isBlank {
            nodelist.children.remove(at: index - 1)
        } else if index == 0 || !nodelist.children[index - 1].isBlank, index < nodelist.children.count, nodelist.children[index].isBlank,
            !nodelist.children[..<index].contains(where: { $0.sectionName == "node" })
        {
            // The first node went: the blank line that separated it from the next one goes too.
            nodelist.children.remove(at: index)
        }
        document.items[target.nodelistIndex] = .section(nodelist)
        try document.keepTwoNodeConsistent()
        try document.checkStillAccepted(after: "removing node '\(name)'")
        self = document
    }

    /// The order of the new node's keys: the template node's order of name / nodeid / ringN_addr when there is one.
    private static func nodeKeyOrder(template: CorosyncConfSection?) -> [String] {
        var order: [String] = []
        for child in template?.children ?? [] {
            guard case .pair(let pair) = child else { continue }
            let key = ringNumber(ofAddressKey: pair.key) == nil ? pair.key : "rings"
            if ["name", "nodeid", "rings"].contains(key), !order.contains(key) { order.append(key) }
        }
        for key in ["name", "nodeid", "rings"] where !order.contains(key) { order.append(key) }
        return order
    }

    mutating func keepTwoNodeConsistent() throws(CorosyncConfError) {
        guard value(at: "quorum.provider") == "corosync_votequorum" else { return }
        let wanted = nodes.count == 2 && value(at: "quorum.device.model") == nil
        if wanted {
            let current = values(at: "quorum.two_node")
            if current.isEmpty || current.contains(where: { $0 != "1" }) { try set("quorum.two_node", "1") }
        } else {
            try remove("quorum.two_node")
        }
    }

    // MARK: Keys

    /// Sets `path` (like `totem.token` or `quorum.device.net.host`) to `value`. Existing keys keep their line and only
    /// get the value replaced (every occurrence, so corosync's last-one-wins and `value(at:)` agree); a missing key is
    /// added after the section's last key, creating missing sections. `nodelist` is off limits: use addNode/removeNode.
    public mutating func set(_ path: String, _ value: String) throws(CorosyncConfError) {
        let (sections, key) = try CorosyncConfValidation.splitPath(path)
        try CorosyncConfValidation.checkValue(value)
        let style = CorosyncConfStyle(of: self)
        var document = self
        let sectionPath = sections.joined(separator: ".")
        var replaced = 0
        var tooLong = false
        Self.rewritePairs(in: &document.items, parentPath: "", sectionPath: sectionPath, key: key) { pair in
            replaced += 1
            guard let updated = Self.replacingValue(of: pair, with: value) else {
                tooLong = true
                return pair
            }
            return updated
        }
        if tooLong { throw .invalid("line for '\(path)' would exceed corosync's \(CorosyncConfParser.maxLineBytes)-byte limit") }
        if replaced == 0 {
            try Self.insert(key: key, value: value, sections: sections[...], into: &document.items, parentIndent: nil, style: style)
        }
        try document.checkStillAccepted(after: "setting '\(path)'")
        self = document
    }

    /// Removes every `path` key. Returns whether anything was removed.
    @discardableResult
    public mutating func remove(_ path: String) throws(CorosyncConfError) -> Bool {
        let (sections, key) = try CorosyncConfValidation.splitPath(path)
        var removed = 0
        var document = self
        Self.rewritePairs(in: &document.items, parentPath: "", sectionPath: sections.joined(separator: "."), key: key) { _ in
            removed += 1
            return nil
        }
        try document.checkStillAccepted(after: "removing '\(path)'")
        self = document
        return removed > 0
    }

    /// Edits must leave a file corosync reads, and some of its rules depend on context (uidgid only takes uid and gid,
    /// logger_subsys needs subsys, a last line cut short by a NUL byte must stay the last line…): the parser knows
    /// them all.
    private func checkStillAccepted(after edit: String) throws(CorosyncConfError) {
        do {
            _ = try CorosyncConf(parsing: render())
        } catch {
            throw .invalid("\(edit) would leave a file corosync refuses (\(error.description)); edit the file by hand")
        }
    }

    /// Replaces (or, when `rewrite` returns nil, deletes) each pair named `key` directly inside a section whose dotted
    /// path is `sectionPath`.
    private static func rewritePairs(
        in items: inout [CorosyncConfItem], parentPath: String, sectionPath: String, key: String,
        _ rewrite: (CorosyncConfPair) -> CorosyncConfPair?
    ) {
        var index = 0
        while index < items.count {
            switch items[index] {
            case .pair(let pair) where parentPath == sectionPath && pair.key == key:
                if let updated = rewrite(pair) {
                    items[index] = .pair(updated)
                } else {
                    items.remove(at: index)
                    continue
                }
            case .section(var section):
                let path = joined(parentPath, section.name)
                if path == sectionPath || sectionPath.hasPrefix(path + ".") {
                    rewritePairs(in: &section.children, parentPath: path, sectionPath: sectionPath, key: key, rewrite)
                    items[index] = .section(section)
                }
            default:
                break
            }
            index += 1
        }
    }

    /// The pair with only its value bytes replaced; nil when the line would become too long for corosync.
    private static func replacingValue(of pair: CorosyncConfPair, with value: String) -> CorosyncConfPair? {
        if pair.value == value { return pair }
        let bytes = Array(pair.line.text.utf8)
        guard case .pair(_, _, _, let range) = CorosyncConfParser.classify(bytes[...]) else { return nil }
        var prefix = Array(bytes[..<range.lowerBound])
        // "key:" with no value has no spacing to copy; use the usual single space.
        if range.isEmpty, prefix.last == CorosyncConfParser.colon { prefix.append(CorosyncConfParser.space) }
        let text = String(decoding: prefix, as: UTF8.self) + value + String(decoding: bytes[range.upperBound...], as: UTF8.self)
        var updated = pair
        updated.value = value
        updated.line.text = text
        return CorosyncConfParser.fits(text, ending: pair.line.ending) ? updated : nil
    }

    /// Adds `key: value` inside the section chain `sections`, creating the sections that don't exist yet.
    private static func insert(
        key: String, value: String, sections: ArraySlice<String>, into items: inout [CorosyncConfItem],
        parentIndent: String?, style: CorosyncConfStyle
    ) throws(CorosyncConfError) {
        guard let name = sections.first else { return }
        let rest = sections.dropFirst()
        if let index = items.firstIndex(where: { $0.sectionName == name }), case .section(var section) = items[index] {
            let indent = style.childIndent(of: section)
            if rest.isEmpty {
                let separator = CorosyncConfStyle.pairSeparator(in: section.children) ?? style.pairSeparator
                let pair = try style.pair(key: key, value: value, indent: indent, separator: separator)
                let position = section.children.lastIndex(where: { $0.isPair }).map { $0 + 1 } ?? section.children.count
                section.children.insert(.pair(pair), at: position)
            } else {
                try insert(key: key, value: value, sections: rest, into: &section.children, parentIndent: indent, style: style)
            }
            items[index] = .section(section)
            return
        }
        let indent = parentIndent ?? style.topLevelIndent
        let created = try makeSectionChain(
            Array(sections), key: key, value: value, indent: indent, style: style)
        if parentIndent == nil {
            appendTopLevel(created, to: &items, style: style)
        } else {
            items.append(.section(created))
        }
    }

    private static func makeSectionChain(
        _ names: [String], key: String, value: String, indent: String, style: CorosyncConfStyle
    ) throws(CorosyncConfError) -> CorosyncConfSection {
        let childIndent = indent + style.indentUnit
        let child: CorosyncConfItem
        if names.count > 1 {
            child = .section(try makeSectionChain(Array(names.dropFirst()), key: key, value: value, indent: childIndent, style: style))
        } else {
            child = .pair(try style.pair(key: key, value: value, indent: childIndent, separator: style.pairSeparator))
        }
        return style.section(named: names[0], indent: indent, children: [child])
    }

    /// Appends a top-level section, ending the current last line first and separating with a blank line.
    static func appendTopLevel(_ section: CorosyncConfSection, to items: inout [CorosyncConfItem], style: CorosyncConfStyle) {
        if !items.isEmpty {
            terminateLastLine(of: &items, with: style.ending)
            if items.last?.isBlank == false { items.append(.blank(style.blankLine)) }
        }
        items.append(.section(section))
    }

    /// Gives the document's last line a line ending so that appended lines start on a line of their own.
    private static func terminateLastLine(of items: inout [CorosyncConfItem], with ending: CorosyncLineEnding) {
        guard let lastIndex = items.indices.last else { return }
        func fixed(_ line: CorosyncConfLine) -> CorosyncConfLine {
            var line = line
            switch line.ending {
            case .none: line.ending = ending
            case .cr: line.ending = .crlf
            case .lf, .crlf: break
            }
            return line
        }
        switch items[lastIndex] {
        case .blank(let line): items[lastIndex] = .blank(fixed(line))
        case .comment(let line): items[lastIndex] = .comment(fixed(line))
        case .pair(var pair):
            pair.line = fixed(pair.line)
            items[lastIndex] = .pair(pair)
        case .section(var section):
            section.closeLine = fixed(section.closeLine)
            items[lastIndex] = .section(section)
        }
    }
}

extension CorosyncConfItem {
    var sectionName: String? {
        if case .section(let section) = self { return section.name }
        return nil
    }

    var section: CorosyncConfSection? {
        if case .section(let section) = self { return section }
        return nil
    }

    var isBlank: Bool {
        if case .blank = self { return true }
        return false
    }

    var isPair: Bool {
        if case .pair = self { return true }
        return false
    }
}

/// The formatting habits of a document, so inserted lines look like their neighbours.
struct CorosyncConfStyle {
    var ending: CorosyncLineEnding = .lf
    /// One level of indentation (a tab, four spaces, …).
    var indentUnit = "\t"
    var topLevelIndent = ""
    /// Between key and value, e.g. ": ".
    var pairSeparator = ": "
    /// Between a section name and its "{", e.g. " ".
    var openSeparator = " "

    init(of document: CorosyncConf) {
        if let ending = Self.firstEnding(in: document.items) { self.ending = ending }
        if let unit = Self.indentUnit(in: document.items, parentIndent: "") { indentUnit = unit }
        if let separator = Self.firstPairSeparator(in: document.items) { pairSeparator = separator }
        for item in document.items {
            switch item {
            case .pair(let pair): topLevelIndent = Self.leadingBlanks(of: pair.line.text)
            case .section(let section): topLevelIndent = Self.leadingBlanks(of: section.openLine.text)
            default: continue
            }
            break
        }
        if let section = Self.firstSection(in: document.items) { openSeparator = Self.openSeparator(of: section.openLine) }
    }

    var blankLine: CorosyncConfLine { CorosyncConfLine(text: "", ending: ending) }

    func pair(key: String, value: String, indent: String, separator: String) throws(CorosyncConfError) -> CorosyncConfPair {
        let text = indent + key + separator + value
        guard CorosyncConfParser.fits(text, ending: ending) else {
            throw .invalid("line '\(key)\(separator)…' would exceed corosync's \(CorosyncConfParser.maxLineBytes)-byte limit")
        }
        return CorosyncConfPair(key: key, value: value, line: CorosyncConfLine(text: text, ending: ending))
    }

    func section(
        named name: String, indent: String, openSeparator: String? = nil, children: [CorosyncConfItem]
    ) -> CorosyncConfSection {
        CorosyncConfSection(
            name: name,
            openLine: CorosyncConfLine(text: indent + name + (openSeparator ?? self.openSeparator) + "{", ending: ending),
            children: children,
            closeLine: CorosyncConfLine(text: indent + "}", ending: ending))
    }

    /// The indentation of the section's existing entries, or one level deeper than the section itself.
    func childIndent(of section: CorosyncConfSection) -> String {
        for child in section.children {
            switch child {
            case .pair(let pair): return Self.leadingBlanks(of: pair.line.text)
            case .section(let nested): return Self.leadingBlanks(of: nested.openLine.text)
            case .blank, .comment: continue
            }
        }
        return Self.leadingBlanks(of: section.openLine.text) + indentUnit
    }

    static func leadingBlanks(of text: String) -> String {
        String(text.prefix(while: { $0 == " " || $0 == "\t" }))
    }

    private static func firstEnding(in items: [CorosyncConfItem]) -> CorosyncLineEnding? {
        for item in items {
            let line: CorosyncConfLine
            switch item {
            case .blank(let l), .comment(let l): line = l
            case .pair(let pair): line = pair.line
            case .section(let section): line = section.openLine
            }
            if line.ending == .lf || line.ending == .crlf { return line.ending }
        }
        return nil
    }

    /// The extra indentation of the first entry that is indented deeper than its section.
    private static func indentUnit(in items: [CorosyncConfItem], parentIndent: String) -> String? {
        for item in items {
            guard case .section(let section) = item else { continue }
            let sectionIndent = leadingBlanks(of: section.openLine.text)
            for child in section.children {
                let childText: String
                switch child {
                case .pair(let pair): childText = pair.line.text
                case .section(let nested): childText = nested.openLine.text
                case .blank, .comment: continue
                }
                let childIndent = leadingBlanks(of: childText)
                if childIndent.count > sectionIndent.count, childIndent.hasPrefix(sectionIndent) {
                    return String(childIndent.dropFirst(sectionIndent.count))
                }
                break
            }
            if let unit = indentUnit(in: section.children, parentIndent: sectionIndent) { return unit }
        }
        return nil
    }

    private static func firstPairSeparator(in items: [CorosyncConfItem]) -> String? {
        if let separator = pairSeparator(in: items) { return separator }
        for item in items {
            if case .section(let section) = item, let separator = firstPairSeparator(in: section.children) {
                return separator
            }
        }
        return nil
    }

    /// The text between key and value of the first direct pair with a value, if it is ':' plus blanks.
    static func pairSeparator(in items: [CorosyncConfItem]) -> String? {
        for item in items {
            guard case .pair(let pair) = item, !pair.value.isEmpty else { continue }
            let bytes = Array(pair.line.text.utf8)
            guard case .pair(_, _, let keyRange, let valueRange) = CorosyncConfParser.classify(bytes[...]) else { continue }
            let separator = bytes[keyRange.upperBound..<valueRange.lowerBound]
            let colons = separator.filter { $0 == CorosyncConfParser.colon }.count
            guard colons == 1, separator.allSatisfy({ $0 == CorosyncConfParser.colon || CorosyncConfParser.isBlank($0) })
            else { continue }
            return String(decoding: separator, as: UTF8.self)
        }
        return nil
    }

    private static func firstSection(in items: [CorosyncConfItem]) -> CorosyncConfSection? {
        for item in items {
            if case .section(let section) = item { return section }
        }
        return nil
    }

    /// The blanks between a section's name and its "{" (" " for "totem {", "" for "totem{").
    static func openSeparator(of line: CorosyncConfLine) -> String {
        let text = line.text
        guard let brace = text.firstIndex(of: "{") else { return " " }
        let beforeBrace = text[..<brace]
        let blanks = beforeBrace.reversed().prefix(while: { $0 == " " || $0 == "\t" })
        return String(blanks.reversed())
    }
}

extension CorosyncConf {
    /// One node of the nodelist sfha wants: its name, node id and ring addresses.
    public struct WantedNode: Sendable, Equatable {
        public var name: String
        public var nodeID: UInt32
        public var addresses: [String]

        public init(name: String, nodeID: UInt32, addresses: [String]) {
            self.name = name
            self.nodeID = nodeID
            self.addresses = addresses
        }
    }

    /// Makes the nodelist exactly `wanted`, matching nodes by exact name: nodes not wanted are removed, missing ones
    /// added with their own node id, and `quorum.two_node` kept right; nothing else in the file changes. A node that
    /// is wanted with another id or other addresses than it has here is an error (sfha never renumbers a node; the
    /// file was edited by hand or belongs to another cluster), and so is a wanted id held here by another name.
    /// Returns the names removed and added; on error, nothing changed.
    @discardableResult
    public mutating func reconcileNodelist(_ wanted: [WantedNode]) throws(CorosyncConfError) -> (removed: [String], added: [String]) {
        var document = self
        let present = Dictionary(document.nodes.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let wantedNames = Set(wanted.map(\.name))
        for node in wanted {
            guard let existing = present[node.name] else { continue }
            guard existing.nodeID == node.nodeID, existing.addresses == node.addresses else {
                throw CorosyncConfError(
                    kind: .invalidArgument, line: 0,
                    reason: "node '\(node.name)' is nodeid \(existing.nodeID) at \(existing.addresses) here but \(node.nodeID) at \(node.addresses) "
                        + "in the membership record; sfha never renumbers a node: restore the file from the record")
            }
        }
        for node in wanted where present[node.name] == nil {
            if let holder = present.values.first(where: { $0.nodeID == node.nodeID }) {
                throw CorosyncConfError(
                    kind: .alreadyExists, line: 0,
                    reason: "nodeid \(node.nodeID) is node '\(holder.name)' here but '\(node.name)' in the membership record; "
                        + "sfha never gives a node id to another node: restore the file from the record")
            }
        }
        let removed = document.nodes.map(\.name).filter { !wantedNames.contains($0) }
        for name in removed { try document.removeNode(named: name) }
        var added: [String] = []
        for node in wanted.sorted(by: { $0.nodeID < $1.nodeID }) where present[node.name] == nil {
            try document.addNode(name: node.name, nodeID: node.nodeID, addresses: node.addresses)
            added.append(node.name)
        }
        self = document
        return (removed, added)
    }
}
