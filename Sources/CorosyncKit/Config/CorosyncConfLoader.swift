/// Where something is in a corosync.conf file.
struct CorosyncConfPosition: Equatable, Sendable {
    var line: Int
    /// 1-based, counted in characters.
    var column: Int
}

/// A piece of a cmap key name and where it came from, so that a character corosync refuses can be pointed at.
struct CorosyncKeyNamePart: Equatable {
    enum Source: Equatable {
        /// Text corosync adds itself: the "." between path parts, "nodelist.node.0.", "logging.logger_subsys." …
        case added
        case sectionName
        case key
        /// The value of `key`: logger_subsys's `subsys` and logging_daemon's `name` become part of key names.
        case value(key: String)
    }

    var bytes: [UInt8]
    var source: Source
    /// Position of the first byte; nil for added text.
    var start: CorosyncConfPosition?

    static func added(_ text: String) -> Self { Self(bytes: Array(text.utf8), source: .added, start: nil) }

    /// `parent.part`, or just `part` at the top level (parse_section adds the dot only below the top level).
    static func joined(_ parent: [Self], _ part: Self) -> [Self] {
        parent.isEmpty ? [part] : parent + [.added("."), part]
    }
}

/// The checks corosync 3.1.7 makes while loading parsed lines into its cmap (`exec/coroparse.c:
/// main_config_parser_cb`), reduced to what decides whether a file is accepted:
/// - the cmap key name each item is stored under must pass `icmap_check_key_name` (3–255 bytes of letters, digits
///   and `._-/:`); usually that name is the dotted path, but `nodelist.node`, `logger_subsys` and `logging_daemon`
///   items are renamed, and `uidgid`/`member` items are not stored under their own name at all;
/// - `uidgid` only holds `uid`/`gid`, `member` only `memberaddr`, `logger_subsys` needs `subsys`, `logging_daemon`
///   needs `name`;
/// - the data kept between callbacks (`struct main_cp_cb_data`): 3.1.7 frees some of it at a section's end without
///   resetting it, and a section nested in `totem.interface`, `logger_subsys` or `logging_daemon` ends "their"
///   section early, so some section orders make it use freed memory and crash. Those orders are refused.
struct CorosyncConfLoader {
    /// main_cp_cb_data_state, reduced to the states whose rules differ here: every other state (totem, quorum,
    /// nodelist, resources…) stores items under their dotted path, like `normal`.
    enum SectionState: Equatable {
        case normal, interface, member, uidgid, loggerSubsys, loggingDaemon, nodelistNode

        /// PARSER_CB_SECTION_START: a few exact paths select a state; any other section inherits its parent's.
        static func entered(path: String, parentState: SectionState) -> SectionState {
            switch path {
            case "totem.interface": .interface
            case "totem.interface.member": .member
            case "uidgid": .uidgid
            case "logging.logger_subsys": .loggerSubsys
            case "logging.logging_daemon": .loggingDaemon
            case "nodelist.node": .nodelistNode
            case "totem", "system", "quorum", "quorum.device", "nodelist", "resources", "resources.system",
                 "resources.system.memory_used", "resources.process", "resources.process.memory_used":
                .normal
            default: parentState
            }
        }
    }

    /// A string main_config_parser_cb strdup()s and later frees.
    enum Allocation: Equatable {
        case absent
        case held(CorosyncKeyNamePart)
        /// Freed but not reset to NULL by the `}` at line `releasedAt`: the next use crashes.
        case freed(releasedAt: Int)
    }

    /// A qb_list of the keys main_config_parser_cb collects until a section ends.
    enum ItemList: Equatable {
        /// Never initialised (the callback data starts zeroed): adding to it dereferences NULL.
        case uninitialized
        case holding([CorosyncKeyNamePart])
        /// Its items were freed by the `}` at line `releasedAt` but the list head still points at them: walking it
        /// again crashes.
        case freed(releasedAt: Int)
    }

    struct Item {
        var key: String
        var keyPart: CorosyncKeyNamePart
        var value: String
        var valuePart: CorosyncKeyNamePart
        var path: String
        var pathParts: [CorosyncKeyNamePart]
        var state: SectionState
    }

    struct ClosingSection {
        var path: String
        var state: SectionState
        var openLine: Int
    }

    /// icmap.h ICMAP_KEYNAME_MINLEN.
    static let keyNameMinBytes = 3
    /// The callback builds renamed keys with snprintf into ICMAP_KEYNAME_MAXLEN bytes, so at most 254 survive.
    static let storedKeyNameMaxBytes = CorosyncConfParser.keyNameMaxBytes - 1

    private var subsys: Allocation = .absent
    private var daemonName: Allocation = .absent
    private var knetTransport: Allocation = .absent
    private var subsysItems: ItemList = .uninitialized
    private var memberItems: ItemList = .uninitialized
    private var nodeNumber = 0

    /// PARSER_CB_SECTION_START. Returns the new section's state.
    mutating func sectionStarted(path: String, parentState: SectionState) -> SectionState {
        switch path {
        case "totem.interface":
            knetTransport = .absent
            memberItems = .holding([])
        case "logging.logger_subsys":
            subsys = .absent
            subsysItems = .holding([])
        case "logging.logging_daemon":
            subsys = .absent
            daemonName = .absent
            subsysItems = .holding([])
        case "nodelist":
            nodeNumber = 0
        default:
            break
        }
        return .entered(path: path, parentState: parentState)
    }

    /// PARSER_CB_ITEM.
    mutating func item(_ item: Item) throws(CorosyncConfError) {
        let keyPosition = item.keyPart.start ?? CorosyncConfPosition(line: 0, column: 0)
        switch item.state {
        case .normal, .interface:
            try Self.checkKeyName(item.pathParts, keyPosition: keyPosition)
            if item.state == .interface, item.path == "totem.interface.knet_transport" {
                knetTransport = .held(item.valuePart)
            }
        case .uidgid:
            // Compared by key, not path: a section nested in uidgid counts as uidgid.
            guard item.key == "uid" || item.key == "gid" else {
                throw Self.error(
                    at: keyPosition,
                    "uidgid: Only uid and gid are allowed items; remove '\(Self.shown(item.key))' or use uid/gid")
            }
        case .member:
            guard item.key == "memberaddr" else {
                throw Self.error(
                    at: keyPosition,
                    "Only memberaddr is allowed in member section; remove '\(Self.shown(item.key))'")
            }
            guard let list = Self.appending(item.keyPart, to: memberItems) else {
                throw Self.error(
                    at: keyPosition,
                    "corosync 3.1.7 would crash here (NULL dereference): a member section only works after the start "
                        + "of a totem.interface section; put it in totem { interface { member { … } } }")
            }
            memberItems = list
        case .loggerSubsys:
            // The list is never uninitialised here: logger_subsys and logging_daemon set it up when they start.
            if item.key == "subsys" {
                subsys = .held(item.valuePart)
            } else {
                subsysItems = Self.appending(item.keyPart, to: subsysItems) ?? subsysItems
            }
        case .loggingDaemon:
            if item.key == "subsys" {
                subsys = .held(item.valuePart)
            } else if item.key == "name" {
                daemonName = .held(item.valuePart)
            } else {
                subsysItems = Self.appending(item.keyPart, to: subsysItems) ?? subsysItems
            }
        case .nodelistNode:
            try Self.checkKeyName([.added("nodelist.node.\(nodeNumber)."), item.keyPart], keyPosition: keyPosition)
        }
    }

    /// PARSER_CB_SECTION_END for a section whose `}` is at `position`.
    mutating func sectionEnded(_ section: ClosingSection, at position: CorosyncConfPosition) throws(CorosyncConfError) {
        switch section.state {
        case .interface:
            // The interface's settings are written out and knet_transport and the member list freed without being
            // reset; a section nested in totem.interface gets the same treatment.
            if case .freed(let line) = knetTransport {
                throw Self.useAfterFree(at: position, released: "knet_transport", by: line, in: "totem.interface")
            }
            if case .freed(let line) = memberItems {
                throw Self.useAfterFree(at: position, released: "member addresses", by: line, in: "totem.interface")
            }
            if case .held = knetTransport { knetTransport = .freed(releasedAt: position.line) }
            if case .holding(let keys) = memberItems, !keys.isEmpty { memberItems = .freed(releasedAt: position.line) }
        case .loggerSubsys:
            guard case .held(let subsysValue) = subsys else {
                if case .freed(let line) = subsys {
                    throw Self.useAfterFree(at: position, released: "subsys", by: line, in: "logger_subsys")
                }
                throw Self.error(
                    at: position,
                    "No subsys key in logger_subsys directive: add 'subsys: <subsystem>' to the section opened at line "
                        + "\(section.openLine)" + Self.nestedNote(section, in: "logging.logger_subsys"))
            }
            let keys = try itemKeys(at: position, in: "logger_subsys")
            let prefix: [CorosyncKeyNamePart] = [.added("logging.logger_subsys."), subsysValue, .added(".")]
            for key in keys {
                try Self.checkKeyName(prefix + [key], keyPosition: key.start ?? position)
            }
            try Self.checkKeyName(prefix + [.added("subsys")], keyPosition: subsysValue.start ?? position)
            subsys = .freed(releasedAt: position.line)
            if !keys.isEmpty { subsysItems = .freed(releasedAt: position.line) }
        case .loggingDaemon:
            guard case .held(let nameValue) = daemonName else {
                if case .freed(let line) = daemonName {
                    throw Self.useAfterFree(at: position, released: "name", by: line, in: "logging_daemon")
                }
                throw Self.error(
                    at: position,
                    "No name key in logging_daemon directive: add 'name: <daemon>' to the section opened at line "
                        + "\(section.openLine)" + Self.nestedNote(section, in: "logging.logging_daemon"))
            }
            var subsysValue: CorosyncKeyNamePart?
            switch subsys {
            case .absent: subsysValue = nil
            case .held(let value): subsysValue = value
            case .freed(let line):
                throw Self.useAfterFree(at: position, released: "subsys", by: line, in: "logging_daemon")
            }
            let keys = try itemKeys(at: position, in: "logging_daemon")
            for name in Self.loggingDaemonKeyNames(daemonName: nameValue, subsys: subsysValue, keys: keys) {
                try Self.checkKeyName(name.parts, keyPosition: name.keyPosition ?? position)
            }
            if subsysValue != nil { subsys = .freed(releasedAt: position.line) }
            daemonName = .freed(releasedAt: position.line)
            if !keys.isEmpty { subsysItems = .freed(releasedAt: position.line) }
        case .nodelistNode:
            nodeNumber += 1
        case .normal, .member, .uidgid:
            break
        }
    }

    /// The logger_subsys/logging_daemon items collected so far; walking a freed list crashes.
    private func itemKeys(at position: CorosyncConfPosition, in section: String) throws(CorosyncConfError)
        -> [CorosyncKeyNamePart]
    {
        switch subsysItems {
        case .holding(let keys): return keys
        case .uninitialized: return []
        case .freed(let line): throw Self.useAfterFree(at: position, released: "items", by: line, in: section)
        }
    }

    /// The names a logging_daemon section's items are stored under: `logging.` for the corosync daemon itself,
    /// `logging.logging_daemon.<name>.` for others, with `logger_subsys.<subsys>.` / `<subsys>.` when `subsys` is
    /// given, plus the entries recording the name and subsys.
    private static func loggingDaemonKeyNames(
        daemonName: CorosyncKeyNamePart, subsys: CorosyncKeyNamePart?, keys: [CorosyncKeyNamePart]
    ) -> [(parts: [CorosyncKeyNamePart], keyPosition: CorosyncConfPosition?)] {
        let isCorosync = daemonName.bytes == Array("corosync".utf8)
        let prefix: [CorosyncKeyNamePart]
        switch (subsys, isCorosync) {
        case (nil, true): prefix = [.added("logging.")]
        case (nil, false): prefix = [.added("logging.logging_daemon."), daemonName, .added(".")]
        case (let subsys?, true): prefix = [.added("logging.logger_subsys."), subsys, .added(".")]
        case (let subsys?, false):
            prefix = [.added("logging.logging_daemon."), daemonName, .added("."), subsys, .added(".")]
        }
        var names = keys.map { (parts: prefix + [$0], keyPosition: $0.start) }
        switch (subsys, isCorosync) {
        case (nil, true): break
        case (nil, false): names.append((prefix + [.added("name")], daemonName.start))
        case (let subsys?, true): names.append((prefix + [.added("subsys")], subsys.start))
        case (_?, false):
            names.append((prefix + [.added("subsys")], daemonName.start))
            names.append((prefix + [.added("name")], daemonName.start))
        }
        return names
    }

    /// qb_list_add: nil when the list was never initialised (corosync dereferences NULL). Adding to a freed list
    /// writes into freed memory without crashing; walking it later does.
    private static func appending(_ key: CorosyncKeyNamePart, to list: ItemList) -> ItemList? {
        switch list {
        case .uninitialized: nil
        case .holding(let keys): .holding(keys + [key])
        case .freed: list
        }
    }

    // MARK: Key names

    /// icmap_is_valid_name_char.
    static func isValidKeyNameByte(_ byte: UInt8) -> Bool {
        CorosyncConfValidation.isAlphanumeric(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "/") || byte == UInt8(ascii: ":")
    }

    /// icmap_check_key_name on the name corosync stores a key under (icmap_set refuses other names with
    /// CS_ERR_NAME_TOO_LONG, whatever the reason). `keyPosition` is where the key is, for names that are too short.
    static func checkKeyName(_ parts: [CorosyncKeyNamePart], keyPosition: CorosyncConfPosition) throws(CorosyncConfError) {
        let stored = Array(parts.flatMap(\.bytes).prefix(storedKeyNameMaxBytes))
        let storedText = String(decoding: stored, as: UTF8.self)
        if stored.count < keyNameMinBytes {
            let topLevel = !parts.contains { $0.source == .added }
            throw error(
                at: keyPosition,
                "Can't store key \"\(shown(storedText))\": corosync's cmap key names need at least \(keyNameMinBytes) "
                    + "bytes" + (topLevel ? " and a top-level key is named by itself" : "")
                    + "; use a longer key name" + (topLevel ? " or put the key in a section" : " or section name"))
        }
        var offset = 0
        for part in parts {
            let checked = part.bytes.prefix(max(0, stored.count - offset))
            if let index = checked.firstIndex(where: { !isValidKeyNameByte($0) }) {
                throw invalidCharacter(at: index, in: part, name: storedText, keyPosition: keyPosition)
            }
            offset += part.bytes.count
        }
    }

    private static func invalidCharacter(
        at index: Int, in part: CorosyncKeyNamePart, name: String, keyPosition: CorosyncConfPosition
    ) -> CorosyncConfError {
        var characterEnd = index + 1
        while characterEnd < part.bytes.count, CorosyncConfParser.isContinuationByte(part.bytes[characterEnd]) {
            characterEnd += 1
        }
        let character = String(decoding: part.bytes[index..<characterEnd], as: UTF8.self)
        let fix = switch part.source {
        case .sectionName: "rename the section '\(shown(String(decoding: part.bytes, as: UTF8.self)))'"
        case .value(let key): "change the \(key) value"
        case .key, .added: "rename the key"
        }
        let position = part.start.map { start in
            CorosyncConfPosition(
                line: start.line,
                column: start.column + part.bytes[..<index].filter { !CorosyncConfParser.isContinuationByte($0) }.count)
        } ?? keyPosition
        let keyLine = position.line == keyPosition.line ? "" : " (for the key at line \(keyPosition.line))"
        return error(
            at: position,
            "Can't store key \"\(shown(name))\"\(keyLine): corosync's cmap key names only allow letters, digits, "
                + "'.', '_', '-', '/' and ':', not '\(shown(character))'; \(fix)")
    }

    // MARK: Errors

    private static func error(at position: CorosyncConfPosition, _ reason: String) -> CorosyncConfError {
        CorosyncConfError(kind: .syntax, line: position.line, column: position.column, reason: reason)
    }

    private static func useAfterFree(
        at position: CorosyncConfPosition, released what: String, by line: Int, in section: String
    ) -> CorosyncConfError {
        error(
            at: position,
            "corosync 3.1.7 would crash at this '}' (use after free): the '}' at line \(line) already released this "
                + "\(section)'s \(what), because corosync ends \(section) at the end of any section nested in it; "
                + "do not nest sections inside \(section)")
    }

    private static func nestedNote(_ section: ClosingSection, in expectedPath: String) -> String {
        section.path == expectedPath
            ? ""
            : " (corosync 3.1.7 handles the end of a section nested in \(expectedPath) like the end of "
                + "\(expectedPath) itself)"
    }

    /// Printable and at most 60 characters long.
    static func shown(_ text: String) -> String {
        let printable = CorosyncConfValidation.printable(text)
        return printable.count > 60 ? String(printable.prefix(60)) + "…" : printable
    }
}
