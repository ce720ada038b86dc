import Yams

/// A 1-based position in the file (0:0 = unknown / whole file).
struct Position: Equatable, Comparable {
    var line: Int
    var column: Int

    static let none = Position(line: 0, column: 0)

    init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    init(_ node: Node?) {
        if let mark = node?.mark {
            self.init(line: mark.line, column: mark.column)
        } else {
            self = .none
        }
    }

    static func < (lhs: Position, rhs: Position) -> Bool {
        (lhs.line, lhs.column) < (rhs.line, rhs.column)
    }
}

/// A value read from the file with where it came from.
struct Located<Value> {
    var value: Value
    var position: Position
    var path: String
}

/// Key paths: `services[0].healthcheck.target`.
func joinPath(_ parent: String, _ key: String) -> String {
    parent.isEmpty ? key : "\(parent).\(key)"
}

/// A value quoted for a message: `"192.168.1.300"`. Control characters are escaped (see `escapedForDisplay`).
func quoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        default: appendEscaped(scalar, to: &out)
        }
    }
    return out + "\""
}

/// `text` with every character that could change how a message reads on a terminal or in a log replaced by an
/// escape: C0 controls (`\n`, `\t`, `\r`, others as `\u{1B}`), DEL, C1 controls, the Unicode line and paragraph
/// separators and the bidirectional embeddings, overrides and isolates (which reorder a line on display). Keys and
/// values from a file end up in diagnostics: unescaped, a key could start a forged diagnostic line or carry terminal
/// escape sequences. Backslashes are kept as they are, so escaping twice changes nothing.
func escapedForDisplay(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: needsEscape) else { return text }
    var out = ""
    for scalar in text.unicodeScalars { appendEscaped(scalar, to: &out) }
    return out
}

private func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0..<0x20, 0x7F...0x9F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: true
    default: false
    }
}

private func appendEscaped(_ scalar: Unicode.Scalar, to out: inout String) {
    switch scalar {
    case "\n": out += "\\n"
    case "\t": out += "\\t"
    case "\r": out += "\\r"
    default:
        if needsEscape(scalar) {
            out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
}

/// A YAML mapping being read.
struct YAMLMap {
    struct Entry {
        var key: String
        var keyNode: Node
        var value: Node
    }

    var path: String
    var node: Node
    var entries: [Entry]

    var position: Position { Position(node) }

    /// The value of `key`, or nil when absent or null.
    subscript(key: String) -> Node? {
        guard let entry = entries.first(where: { $0.key == key }), !entry.value.isNull else { return nil }
        return entry.value
    }

    /// True when the key is written, even with a null value.
    func contains(_ key: String) -> Bool {
        entries.contains { $0.key == key }
    }

    func keyPosition(_ key: String) -> Position {
        Position(entries.first { $0.key == key }?.keyNode)
    }

    func path(_ key: String) -> String { joinPath(path, key) }
}

extension Node {
    /// `~`, `null`, or nothing at all, unquoted.
    var isNull: Bool {
        guard case .scalar(let scalar) = self, scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    var isQuotedScalar: Bool {
        guard case .scalar(let scalar) = self else { return false }
        return scalar.style == .singleQuoted || scalar.style == .doubleQuoted
    }

    /// For messages: "a mapping", "a list", "a string".
    var kindName: String {
        switch self {
        case .scalar: "a scalar"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }
}

/// Collects errors and warnings while reading one file; every accessor records what is wrong and carries on, so a
/// single load reports every problem.
final class YAMLReader {
    let file: String
    private(set) var errors = BoundedDiagnostics()
    private(set) var warnings = BoundedDiagnostics()
    /// Mapping entries and list items read so far, merged and aliased ones included.
    private var entriesRead = 0

    /// More entries than any configuration needs, and more than a file of `SFHAConfiguration.maximumFileSize` can
    /// hold without aliases: YAML aliases (and merge keys) can make a small file expand exponentially, so reading
    /// stops there.
    static let maximumEntries = 1_000_000

    init(file: String) {
        self.file = file
    }

    var errorCount: Int { errors.count }

    /// Records an error. The message is only composed when it can be among those reported.
    func error(_ path: String, _ position: Position, _ message: @autoclosure () -> String) {
        guard errors.isReportable(line: position.line, column: position.column) else { return errors.countUnreported() }
        errors.append(ConfigurationDiagnostic(
            file: file, line: position.line, column: position.column, keyPath: path, message: message()))
    }

    /// Records a warning. The message is only composed when it can be among those reported.
    func warning(_ path: String, _ position: Position, _ message: @autoclosure () -> String) {
        guard warnings.isReportable(line: position.line, column: position.column) else {
            return warnings.countUnreported()
        }
        warnings.append(ConfigurationDiagnostic(
            file: file, line: position.line, column: position.column, keyPath: path, message: message()))
    }

    /// Counts `count` more entries; false (after one error) once the file expands past `maximumEntries`.
    private func consume(_ count: Int, path: String, position: Position) -> Bool {
        guard entriesRead <= Self.maximumEntries else { return false }
        entriesRead += count
        guard entriesRead > Self.maximumEntries else { return true }
        error(path, position, "the configuration expands to more than \(Self.maximumEntries) entries (through YAML "
            + "aliases or merge keys?); reading stopped here: write the configuration without such repetition")
        return false
    }

    // MARK: Structure

    /// `node` as a mapping; nil (and an error unless it is null/absent) otherwise.
    func mapping(_ node: Node?, path: String) -> YAMLMap? {
        guard let node, !node.isNull else { return nil }
        guard case .mapping(let mapping) = node else {
            error(path, Position(node), "expected a mapping (key: value lines), found \(node.kindName)")
            return nil
        }
        guard consume(mapping.count, path: path, position: Position(node)) else { return nil }
        var entries: [YAMLMap.Entry] = []
        entries.reserveCapacity(mapping.count)
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                error(path, Position(keyNode), "keys must be plain names, found \(keyNode.kindName)")
                continue
            }
            entries.append(YAMLMap.Entry(key: scalar.string, keyNode: keyNode, value: value))
        }
        guard let merged = merged(entries, path: path) else { return nil }
        return YAMLMap(path: path, node: node, entries: merged)
    }

    /// Applies YAML merge keys (`<<: *anchor` or `<<: [*a, *b]`): keys written in the mapping win, then earlier
    /// merged mappings over later ones. Nil when the merged entries exceed `maximumEntries`.
    private func merged(_ entries: [YAMLMap.Entry], path: String) -> [YAMLMap.Entry]? {
        guard let mergeIndex = entries.firstIndex(where: { $0.key == "<<" && !$0.keyNode.isQuotedScalar }) else {
            return entries
        }
        var result = entries
        let merge = result.remove(at: mergeIndex)
        var sources: [Node] = []
        switch merge.value {
        case .mapping: sources = [merge.value]
        case .sequence(let sequence): sources = Array(sequence)
        default: break
        }
        guard !sources.isEmpty, sources.allSatisfy({ if case .mapping = $0 { true } else { false } }) else {
            error(joinPath(path, "<<"), Position(merge.value), "a merge key takes a mapping or a list of mappings")
            return result
        }
        var keys = Set(result.map(\.key))
        for source in sources {
            guard case .mapping(let mapping) = source else { continue }
            guard consume(mapping.count, path: joinPath(path, "<<"), position: Position(merge.value)) else { return nil }
            for (keyNode, value) in mapping {
                guard case .scalar(let scalar) = keyNode, keys.insert(scalar.string).inserted else { continue }
                result.append(YAMLMap.Entry(key: scalar.string, keyNode: keyNode, value: value))
            }
        }
        return result
    }

    func mapping(_ map: YAMLMap, _ key: String) -> YAMLMap? {
        mapping(map[key], path: map.path(key))
    }

    /// The items of a list with their paths; empty (and an error unless null/absent) when not a list.
    func list(_ map: YAMLMap, _ key: String) -> [(node: Node, path: String)] {
        list(map[key], path: map.path(key))
    }

    func list(_ node: Node?, path: String) -> [(node: Node, path: String)] {
        guard let node, !node.isNull else { return [] }
        guard case .sequence(let sequence) = node else {
            error(path, Position(node), "expected a list (lines starting with \"- \"), found \(node.kindName)")
            return []
        }
        guard consume(sequence.count, path: path, position: Position(node)) else { return [] }
        return sequence.enumerated().map { ($0.element, "\(path)[\($0.offset)]") }
    }

    /// Warns about every key not in `known`. `deprecated` keys get their own explanation instead.
    func checkKeys(_ map: YAMLMap, known: [String], deprecated: [String: String] = [:]) {
        for entry in map.entries {
            let path = map.path(entry.key)
            if known.contains(entry.key) { continue }
            if let why = deprecated[entry.key] {
                warning(path, Position(entry.keyNode), why)
                continue
            }
            func message() -> String {
                if let suggestion = closest(entry.key, in: known) {
                    return "unknown key, ignored (did you mean \(quoted(suggestion))?)"
                }
                return known.isEmpty ? "unknown key, ignored" : "unknown key, ignored (known keys here: \(known.joined(separator: ", ")))"
            }
            warning(path, Position(entry.keyNode), message())
        }
    }

    // MARK: Scalars

    /// A string value. Numbers and booleans written without quotes are taken as their text (`name: 123`).
    func string(_ map: YAMLMap, _ key: String, required: String? = nil) -> Located<String>? {
        let path = map.path(key)
        guard let node = map[key] else {
            if let required { error(path, map.contains(key) ? map.keyPosition(key) : map.position, "is required (\(required))") }
            return nil
        }
        return string(node, path: path)
    }

    func string(_ node: Node, path: String) -> Located<String>? {
        guard case .scalar(let scalar) = node else {
            error(path, Position(node), "expected a string, found \(node.kindName)")
            return nil
        }
        return Located(value: scalar.string, position: Position(node), path: path)
    }

    /// `true` or `false` (also `True`/`TRUE`/…), unquoted. `yes`/`no`/`on`/`off` are refused: the original read
    /// them as (always truthy) strings.
    func bool(_ map: YAMLMap, _ key: String) -> Bool? {
        guard let node = map[key] else { return nil }
        let path = map.path(key)
        guard case .scalar(let scalar) = node else {
            error(path, Position(node), "expected true or false, found \(node.kindName)")
            return nil
        }
        if !node.isQuotedScalar {
            switch scalar.string {
            case "true", "True", "TRUE": return true
            case "false", "False", "FALSE": return false
            default: break
            }
        }
        let hint = node.isQuotedScalar ? " (write it without quotes)" : ""
        error(path, Position(node), "\(quoted(scalar.string)) is not a boolean: expected true or false\(hint)")
        return nil
    }

    /// A decimal integer, unquoted, within `range`.
    func int(_ map: YAMLMap, _ key: String, in range: ClosedRange<Int>) -> Located<Int>? {
        guard let node = map[key] else { return nil }
        return int(node, path: map.path(key), in: range)
    }

    func int(_ node: Node, path: String, in range: ClosedRange<Int>) -> Located<Int>? {
        guard case .scalar(let scalar) = node else {
            error(path, Position(node), "expected an integer, found \(node.kindName)")
            return nil
        }
        let text = scalar.string
        guard !node.isQuotedScalar, let value = parseInteger(text) else {
            let hint = node.isQuotedScalar ? " (write it without quotes)" : ""
            error(path, Position(node), "\(quoted(text)) is not an integer\(hint)")
            return nil
        }
        guard range.contains(value) else {
            error(path, Position(node), "\(value) is out of range (expected \(range.lowerBound) to \(range.upperBound))")
            return nil
        }
        return Located(value: value, position: Position(node), path: path)
    }

    /// A duration: a bare number in `unit`, or text with units (`500ms`, `5s`, `2m`, `1h`, `1m30s`, `1.5s`).
    func duration(_ map: YAMLMap, _ key: String, unit: DurationUnit, in range: ClosedRange<Duration>) -> Duration? {
        guard let node = map[key] else { return nil }
        let path = map.path(key)
        guard case .scalar(let scalar) = node else {
            error(path, Position(node), "expected a duration, found \(node.kindName)")
            return nil
        }
        switch DurationParser.parse(scalar.string, defaultUnit: unit) {
        case .success(let duration):
            guard range.contains(duration) else {
                error(path, Position(node), "\(duration.sfhaText) is out of range (expected \(range.lowerBound.sfhaText) "
                    + "to \(range.upperBound.sfhaText))")
                return nil
            }
            return duration
        case .failure(let problem):
            error(path, Position(node), "\(quoted(scalar.string)) is not a duration: \(problem.message) (expected "
                + "a number of \(unit.name) or a value with a unit such as 500ms, 5s, 2m, 1h)")
            return nil
        }
    }

    /// A list of strings (a single string is refused).
    func stringList(_ map: YAMLMap, _ key: String) -> [Located<String>] {
        list(map, key).compactMap { string($0.node, path: $0.path) }
    }
}

/// `[+-]?[0-9]+` without leading zeros (an octal ambiguity in YAML 1.1).
func parseInteger(_ text: String) -> Int? {
    var digits = Substring(text)
    var negative = false
    if digits.first == "-" {
        negative = true
        digits = digits.dropFirst()
    }
    guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
    if digits.count > 1 && digits.first == "0" { return nil }
    guard let magnitude = Int(digits) else { return nil }
    return negative ? -magnitude : magnitude
}

/// The nearest known key within edit distance 2 (or that starts with what was typed), for "did you mean".
func closest(_ key: String, in known: [String]) -> String? {
    let lowered = key.lowercased()
    var best: (String, Int)?
    let typed = Array(lowered.utf8)
    for candidate in known {
        let isAbbreviation = lowered.count >= 3 && candidate.hasPrefix(lowered)
        // The length difference bounds the distance from below: skip hopeless (possibly huge) keys cheaply.
        guard isAbbreviation || abs(typed.count - candidate.utf8.count) <= 2 else { continue }
        let distance = isAbbreviation ? 1 : editDistance(typed, Array(candidate.utf8))
        if distance <= 2, distance < (best?.1 ?? .max) { best = (candidate, distance) }
    }
    return best?.0
}

private func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
