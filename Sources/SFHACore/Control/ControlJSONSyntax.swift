/// Strict JSON syntax (RFC 8259) for request bodies. Foundation's parser also accepts some documents that are not
/// JSON (a trailing comma, `{"group": "web",}`; a leading zero, `01`), and a body that is not exactly JSON must be
/// refused, not acted on. Iterative, with a nesting bound, so no body can exhaust the stack.
enum ControlJSONSyntax {
    /// Deepest nesting of objects and arrays accepted: far beyond any request's.
    static let maxDepth = 64

    private enum Expected {
        case value
        /// Just after `[`.
        case valueOrEnd
        /// After `,` in an object.
        case name
        /// Just after `{`.
        case nameOrEnd
        case colon
        /// After a value: `,`, the end of its container, or (at the top level) the end of the body.
        case separatorOrEnd
    }

    /// nil when `bytes` is exactly one JSON value (whitespace around it allowed); otherwise what is wrong, and where.
    static func problem(in bytes: [UInt8]) -> String? {
        var index = 0
        var open: [UInt8] = []  // `{` and `[` not closed yet
        var expected = Expected.value
        while true {
            while index < bytes.count, isWhitespace(bytes[index]) { index += 1 }
            guard index < bytes.count else {
                return open.isEmpty && expected == .separatorOrEnd ? nil : "the body ends before the JSON value does"
            }
            let byte = bytes[index]
            switch expected {
            case .value, .valueOrEnd:
                if expected == .valueOrEnd, byte == UInt8(ascii: "]") {
                    open.removeLast()
                    index += 1
                    expected = .separatorOrEnd
                    continue
                }
                switch byte {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    guard open.count < maxDepth else { return "nested deeper than \(maxDepth) levels at byte \(index + 1)" }
                    open.append(byte)
                    index += 1
                    expected = byte == UInt8(ascii: "{") ? .nameOrEnd : .valueOrEnd
                case UInt8(ascii: "\""):
                    guard let end = stringEnd(bytes, from: index) else { return "invalid string at byte \(index + 1)" }
                    index = end
                    expected = .separatorOrEnd
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    guard let end = numberEnd(bytes, from: index) else { return "invalid number at byte \(index + 1)" }
                    index = end
                    expected = .separatorOrEnd
                default:
                    guard let end = literalEnd(bytes, from: index) else { return unexpected(bytes, index, "a value") }
                    index = end
                    expected = .separatorOrEnd
                }
            case .name, .nameOrEnd:
                if expected == .nameOrEnd, byte == UInt8(ascii: "}") {
                    open.removeLast()
                    index += 1
                    expected = .separatorOrEnd
                    continue
                }
                guard byte == UInt8(ascii: "\"") else { return unexpected(bytes, index, "a member name in double quotes") }
                guard let end = stringEnd(bytes, from: index) else { return "invalid string at byte \(index + 1)" }
                index = end
                expected = .colon
            case .colon:
                guard byte == UInt8(ascii: ":") else { return unexpected(bytes, index, "':'") }
                index += 1
                expected = .value
            case .separatorOrEnd:
                guard let container = open.last else { return unexpected(bytes, index, "nothing after the JSON value") }
                let close = container == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                if byte == UInt8(ascii: ",") {
                    expected = container == UInt8(ascii: "{") ? .name : .value
                } else if byte == close {
                    open.removeLast()
                } else {
                    return unexpected(bytes, index, "',' or '\(Character(Unicode.Scalar(close)))'")
                }
                index += 1
            }
        }
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    private static func unexpected(_ bytes: [UInt8], _ index: Int, _ wanted: String) -> String {
        let byte = bytes[index]
        let found = (0x21..<0x7F).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
        return "expected \(wanted) at byte \(index + 1), found \(found)"
    }

    /// The index after the string starting at `start` (a `"`); nil when it is not a valid JSON string.
    private static func stringEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        var index = start + 1
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                return index + 1
            case UInt8(ascii: "\\"):
                guard index + 1 < bytes.count else { return nil }
                let escaped = bytes[index + 1]
                if escaped == UInt8(ascii: "u") {
                    guard index + 5 < bytes.count, bytes[(index + 2)...(index + 5)].allSatisfy(isHexDigit) else { return nil }
                    index += 6
                } else {
                    guard Array(#""\/bfnrt"#.utf8).contains(escaped) else { return nil }
                    index += 2
                }
            case 0..<0x20:
                return nil  // control characters must be escaped
            default:
                index += 1
            }
        }
        return nil
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"):
            true
        default:
            false
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`: the index after it, or nil.
    private static func numberEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        var index = start
        func digits() -> Int {
            let first = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            return index - first
        }
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { return nil }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if digits() == 0 {
            return nil
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { return nil }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { return nil }
        }
        // `01`, `1x`: a number is followed by a separator, never by more of a token.
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index])
            || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[index] | 0x20)
        {
            return nil
        }
        return index
    }

    /// `true`, `false` or `null` at `start`: the index after it, or nil.
    private static func literalEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        for literal in ["true", "false", "null"] {
            let word = Array(literal.utf8)
            guard bytes.count - start >= word.count, Array(bytes[start..<(start + word.count)]) == word else { continue }
            let end = start + word.count
            // `nullx` is not `null`.
            if end < bytes.count, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[end] | 0x20) { return nil }
            return end
        }
        return nil
    }
}
