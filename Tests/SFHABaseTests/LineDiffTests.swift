import Foundation
import SFHABase
import Testing

@Suite("unified diffs of files a command would change", .timeLimit(.minutes(1)))
struct LineDiffTests {
    @Test func equalTextsHaveNoDiff() {
        #expect(LineDiff.unified(from: "a\nb\n", to: "a\nb\n", oldLabel: "x", newLabel: "y") == nil)
    }

    @Test func aRemovedBlockIsOneHunkWithItsContext() {
        let old = (1...12).map { "line \($0)" }.joined(separator: "\n") + "\n"
        let new = (1...12).filter { !(6...7).contains($0) }.map { "line \($0)" }.joined(separator: "\n") + "\n"
        let diff = LineDiff.unified(from: old, to: new, oldLabel: "a/f", newLabel: "b/f")
        #expect(diff == """
            --- a/f
            +++ b/f
            @@ -3,8 +3,6 @@
             line 3
             line 4
             line 5
            -line 6
            -line 7
             line 8
             line 9
             line 10

            """)
    }

    @Test func distantChangesAreSeparateHunksAndReplacementsRemoveBeforeInsert() {
        let old = (1...20).map { "l\($0)" }.joined(separator: "\n") + "\n"
        var lines = (1...20).map { "l\($0)" }
        lines[0] = "first"
        lines.append("l21")
        let diff = LineDiff.unified(from: old, to: lines.joined(separator: "\n") + "\n", oldLabel: "o", newLabel: "n", context: 1) ?? ""
        #expect(diff == """
            --- o
            +++ n
            @@ -1,2 +1,2 @@
            -l1
            +first
             l2
            @@ -20,1 +20,2 @@
             l20
            +l21

            """)
    }

    /// The hunks re-applied to the old text give the new one (on random edits).
    @Test func hunksReproduceTheNewText() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let old = (0..<Int.random(in: 0...15, using: &generator)).map { _ in "x\(Int.random(in: 0...5, using: &generator))" }
            var new = old
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                if !new.isEmpty, Bool.random(using: &generator) { new.remove(at: Int.random(in: 0..<new.count, using: &generator)) }
                else { new.insert("y\(Int.random(in: 0...5, using: &generator))", at: Int.random(in: 0...new.count, using: &generator)) }
            }
            let oldText = old.map { $0 + "\n" }.joined()
            let newText = new.map { $0 + "\n" }.joined()
            guard let diff = LineDiff.unified(from: oldText, to: newText, oldLabel: "o", newLabel: "n") else {
                #expect(oldText == newText)
                continue
            }
            #expect(Self.apply(diff, to: old) == new, "\(old) → \(new):\n\(diff)")
        }
    }

    static func apply(_ diff: String, to old: [String]) -> [String] {
        var result: [String] = []
        var position = 0
        for line in diff.split(separator: "\n", omittingEmptySubsequences: false).dropFirst(2) where !line.isEmpty {
            if line.hasPrefix("@@") {
                let oldPart = line.split(separator: " ")[1].dropFirst().split(separator: ",")
                let start = Int(oldPart[0])!, count = Int(oldPart[1])!
                let begin = count == 0 ? start : start - 1
                result += old[position..<begin]
                position = begin
            } else if line.hasPrefix("-") {
                position += 1
            } else if line.hasPrefix("+") {
                result.append(String(line.dropFirst()))
            } else {
                result.append(old[position])
                position += 1
            }
        }
        return result + old[position...]
    }
}
