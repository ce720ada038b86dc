import Foundation
@testable import SFHACore
import Testing

/// Shared helpers for the configuration tests.
enum ConfigTest {
    static let path = "/etc/sfha/config.yml"

    /// Parses `yaml` (as /etc/sfha/config.yml).
    static func load(_ yaml: String) throws -> SFHAConfiguration {
        try SFHAConfiguration.parse(yaml: yaml, path: path)
    }

    /// The error lines `yaml` produces (empty when it loads).
    static func errors(_ yaml: String) -> [String] {
        do {
            _ = try SFHAConfiguration.parse(yaml: yaml, path: path)
            return []
        } catch {
            return error.items.map(\.description)
        }
    }

    /// The thrown error items (empty when it loads).
    static func items(_ yaml: String) -> [ConfigurationDiagnostic] {
        do {
            _ = try SFHAConfiguration.parse(yaml: yaml, path: path)
            return []
        } catch {
            return error.items
        }
    }

    /// The warning lines of a configuration that loads.
    static func warnings(_ yaml: String) throws -> [String] {
        try load(yaml).warnings.map(\.description)
    }

    /// A minimal valid file followed by `body`.
    static func minimal(_ body: String = "") -> String {
        "node:\n  name: node1\n" + body
    }
}
