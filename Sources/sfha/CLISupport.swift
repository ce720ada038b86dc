import ArgumentParser
import Foundation
import SFHABase
import SFHACore

#if canImport(Glibc)
import Glibc
#endif

/// Exit codes shared by every sfha command (documented in Docs/Operations.md and the man page).
enum ExitStatus {
    static let failure: Int32 = 1
    static let invalidConfiguration: Int32 = 2
    static let corosyncUnavailable: Int32 = 3
    static let daemonUnavailable: Int32 = 4
    static let notQuorate: Int32 = 5
    static let refused: Int32 = 6
    static let notFound: Int32 = 7
    static let timeout: Int32 = 8
    static let cancelled: Int32 = 10

    static func forError(_ code: SFHAError.Code) -> Int32 {
        switch code {
        case .notRunning, .unavailable: daemonUnavailable
        case .notQuorate: notQuorate
        case .conflict, .invalidState, .exists: refused
        case .notFound: notFound
        case .timeout: timeout
        case .invalidConfiguration: invalidConfiguration
        default: failure
        }
    }
}

/// The language of sfha's own messages: `--lang`, then `$SFHA_LANG`, then `$LANG`/`$LC_ALL`/`$LC_MESSAGES`
/// (fr… → French), English otherwise.
enum Language: String, ExpressibleByArgument, CaseIterable {
    case en, fr

    static func resolve(_ option: Language?, environment: [String: String] = ProcessInfo.processInfo.environment) -> Language {
        if let option { return option }
        for key in ["SFHA_LANG", "LC_ALL", "LC_MESSAGES", "LANG"] {
            guard let value = environment[key], !value.isEmpty else { continue }
            return value.lowercased().hasPrefix("fr") ? .fr : .en
        }
        return .en
    }
}

/// A message in both languages.
struct Text {
    let en: String
    let fr: String
    func callAsFunction(_ language: Language) -> String { language == .fr ? fr : en }
}

/// Options every command that talks to sfhad shares.
struct DaemonOptions: ParsableArguments {
    @Option(name: .long, help: "sfhad's control socket.")
    var socket = ControlServer.defaultSocketPath

    @Option(name: .long, help: "Language of messages: en or fr (default: $SFHA_LANG, then $LANG).")
    var lang: Language?

    var language: Language { Language.resolve(lang) }
    /// Longer than sfhad's handler timeout, so a request that times out in sfhad gets its 504 (exit 8 with sfhad's
    /// reason) rather than the client giving up at the same moment.
    var client: ControlClient { ControlClient(socketPath: socket, timeout: ControlClient.defaultTimeout) }

    /// Runs a request; on failure prints a clear message (in the operator's language) and exits with the code
    /// that matches the error.
    func call<T: Sendable>(_ body: (ControlClient) async throws -> T) async throws -> T {
        do {
            return try await body(client)
        } catch let error as SFHAError {
            CLI.fail(error, language: language)
            throw ExitCode(ExitStatus.forError(error.code))
        }
    }
}

enum CLI {
    static func printError(_ line: String) {
        FileHandle.standardError.write(Data("sfha: \(line)\n".utf8))
    }

    /// An error from sfhad (or from reaching it): a summary in the operator's language, then the error's own text.
    static func fail(_ error: SFHAError, language: Language) {
        printError(summary(of: error.code)(language))
        printDetail(error, language: language)
    }

    /// The error's own text (sfhad's, or the socket layer's), as it was written: in French labelled as the detail,
    /// after the summary.
    static func printDetail(_ error: SFHAError, language: Language) {
        printError(language == .fr ? "détail : \(error.message)" : error.message)
    }

    /// What an error code means for the operator, and what to do when there is something to do.
    static func summary(of code: SFHAError.Code) -> Text {
        switch code {
        case .notRunning:
            Text(
                en: "sfhad is not running on this node (or its socket is elsewhere); start it, e.g. 'systemctl start sfhad'",
                fr: "sfhad ne tourne pas sur ce nœud (ou son socket est ailleurs) ; démarrez-le, p. ex. 'systemctl start sfhad'")
        case .unavailable:
            Text(
                en: "sfhad is running but cannot serve this request now (busy, starting or shutting down); retry shortly",
                fr: "sfhad tourne mais ne peut pas traiter cette requête maintenant (occupé, en démarrage ou en arrêt) ; réessayez dans un instant")
        case .notQuorate:
            Text(en: "refused: no quorum in this node's partition", fr: "refusé : pas de quorum dans la partition de ce nœud")
        case .conflict, .invalidState, .exists:
            Text(en: "refused", fr: "refusé")
        case .notFound:
            Text(en: "not found", fr: "introuvable")
        case .invalidArgument:
            Text(en: "invalid request", fr: "requête invalide")
        case .invalidConfiguration:
            Text(en: "invalid configuration", fr: "configuration invalide")
        case .timeout:
            Text(en: "no answer in time", fr: "pas de réponse à temps")
        case .unauthorized:
            Text(en: "not allowed to talk to sfhad: run sfha as root", fr: "pas autorisé à parler à sfhad : lancez sfha en root")
        case .io:
            Text(en: "cannot reach sfhad", fr: "impossible de joindre sfhad")
        case .commandFailed:
            Text(en: "a command sfhad ran failed", fr: "une commande lancée par sfhad a échoué")
        case .internalError:
            Text(en: "internal error (are sfha and sfhad the same version?)",
                 fr: "erreur interne (sfha et sfhad sont-ils de la même version ?)")
        default:
            Text(en: "failed", fr: "échec")
        }
    }

    static func printJSON(_ value: some Encodable) throws { print(try jsonText(value)) }

    /// What `--json` prints: pretty, sorted keys, dates in ISO 8601 as the control API writes them (a history
    /// entry's time, a group's last move).
    static func jsonText(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Asks before a destructive action unless `yes`. Without a terminal to ask on, refuses (exit 10) and says
    /// to pass --yes.
    static func confirm(_ question: Text, yes: Bool, language: Language) throws {
        guard !yes else { return }
        guard isatty(STDIN_FILENO) == 1 else {
            printError(Text(
                en: "\(question.en) — not confirmed: no terminal to ask on; pass --yes to confirm",
                fr: "\(question.fr) — non confirmé : pas de terminal pour demander ; ajoutez --yes pour confirmer")(language))
            throw ExitCode(ExitStatus.cancelled)
        }
        FileHandle.standardError.write(Data("\(question(language)) [\(language == .fr ? "o/N" : "y/N")] ".utf8))
        let answer = (readLine() ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        guard ["y", "yes", "o", "oui"].contains(answer) else {
            printError(Text(en: "cancelled; nothing was changed", fr: "annulé ; rien n'a été modifié")(language))
            throw ExitCode(ExitStatus.cancelled)
        }
    }

    static func table(_ rows: [[String]]) -> String {
        DaemonStatusText.table(rows).joined(separator: "\n") + "\n"
    }
}
