/// corosync.conf syntax as implemented by corosync 3.1.7 (`exec/coroparse.c: parse_section`), checked against the
/// real `corosync -t`. Works on UTF-8 bytes because corosync does: only ASCII bytes have meaning to it.
///
/// Rules, per physical line:
/// - A line holds at most 510 bytes before its `\n` (fgets into a 512-byte buffer): longer is "Line too long".
/// - corosync handles C strings: a NUL byte ends the line early. A line starting with one reads as empty; a NUL
///   anywhere else is "Line too long" (the shortened line lacks its `\n`), except on a last line without `\n`.
/// - `\n`, then one `\r`, are cut off; then trailing spaces and tabs. (3.1.7 does not treat 0xA0 as blank.)
/// - Blank lines and lines whose first non-blank character is `#` are ignored; there are no inline comments.
/// - A line containing `{` opens a section: the name is the text before the first `{`, trimmed of blanks and of
///   trailing `:`/`{`; it must not be empty and nothing may follow the `{`.
/// - Otherwise a line containing `:` is `key: value`, split at the first `:`; both sides trimmed. The key may be
///   empty (`:x`), or be `:` itself (`: x`), see ``classify(_:)``.
/// - Otherwise a line containing `}` must be exactly `}` (plus blanks) and closes the innermost open section.
/// - Anything else is rejected; so is end of file inside a section.
/// - The dotted cmap path of a section or key (`parent.name`) is refused once `parent + name + 1` reaches
///   ICMAP_KEYNAME_MAXLEN (255): nested paths have at most 254 bytes, top-level names 253.
///
/// Also enforced, as corosync's config callback does while loading (see ``CorosyncConfLoader``): every key must be
/// storable under a valid cmap key name, `uidgid` only holds `uid`/`gid`, `member` only `memberaddr`,
/// `logger_subsys` needs `subsys`, `logging_daemon` needs `name`, and section orders that make 3.1.7 crash are
/// refused. Value checks (integers, enums, user names…) are left to `corosync -t` (see
/// ``CorosyncConf/validate(path:runner:executable:)``).
enum CorosyncConfParser {
    /// Longest line corosync reads whole, excluding the `\n` (a `\r` before it counts).
    static let maxLineBytes = 510
    /// ICMAP_KEYNAME_MAXLEN (include/corosync/icmap.h).
    static let keyNameMaxBytes = 255

    enum LineKind: Equatable {
        case blank
        case comment
        /// `nameStart` is the byte offset of the name within the line text.
        case open(name: String, nameStart: Int)
        /// `braceOffset` is the byte offset of the `}` within the line text.
        case close(braceOffset: Int)
        /// The ranges are byte ranges within the line text (used to point at the key and to rewrite only the value).
        case pair(key: String, value: String, keyRange: Range<Int>, valueRange: Range<Int>)
        /// `offset` is the byte offset of the offending text within the line text.
        case invalid(reason: String, offset: Int)
    }

    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let hash = UInt8(ascii: "#")
    static let colon = UInt8(ascii: ":")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
    static let nul: UInt8 = 0

    /// Whether corosync reads a line with this text and ending whole (the `\r` of `\r\n` counts, the `\n` doesn't).
    static func fits(_ text: String, ending: CorosyncLineEnding) -> Bool {
        text.utf8.count + (ending == .crlf || ending == .cr ? 1 : 0) <= maxLineBytes
    }

    /// parse_section's length check, which counts a "." even for a top-level name (where none is added).
    static func exceedsKeyNameLimit(parentPath: String, name: String) -> Bool {
        parentPath.utf8.count + name.utf8.count + 1 >= keyNameMaxBytes
    }

    static func joinedPath(_ parentPath: String, _ name: String) -> String {
        parentPath.isEmpty ? name : parentPath + "." + name
    }

    static func isBlank(_ byte: UInt8) -> Bool { byte == space || byte == tab }

    /// 1-based column, in characters, of the byte at `offset` within `line`.
    static func column(ofByte offset: Int, in line: ArraySlice<UInt8>) -> Int {
        let end = line.index(line.startIndex, offsetBy: min(offset, line.count))
        return line[line.startIndex..<end].reduce(1) { count, byte in isContinuationByte(byte) ? count : count + 1 }
    }

    static func isContinuationByte(_ byte: UInt8) -> Bool { byte & 0xC0 == 0x80 }

    /// What corosync sees of a line's text: C-string functions stop at the first NUL, and the `\r` strip of
    /// parse_section applies to that shortened string. (``parse(_:)`` only lets such lines through where corosync
    /// reads them.)
    static func visiblePart(of line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        guard let nulIndex = line.firstIndex(of: nul) else { return line }
        var visible = line[..<nulIndex]
        if visible.last == carriageReturn { visible = visible.dropLast() }
        return visible
    }

    /// Classifies one line's text (without its line ending). Offsets in the result are relative to
    /// `line.startIndex`.
    static func classify(_ text: ArraySlice<UInt8>) -> LineKind {
        let line = visiblePart(of: text)
        let base = line.startIndex
        var end = line.endIndex
        while end > base, isBlank(line[end - 1]) { end -= 1 }
        var first = base
        while first < end, isBlank(line[first]) { first += 1 }
        if first == end { return .blank }
        if line[first] == hash { return .comment }

        if let brace = line[first..<end].firstIndex(of: openBrace) {
            var afterBrace = brace + 1
            while afterBrace < end, isBlank(line[afterBrace]) { afterBrace += 1 }
            // Like pair lines below, corosync cuts the name at the byte before what follows the brace.
            let name = trimmed(line[base..<(afterBrace - 1)], alsoColonAndBrace: true)
            if name.isEmpty {
                return .invalid(
                    reason: "Missing section name before opening bracket '{': write the section's name before the '{'",
                    offset: brace - base)
            }
            if afterBrace < end {
                return .invalid(
                    reason: "Extra characters after opening bracket '{': the '{' must end its line; move the rest to the "
                        + "next line",
                    offset: afterBrace - base)
            }
            return .open(name: String(decoding: name, as: UTF8.self), nameStart: name.startIndex - base)
        }

        if let colonIndex = line[first..<end].firstIndex(of: colon) {
            var valueStart = colonIndex + 1
            while valueStart < end, isBlank(line[valueStart]) { valueStart += 1 }
            // corosync (strchr_rs, then remove_whitespace) cuts the key at the byte before the value, not at the
            // colon, then trims blanks and trailing colons but never the key's first byte: `:x` and `:: 1` have an
            // empty key (values "x" and ": 1"), `: x` has the key ":".
            let key = trimmed(line[base..<(valueStart - 1)], alsoColonAndBrace: true)
            return .pair(
                key: String(decoding: key, as: UTF8.self),
                value: String(decoding: line[valueStart..<end], as: UTF8.self),
                keyRange: (key.startIndex - base)..<(key.endIndex - base),
                valueRange: (valueStart - base)..<(end - base))
        }

        if line[first..<end].contains(closeBrace) {
            if end - first == 1 { return .close(braceOffset: first - base) }
            var offender = first
            if line[first] == closeBrace {
                offender += 1
                while offender < end, isBlank(line[offender]) { offender += 1 }
            }
            return .invalid(
                reason: "Extra characters before or after closing bracket '}': a '}' must be alone on its line",
                offset: offender - base)
        }
        return .invalid(
            reason: "Line is not opening or closing section or key value: write 'key: value', 'name {' or '}' "
                + "(comments start with '#')",
            offset: first - base)
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

    /// Why corosync cannot read this physical line (without its `\n`) as one line, mirroring parse_section's fgets
    /// loop: it reads at most 511 bytes, and what it read, as a C string, must end with `\n` unless the file ended.
    /// Returns the reason and the byte offset to point at.
    static func readProblem(_ physical: ArraySlice<UInt8>, endsWithNewline: Bool) -> (reason: String, offset: Int)? {
        let nulIndex = physical.firstIndex(of: nul)
        if physical.count > maxLineBytes {
            if nulIndex == physical.startIndex {
                // corosync would skip the first 511 bytes as an empty line and read the rest as further lines.
                return ("Line starts with a NUL byte and is longer than \(maxLineBytes) bytes: corosync would read "
                    + "its remainder as separate lines, which sfha does not reproduce; remove the NUL byte", 0)
            }
            return ("Line too long: corosync reads at most \(maxLineBytes) bytes per line (\(maxLineBytes - 1) "
                + "before \\r\\n); shorten the line", maxLineBytes)
        }
        guard let nulIndex, nulIndex != physical.startIndex, endsWithNewline else { return nil }
        return ("Line contains a NUL byte: corosync reads the line only up to it and reports 'Line too long'; "
            + "remove the NUL byte", nulIndex - physical.startIndex)
    }

    private struct OpenSection {
        var name: String
        var openLine: CorosyncConfLine
        var openPosition: CorosyncConfPosition
        var children: [CorosyncConfItem] = []
        var path: String
        /// The pieces of `path` with where each came from, for pointing at a bad character.
        var pathParts: [CorosyncKeyNamePart]
        var state: CorosyncConfLoader.SectionState
    }

    static func parse(_ text: String) throws(CorosyncConfError) -> [CorosyncConfItem] {
        let bytes = Array(text.utf8)
        var topLevel: [CorosyncConfItem] = []
        var open: [OpenSection] = []
        var loader = CorosyncConfLoader()
        var lineNumber = 0
        var lineStart = 0

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
            let physical = bytes[lineStart..<lineEnd]
            func fail(_ reason: String, atByte offset: Int) -> CorosyncConfError {
                CorosyncConfError(
                    kind: .syntax, line: lineNumber, column: column(ofByte: offset, in: physical), reason: reason)
            }
            func position(ofByte offset: Int) -> CorosyncConfPosition {
                CorosyncConfPosition(line: lineNumber, column: column(ofByte: offset, in: physical))
            }
            if let problem = readProblem(physical, endsWithNewline: newlineIndex != nil) {
                throw fail(problem.reason, atByte: problem.offset)
            }
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
            let line = CorosyncConfLine(text: String(decoding: content, as: UTF8.self), ending: ending)

            switch classify(content) {
            case .blank:
                append(.blank(line))
            case .comment:
                append(.comment(line))
            case .invalid(let reason, let offset):
                throw fail(reason, atByte: offset)
            case .open(let name, let nameStart):
                let parent = open.last
                let parentPath = parent?.path ?? ""
                let path = joinedPath(parentPath, name)
                if exceedsKeyNameLimit(parentPath: parentPath, name: name) {
                    throw fail(
                        "Start of section makes total cmap path too long: " + pathLimitExplanation(path, parentPath)
                            + "; use a shorter section name",
                        atByte: nameStart)
                }
                let namePart = CorosyncKeyNamePart(
                    bytes: Array(name.utf8), source: .sectionName, start: position(ofByte: nameStart))
                let state = loader.sectionStarted(path: path, parentState: parent?.state ?? .normal)
                open.append(OpenSection(
                    name: name, openLine: line, openPosition: position(ofByte: nameStart), path: path,
                    pathParts: CorosyncKeyNamePart.joined(parent?.pathParts ?? [], namePart), state: state))
            case .close(let braceOffset):
                guard let closing = open.popLast() else {
                    throw fail("Unexpected closing brace: no section is open here; remove this '}'", atByte: braceOffset)
                }
                try loader.sectionEnded(
                    CorosyncConfLoader.ClosingSection(
                        path: closing.path, state: closing.state, openLine: closing.openPosition.line),
                    at: position(ofByte: braceOffset))
                append(.section(CorosyncConfSection(
                    name: closing.name, openLine: closing.openLine, children: closing.children, closeLine: line)))
            case .pair(let key, let value, let keyRange, let valueRange):
                let parentPath = open.last?.path ?? ""
                let path = joinedPath(parentPath, key)
                if exceedsKeyNameLimit(parentPath: parentPath, name: key) {
                    throw fail(
                        "New key makes total cmap path too long: " + pathLimitExplanation(path, parentPath)
                            + "; use a shorter key name",
                        atByte: keyRange.lowerBound)
                }
                let keyPart = CorosyncKeyNamePart(
                    bytes: Array(key.utf8), source: .key, start: position(ofByte: keyRange.lowerBound))
                try loader.item(CorosyncConfLoader.Item(
                    key: key, keyPart: keyPart, value: value,
                    valuePart: CorosyncKeyNamePart(
                        bytes: Array(value.utf8), source: .value(key: key),
                        start: position(ofByte: valueRange.lowerBound)),
                    path: path, pathParts: CorosyncKeyNamePart.joined(open.last?.pathParts ?? [], keyPart),
                    state: open.last?.state ?? .normal))
                append(.pair(CorosyncConfPair(key: key, value: value, line: line)))
            }
        }
        if let unclosed = open.last {
            throw CorosyncConfError(
                kind: .syntax, line: lineNumber,
                reason: "Missing closing brace: section '\(unclosed.name)' opened at line \(unclosed.openPosition.line) "
                    + "is still open at the end of the file; add a '}' line")
        }
        return topLevel
    }

    private static func pathLimitExplanation(_ path: String, _ parentPath: String) -> String {
        let limit = keyNameMaxBytes - 1 - (parentPath.isEmpty ? 1 : 0)
        let shown = path.count > 40 ? String(path.prefix(40)) + "…" : path
        return "'\(CorosyncConfValidation.printable(shown))' would be \(path.utf8.count) bytes, corosync 3.1.7 "
            + "allows \(limit)\(parentPath.isEmpty ? " for a top-level name" : "")"
    }
}
