import Foundation

extension ClusterConfiguration {
    /// How a configuration is named in errors by default.
    public static let defaultOrigin = "cluster configuration"

    /// The `node:` section added to the rendered text: the loader requires one, and the node-local part plays no
    /// role in the cluster part.
    private static let validationNodeSection = "\nnode:\n  name: validation-node\n"

    /// This configuration, when config.yml could hold it, checked by exactly the config.yml loader: the
    /// configuration is written as config.yml (`renderedYAML()`), read back, and accepted only when the loader
    /// finds no error (warnings are fine) and reads back an equal configuration, so that whatever the YAML cannot
    /// express is refused too. Use it on every configuration that does not come from a local file (a replicated
    /// proposal, a received document) before acting on it.
    ///
    /// Deterministic: every node reaches the same verdict on the same value. Errors name the key path, in the
    /// rendered text's terms (`vips[2].interface`: the third VIP of `renderedYAML()`) or, for what config.yml
    /// cannot express, in the model's (`groups[0].requiredChecks`); `origin` takes the place of the file name
    /// ("proposal from node2"), and there are no line numbers. Secrets are never quoted.
    public func validated(origin: String = ClusterConfiguration.defaultOrigin) throws(ConfigurationError)
        -> ClusterConfiguration
    {
        let text = renderedYAML() + Self.validationNodeSection
        guard text.utf8.count <= SFHAConfiguration.maximumFileSize else {
            throw ConfigurationError(ConfigurationDiagnostic(
                file: origin, line: 0, column: 0, keyPath: "",
                message: "is \(text.utf8.count) bytes once written as config.yml, over the "
                    + "\(SFHAConfiguration.maximumFileSize)-byte limit of a configuration file; it is refused"))
        }
        let parsed: SFHAConfiguration
        do {
            parsed = try SFHAConfiguration.parse(yaml: text, path: origin)
        } catch {
            // Lines and columns would point into text nobody sees.
            throw ConfigurationError(items: error.items.map { item in
                ConfigurationDiagnostic(file: origin, line: 0, column: 0, keyPath: item.keyPath, message: item.message)
            })
        }
        guard parsed.cluster == self else {
            throw ConfigurationError(ConfigurationDiagnostic(
                file: origin, line: 0, column: 0, keyPath: firstDifference(from: parsed.cluster),
                message: "cannot be expressed in config.yml: written out and read back, it differs (a duration finer "
                    + "than a millisecond, say, or a group setting that the constraints do not imply); it is refused"))
        }
        return self
    }

    /// Where `other` first differs from this configuration, as a key path in the model's terms; empty when no
    /// single place can be named. Compares the canonical encodings, then the properties themselves (for what the
    /// encoding rounds, such as sub-millisecond durations).
    func firstDifference(from other: ClusterConfiguration) -> String {
        let decode = { (configuration: ClusterConfiguration) in
            try? JSONSerialization.jsonObject(with: Data(ClusterDocument.canonicalEncoding(of: configuration)))
        }
        if let mine = decode(self), let theirs = decode(other), let path = Self.difference(mine, theirs, path: "") {
            return path
        }
        func index<T: Equatable>(_ a: [T], _ b: [T]) -> String {
            a.indices.first { $0 < b.count && a[$0] != b[$0] }.map { "[\($0)]" } ?? ""
        }
        if takeoverDelay != other.takeoverDelay { return "takeoverDelay" }
        if groups != other.groups { return "groups" + index(groups, other.groups) }
        if nodeChecks != other.nodeChecks { return "nodeChecks" + index(nodeChecks, other.nodeChecks) }
        if stonith != other.stonith { return "stonith" }
        return ""
    }

    /// The first differing path between two decoded JSON values (keys in sorted order), or nil when they agree.
    private static func difference(_ a: Any, _ b: Any, path: String) -> String? {
        switch (a, b) {
        case let (a as [String: Any], b as [String: Any]):
            for key in Set(a.keys).union(b.keys).sorted() {
                let keyPath = joinPath(path, key)
                guard let valueA = a[key], let valueB = b[key] else { return keyPath }
                if let found = difference(valueA, valueB, path: keyPath) { return found }
            }
            return nil
        case let (a as [Any], b as [Any]):
            for index in 0..<min(a.count, b.count) {
                if let found = difference(a[index], b[index], path: "\(path)[\(index)]") { return found }
            }
            return a.count == b.count ? nil : path
        default:
            return String(describing: a) == String(describing: b) ? nil : path
        }
    }
}
