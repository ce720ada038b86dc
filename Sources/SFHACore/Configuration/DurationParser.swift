/// The unit of a bare number in a duration key: `*_ms` keys count milliseconds, every other duration key seconds
/// (as the original's `interval`, `timeout` and STONITH keys).
public enum DurationUnit: Sendable {
    case milliseconds, seconds

    var name: String { self == .milliseconds ? "milliseconds" : "seconds" }

    var nanoseconds: Int64 { self == .milliseconds ? 1_000_000 : 1_000_000_000 }
}

public struct DurationProblem: Error, Equatable {
    public var message: String
}

/// Parses durations written by operators.
///
/// - A bare number (`5000`, `1.5`) is in the key's unit.
/// - Otherwise one or more number+unit pairs: `500ms`, `5s`, `2m`, `1h`, `1m30s`, `1.5s`. Units: `ms`, `s`, `m`, `h`.
/// - The result must be a whole number of milliseconds and not negative.
public enum DurationParser {
    public static func parse(_ text: String, defaultUnit: DurationUnit) -> Result<Duration, DurationProblem> {
        let chars = Array(text.utf8)
        guard !chars.isEmpty else { return .failure(DurationProblem(message: "it is empty")) }
        if chars.first == UInt8(ascii: "-") { return .failure(DurationProblem(message: "it is negative")) }
        if chars.contains(where: { $0 == 0x20 || $0 == 0x09 }) {
            return .failure(DurationProblem(message: "it contains spaces (write 5s or 1m30s)"))
        }
        var index = 0
        var totalNanoseconds: Int64 = 0
        var pairs = 0
        while index < chars.count {
            // Number: digits with an optional fraction.
            var integerPart: Int64 = 0
            var fractionDigits: [UInt8] = []
            var sawDigit = false
            while index < chars.count, isDigit(chars[index]) {
                let (m, o1) = integerPart.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(Int64(chars[index] - 0x30))
                guard !o1, !o2 else { return .failure(DurationProblem(message: "it is too large")) }
                integerPart = s
                sawDigit = true
                index += 1
            }
            if index < chars.count, chars[index] == UInt8(ascii: ".") {
                index += 1
                while index < chars.count, isDigit(chars[index]) {
                    fractionDigits.append(chars[index] - 0x30)
                    sawDigit = true
                    index += 1
                }
                if fractionDigits.isEmpty { return .failure(DurationProblem(message: "a digit must follow the decimal point")) }
            }
            guard sawDigit else { return .failure(DurationProblem(message: "a number is missing")) }
            // Unit.
            let unitStart = index
            while index < chars.count, isLetter(chars[index]) { index += 1 }
            let unitText = String(decoding: chars[unitStart..<index], as: UTF8.self)
            let unitNanoseconds: Int64
            switch unitText {
            case "":
                guard pairs == 0, index == chars.count else {
                    return .failure(DurationProblem(message: "every number needs a unit"))
                }
                unitNanoseconds = defaultUnit.nanoseconds
            case "ms": unitNanoseconds = 1_000_000
            case "s": unitNanoseconds = 1_000_000_000
            case "m": unitNanoseconds = 60_000_000_000
            case "h": unitNanoseconds = 3_600_000_000_000
            default:
                return .failure(DurationProblem(message: "unknown unit \(quoted(unitText))"))
            }
            guard let amount = scaled(integerPart, fractionDigits, by: unitNanoseconds) else {
                return .failure(DurationProblem(message: "it is too large or too precise"))
            }
            let (sum, overflow) = totalNanoseconds.addingReportingOverflow(amount)
            guard !overflow else { return .failure(DurationProblem(message: "it is too large")) }
            totalNanoseconds = sum
            pairs += 1
        }
        guard totalNanoseconds % 1_000_000 == 0 else {
            return .failure(DurationProblem(message: "it is not a whole number of milliseconds"))
        }
        return .success(.milliseconds(totalNanoseconds / 1_000_000))
    }

    /// `integer.fraction × unit` in nanoseconds, exact, or nil on overflow or sub-nanosecond precision.
    private static func scaled(_ integer: Int64, _ fraction: [UInt8], by unit: Int64) -> Int64? {
        let (whole, overflow) = integer.multipliedReportingOverflow(by: unit)
        guard !overflow else { return nil }
        var fractional: Int64 = 0
        var scale = unit
        for digit in fraction {
            guard scale % 10 == 0 else {
                if digit != 0 { return nil }
                continue
            }
            scale /= 10
            fractional += Int64(digit) * scale
        }
        let (sum, o) = whole.addingReportingOverflow(fractional)
        return o ? nil : sum
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    private static func isLetter(_ c: UInt8) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A }
}
