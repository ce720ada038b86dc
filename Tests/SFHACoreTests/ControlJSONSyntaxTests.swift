import Foundation
import SFHABase
import Testing

@testable import SFHACore

@Suite(.timeLimit(.minutes(1))) struct ControlJSONSyntaxTests {
    @Test(arguments: [
        "{}", " { } ", "[]", "null", "true", "false", "0", "-0", "12", "-1.5e+3", "2E-2", #""""#, #""a\"\\\/\b\f\n\r\t\u00e9""#,
        #"{"group": "web", "to": null, "n": [1, 2.5, {"x": false}]}"#, "\n{\"on\":true}\r\n", #""héllo""#,
    ])
    func acceptsJSON(_ text: String) {
        #expect(ControlJSONSyntax.problem(in: Array(text.utf8)) == nil, "\(text)")
    }

    @Test(arguments: [
        ("", "the body ends before the JSON value does"),
        (#"{"group": "web",}"#, "expected a member name in double quotes at byte 17, found '}'"),
        ("[1,]", "expected a value at byte 4, found ']'"),
        ("{} {}", "expected nothing after the JSON value at byte 4, found '{'"),
        ("{\"a\" 1}", "expected ':' at byte 6, found '1'"),
        ("{'a': 1}", "expected a member name in double quotes at byte 2, found '''"),
        ("{\"a\": 01}", "invalid number at byte 7"),
        ("{\"a\": 1.}", "invalid number at byte 7"),
        ("{\"a\": NaN}", "expected a value at byte 7, found 'N'"),
        ("{\"a\": nul}", "expected a value at byte 7, found 'n'"),
        ("{\"a\": \"x\ny\"}", "invalid string at byte 7"),
        (#"{"a": "\x"}"#, "invalid string at byte 7"),
        (#"{"a": "\u12"}"#, "invalid string at byte 7"),
        ("{\"a\": [1 2]}", "expected ',' or ']' at byte 10, found '2'"),
        ("{\"a\": 1", "the body ends before the JSON value does"),
        ("\u{FEFF}{}", "expected a value at byte 1, found byte 0xef"),
    ])
    func refusesWhatIsNotJSONAndSaysWhere(_ text: String, _ problem: String) {
        #expect(ControlJSONSyntax.problem(in: Array(text.utf8)) == problem, "\(text)")
    }

    @Test func boundsTheNesting() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(ControlJSONSyntax.problem(in: Array(deep.utf8)) == "nested deeper than 64 levels at byte 65")
        let fits = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(ControlJSONSyntax.problem(in: Array(fits.utf8)) == nil)
    }

    @Test func requestBodiesMustBeStrictJSON() {
        // Foundation's own parser takes a trailing comma: the control API does not.
        let request = ControlRequest(method: "POST", path: "/v1/failover", body: Array(#"{"group": "web",}"#.utf8))
        let thrown = #expect(throws: SFHAError.self) { try request.decode(FailoverRequest.self) }
        #expect(thrown?.code == .invalidArgument)
        #expect(thrown?.message == "invalid JSON body: expected a member name in double quotes at byte 17, found '}'")
    }
}
