/// A unified diff of two texts, line by line (`diff -u`'s format, with `context` lines around each change), for
/// showing what a command would change in a file. The standard library's `CollectionDifference` finds the changes;
/// only the hunk layout is written here (no package in reach renders unified diffs).
public enum LineDiff {
    /// nil when the texts are equal.
    public static func unified(from old: String, to new: String, oldLabel: String, newLabel: String, context: Int = 3) -> String? {
        guard old != new else { return nil }
        let before = lines(old)
        let after = lines(new)
        let difference = after.difference(from: before)
        var removed = Set<Int>()
        var inserted = Set<Int>()
        for change in difference {
            switch change {
            case .remove(let offset, _, _): removed.insert(offset)
            case .insert(let offset, _, _): inserted.insert(offset)
            }
        }
        // Every line in order: kept (" "), removed ("-") before inserted ("+") where both happen at one place.
        struct Line {
            var mark: Character
            var text: String
            var oldNumber: Int  // the old line it is at or after (0-based)
            var newNumber: Int
        }
        var all: [Line] = []
        var i = 0
        var j = 0
        while i < before.count || j < after.count {
            if i < before.count, removed.contains(i) {
                all.append(Line(mark: "-", text: before[i], oldNumber: i, newNumber: j))
                i += 1
            } else if j < after.count, inserted.contains(j) {
                all.append(Line(mark: "+", text: after[j], oldNumber: i, newNumber: j))
                j += 1
            } else {
                all.append(Line(mark: " ", text: i < before.count ? before[i] : after[j], oldNumber: i, newNumber: j))
                i += 1
                j += 1
            }
        }
        // Hunks: runs of changes closer than 2 × context, with context lines around.
        let changed = all.indices.filter { all[$0].mark != " " }
        var hunks: [ClosedRange<Int>] = []
        for index in changed {
            let range = max(0, index - context)...min(all.count - 1, index + context)
            if let last = hunks.last, range.lowerBound <= last.upperBound + 1 {
                hunks[hunks.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                hunks.append(range)
            }
        }
        var output = ["--- \(oldLabel)", "+++ \(newLabel)"]
        for hunk in hunks {
            let slice = all[hunk]
            let oldCount = slice.filter { $0.mark != "+" }.count
            let newCount = slice.filter { $0.mark != "-" }.count
            let first = slice.first!
            // diff -u numbers from 1; an empty side starts at the line before.
            let oldStart = oldCount == 0 ? first.oldNumber : first.oldNumber + 1
            let newStart = newCount == 0 ? first.newNumber : first.newNumber + 1
            output.append("@@ -\(oldStart),\(oldCount) +\(newStart),\(newCount) @@")
            output += slice.map { "\($0.mark)\($0.text)" }
        }
        return output.joined(separator: "\n") + "\n"
    }

    static func lines(_ text: String) -> [String] {
        var result = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if result.last == "" { result.removeLast() }
        return result
    }
}
