/// corosync.conf syntax as implemented by corosync 3.1.7 (`exec/coroparse.c: parse_section`), checked against the
/// real `corosync -t`. Works on UTF-8 bytes because corosync does: only ASCII bytes have meaning to it.
///
/// Rules, per physical line:
/// - A line holds at most 510 bytes before its `\n` (fgets into a 512-byte buffer): longer is "Line too long".
/// - `\n`, then one `\r`, are cut off; then trailing spaces and tabs. (3.1.7 does not treat 0xA0 as blank.)
/// - Blank lines and lines whose first non-blank character is `#` are ignored; there are no inline comments.
/// - A line containing `{` opens a section: the name is the text before the first `{`, trimmed of blanks and of
///   trailing `:`/`{`; it must not be empty and nothing may follow the `{`.
/// - Otherwise a line containing `:` is `key: value`, split at the first `:`; both sides trimmed.
/// - Otherwise a line containing `}` must be exactly `}` (plus blanks) and closes the innermost open section.
/// - Anything else is rejected; so is end of file inside a section.
///
/// Also enforced, as corosync's config callback does while loading: the dotted cmap path of a section or key must stay
/// under 256 bytes, `uidgid` only holds `uid`/`gid`, `totem.interface.member` only `memberaddr`, `logger_subsys`
/// needs `subsys` and `logging_daemon` needs `name`. Value checks (integers, enums, user names…) are left to
/// `corosync -t` (see ``CorosyncConf/validate(path:runner:executable:)``).
enum CorosyncConfParser {
    /// Longest line corosync reads whole, excluding the `\n` (a `\r` before it counts).
    static let maxLineBytes = 510
    /// ICMAP_KEYNAME_MAXLEN: a path reaching this length is rejected.
    static let maxPathBytes = 256

    enum LineKind: Equatable {
        case blank
        case comment
        case open(name: String)
        case close
        /// `valueRange` is the value's byte range within the line text (used to rewrite only the value).
        case pair(key: String, value: String, keyEnd: Int, valueRange: Range<Int>)
        case invalid(reason: String)
    }

    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let hash = UInt8(ascii: "#")
    static let colon = UInt8(ascii: ":")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")

    /// Whether corosync reads a line with this text and ending whole (the `\r` of `\r\n` counts, the `\n` doesn't).
    static func fits(_ text: String, ending: CorosyncLineEnding) -> Bool {
        text.utf8.count + (ending == .crlf || ending == .cr ? 1 : 0) <= maxLineBytes
    }

    static func isBlank(_ byte: UInt8) -> Bool { byte == space || byte == tab }

    /// Classifies one line's text (without its line ending). Indices in the result are relative to `line.startIndex`.
    static func classify(_ line: ArraySlice<UInt8>) -> LineKind {
        let base = line.startIndex
        var end = line.endIndex
        while end > base, isBlank(line[end - 1]) { end -= 1 }
        var first = base
        while first < end, isBlank(line[first]) { first += 1 }
        if first == end { return .blank }
        if line[first] == hash { return .comment }

        if let brace = line[first..<end].firstIndex(of: openBrace) {
            let name = trimmed(line[base..<brace], alsoColonAndBrace: true)
            var afterStart = brace + 1
            while afterStart < end, isBlank(line[afterStart]) { afterStart += 1 }
            if name.isEmpty { return .invalid(reason: "Missing section name before opening bracket '{'") }
            if afterStart < end { return .invalid(reason: "Extra characters after opening bracket '{'") }
            return .open(name: String(decoding: name, as: UTF8.self))
        }

        if let colonIndex = line[first..<end].firstIndex(of: colon) {
            var valueStart = colonIndex + 1
            while valueStart < end, isBlank(line[valueStart]) { valueStart += 1 }
            // corosync cuts the key at the byte before the value (not at the colon), then trims blanks and
            // trailing colons; the visible effect is that `: x` yields the key ":" while `:x` yields an empty key.
            let key = trimmed(line[base..<(valueStart - 1)], alsoColonAndBrace: true)
            if key.isEmpty { return .invalid(reason: "Key name can't be empty") }
            return .pair(
                key: String(decoding: key, as: UTF8.self),
                value: String(decoding: line[valueStart..<end], as: UTF8.self),
                keyEnd: key.endIndex - base,
                valueRange: (valueStart - base)..<(end - base))
        }

        if line[first..<end].contains(closeBrace) {
            if end - first == 1 { return .close }
            return .invalid(reason: "Extra characters before or after closing bracket '}'")
        }
        return .invalid(reason: "Line is not opening or closing section or key value")
    }

    /// corosync's `remove_whitespace`: strip leading blanks, then trailing blanks (and `:`/`{` when asked) but never
    /// the first remaining byte.
    static func trimmed(_ bytes: ArraySlice<UInt8>, alsoColonAndBrace: Bool) -> ArraySlice<UInt8> {
        var start = bytes.startIndex
        while start < bytes.endIndex, isBlank(bytes[start]) { start += 1 }
        if start == bytes.endIndex { return bytes[start..<start] }
        var last = bytes.endIndex - 1
        while last > start {
            let byte = bytes[last]
            if isBlank(byte) || (alsoColonAndBrace && (byte == colon || byte == openBrace)) {
                last -= 1
            } else {
                break
            }
        }
        return bytes[start...last]
    }

    /// Sections whose content corosync's loader constrains; every other section inherits its parent's state.
    private enum SectionState {
        case normal, uidgid, member, loggerSubsys, loggingDaemon

        static func entered(path: String, parent: SectionState) -> SectionState {
            switch path {
            case "uidgid": .uidgid
            case "totem.interface.member": .member
            case "logging.logger_subsys": .loggerSubsys
            case "logging.logging_daemon": .loggingDaemon
            default: parent
            }
        }
    }

    private struct OpenSection {
        var name: String
        var openLine: CorosyncConfLine
        var children: [CorosyncConfItem] = []
        var path: String
        var state: SectionState
        /// `subsys` in a logger_subsys section, `name` in a logging_daemon section.
        var hasRequiredKey = false
    }

    static func parse(_ text: String) throws(CorosyncConfError) -> [CorosyncConfItem] {
        let bytes = Array(text.utf8)
        var topLevel: [CorosyncConfItem] = []
        var open: [OpenSection] = []
        var lineNumber = 0
        var lineStart = 0

        func fail(_ reason: String) -> CorosyncConfError {
            CorosyncConfError(kind: .syntax, line: lineNumber, reason: reason)
        }
        func append(_ item: CorosyncConfItem) {
            if open.isEmpty {
                topLevel.append(item)
            } else {
                open[open.count - 1].children.append(item)
            }
        }

        while lineStart < bytes.count {
            lineNumber += 1
            let newlineIndex = bytes[lineStart...].firstIndex(of: newline)
            let lineEnd = newlineIndex ?? bytes.count
            // What fgets hands to corosync, minus the newline: the `\r` still counts towards the limit.
            if lineEnd - lineStart > maxLineBytes { throw fail("Line too long") }
            var contentEnd = lineEnd
            let ending: CorosyncLineEnding
            if contentEnd > lineStart, bytes[contentEnd - 1] == carriageReturn {
                contentEnd -= 1
                ending = newlineIndex == nil ? .cr : .crlf
            } else {
                ending = newlineIndex == nil ? .none : .lf
            }
            let content = bytes[lineStart..<contentEnd]
            lineStart = newlineIndex.map { $0 + 1 } ?? bytes.count
            // corosync works on C strings: a NUL would silently cut the line short.
            if content.contains(0) { throw fail("Line contains a NUL byte") }
            let line = CorosyncConfLine(text: String(decoding: content, as: UTF8.self), ending: ending)

            switch classify(content) {
            case .blank:
                append(.blank(line))
            case .comment:
                append(.comment(line))
            case .invalid(let reason):
                throw fail(reason)
            case .open(let name):
                let parent = open.last
                let parentPath = parent?.path ?? ""
                if parentPath.utf8.count + name.utf8.count + 1 >= maxPathBytes {
                    throw fail("Start of section makes total cmap path too long")
                }
                let path = parentPath.isEmpty ? name : parentPath + "." + name
                open.append(OpenSection(
                    name: name, openLine: line, path: path,
                    state: SectionState.entered(path: path, parent: parent?.state ?? .normal)))
            case .close:
                guard let closing = open.popLast() else { throw fail("Unexpected closing brace") }
                if !closing.hasRequiredKey {
                    if closing.path == "logging.logger_subsys" { throw fail("No subsys key in logger_subsys directive") }
                    if closing.path == "logging.logging_daemon" { throw fail("No name key in logging_daemon directive") }
                }
                append(.section(CorosyncConfSection(
                    name: closing.name, openLine: closing.openLine, children: closing.children, closeLine: line)))
            case .pair(let key, let value, _, _):
                let parentPath = open.last?.path ?? ""
                if parentPath.utf8.count + key.utf8.count + 1 >= maxPathBytes {
                    throw fail("New key makes total cmap path too long")
                }
                let path = parentPath.isEmpty ? key : parentPath + "." + key
                if let index = open.indices.last {
                    switch open[index].state {
                    case .normal:
                        break
                    case .uidgid:
                        if path != "uidgid.uid" && path != "uidgid.gid" {
                            throw fail("uidgid: Only uid and gid are allowed items")
                        }
                    case .member:
                        if path != "totem.interface.member.memberaddr" {
                            throw fail("Only memberaddr is allowed in member section")
                        }
                    case .loggerSubsys:
                        if path == "logging.logger_subsys.subsys" { open[index].hasRequiredKey = true }
                    case .loggingDaemon:
                        if path == "logging.logging_daemon.name" { open[index].hasRequiredKey = true }
                    }
                }
                append(.pair(CorosyncConfPair(key: key, value: value, line: line)))
            }
        }
        if !open.isEmpty { throw fail("Missing closing brace") }
        return topLevel
    }
}
