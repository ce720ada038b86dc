import Foundation
import Testing

/// Rules every test of this package follows, checked on the test sources themselves: each suite has a time limit
/// (a hung test fails instead of hanging the run), and no test times code (figures come from `sfha-lab bench`).
@Suite(.timeLimit(.minutes(1))) struct TestHygieneTests {
    /// Suites that break a rule in files this change may not edit, with why. Remove an entry once its file is fixed
    /// (a stale entry fails the test).
    static let knownExceptions: [String: String] = [
        "IntegrationTests/LabObservationTests.swift": "the lab suites' files are being edited elsewhere; reported in issue 10",
    ]

    struct SourceFile {
        /// Relative to Tests/.
        var path: String
        var text: String
    }

    struct SuiteDeclaration {
        var file: String
        var line: Int
        var name: String
        /// `@Suite(...)` as written, traits included.
        var attribute: String
        /// The type this one is declared in (directly or through an `extension` of it), if any.
        var parent: String?
    }

    static var testsDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    }

    static func sources() throws -> [SourceFile] {
        let root = testsDirectory
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: root.path])
        }
        var files: [SourceFile] = []
        for case let url as URL in walker where url.pathExtension == "swift" {
            let relative = String(url.path.dropFirst(root.path.count + 1))
            files.append(SourceFile(path: relative, text: try String(contentsOf: url, encoding: .utf8)))
        }
        return files.sorted { $0.path < $1.path }
    }

    /// Finds `@Suite` declarations line by line. Nesting is read from declarations that start in column 0 (the
    /// layout of every file here): a suite indented under `struct X {` or `extension X {`, or written in column 0
    /// right inside `extension X {`, is nested in X.
    static func suites(in file: SourceFile) -> [SuiteDeclaration] {
        let lines = file.text.components(separatedBy: "\n")
        var result: [SuiteDeclaration] = []
        var enclosing: (name: String, isExtension: Bool)?
        for (index, line) in lines.enumerated() {
            if line == "}" {
                enclosing = nil
                continue
            }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("@Suite") {
                let text = Substring(([trimmed] + lines[(index + 1)...].prefix(5)).joined(separator: "\n"))
                let attribute = Self.attribute(in: text)
                if let name = Self.typeName(after: text.dropFirst(attribute.count)) {
                    let indented = line.first == " " || line.first == "\t"
                    let parent = enclosing.flatMap { indented || $0.isExtension ? $0.name : nil }
                    result.append(SuiteDeclaration(file: file.path, line: index + 1, name: name, attribute: attribute, parent: parent))
                }
            }
            if enclosing == nil, let opened = Self.topLevelDeclaration(line) { enclosing = opened }
        }
        return result
    }

    /// `struct X {`, `extension X {` and the like starting in column 0.
    static func topLevelDeclaration(_ line: String) -> (name: String, isExtension: Bool)? {
        guard let first = line.first, first != " ", first != "\t", line.hasSuffix("{") else { return nil }
        let words = line.replacingOccurrences(of: "{", with: " ").split(separator: " ").map(String.init)
        for (index, word) in words.enumerated() where ["struct", "enum", "class", "actor", "extension"].contains(word) {
            guard index + 1 < words.count else { return nil }
            let name = words[index + 1].split(separator: ":").first.map(String.init) ?? words[index + 1]
            return (name, word == "extension")
        }
        return nil
    }

    /// `@Suite` plus its parenthesised traits when there are any (balanced parentheses, strings skipped).
    static func attribute(in text: Substring) -> String {
        var result = "@Suite"
        var rest = text.dropFirst("@Suite".count)
        guard rest.first == "(" else { return result }
        var depth = 0
        var inString = false
        var previous: Character = " "
        while let character = rest.first {
            result.append(character)
            rest = rest.dropFirst()
            if character == "\"" && previous != "\\" { inString.toggle() }
            if !inString {
                if character == "(" { depth += 1 }
                if character == ")" {
                    depth -= 1
                    if depth == 0 { break }
                }
            }
            previous = character
        }
        return result
    }

    static func typeName(after text: Substring) -> String? {
        let words = text.prefix(400).split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "{" || $0 == ":" })
        for (index, word) in words.enumerated() where ["struct", "enum", "class", "actor"].contains(word) {
            return index + 1 < words.count ? String(words[index + 1]) : nil
        }
        return nil
    }

    static func hasTimeLimit(_ suite: SuiteDeclaration, among all: [String: SuiteDeclaration], depth: Int = 0) -> Bool {
        if suite.attribute.contains(".timeLimit(") { return true }
        // A suite's time limit applies to the suites nested in it.
        guard depth < 10, let parentName = suite.parent?.split(separator: ".").last.map(String.init),
            let parent = all[parentName]
        else { return false }
        return hasTimeLimit(parent, among: all, depth: depth + 1)
    }

    @Test func everySuiteHasATimeLimit() throws {
        let files = try Self.sources()
        let suites = files.flatMap(Self.suites(in:))
        // The scan must see the package's suites, or the rule below checks nothing.
        #expect(suites.count > 60, "found only \(suites.count) suites under \(Self.testsDirectory.path)")
        let byName = Dictionary(suites.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let missing = suites.filter { !Self.hasTimeLimit($0, among: byName) }
        let unexplained = missing.filter { Self.knownExceptions[$0.file] == nil }
        let listed = unexplained.map { "\($0.file):\($0.line) \($0.name)" }.joined(separator: ", ")
        if !unexplained.isEmpty { Issue.record("suites without a .timeLimit trait (add @Suite(.timeLimit(.minutes(N)))): \(listed)") }
        let stale = Self.knownExceptions.keys.filter { file in !missing.contains { $0.file == file } }
        if !stale.isEmpty { Issue.record("these files now follow the rule; remove them from knownExceptions: \(stale.sorted())") }
    }

    @Test func noTestTimesCode() throws {
        // A duration measured in a test and compared with a budget fails on a busy machine and proves nothing on an
        // idle one: measure with `sfha-lab bench` instead.
        let offenders = try Self.sources().filter { file in
            file.path != "SFHABaseTests/TestHygieneTests.swift"
                && (file.text.contains(".measure {") || file.text.contains(".measure({"))
        }.map(\.path)
        if !offenders.isEmpty { Issue.record("tests timing code with a clock's measure: \(offenders)") }
    }
}
