import SFHABase
import Testing

@testable import sfha

@Suite(.timeLimit(.minutes(2))) struct CLILanguageTests {
    @Test func theLanguageComesFromTheOptionThenTheEnvironment() {
        #expect(Language.resolve(.fr, environment: ["LANG": "en_US.UTF-8"]) == .fr)
        #expect(Language.resolve(nil, environment: ["SFHA_LANG": "fr", "LANG": "en_US.UTF-8"]) == .fr)
        #expect(Language.resolve(nil, environment: ["SFHA_LANG": "en", "LANG": "fr_FR.UTF-8"]) == .en)
        #expect(Language.resolve(nil, environment: ["LANG": "fr_FR.UTF-8"]) == .fr)
        #expect(Language.resolve(nil, environment: ["LC_ALL": "fr_CA", "LANG": "C"]) == .fr)
        #expect(Language.resolve(nil, environment: ["LANG": "C.UTF-8"]) == .en)
        #expect(Language.resolve(nil, environment: [:]) == .en)
        let text = Text(en: "refused", fr: "refusé")
        #expect(text(.fr) == "refusé" && text(.en) == "refused")
    }

    @Test func everyErrorHasItsOwnExitStatus() {
        let codes: [SFHAError.Code] = [.unavailable, .notQuorate, .conflict, .notFound, .timeout, .internalError]
        let statuses = codes.map(ExitStatus.forError)
        #expect(statuses == [4, 5, 6, 7, 8, 1])
        #expect(ExitStatus.forError(.invalidState) == ExitStatus.refused)
    }
}
