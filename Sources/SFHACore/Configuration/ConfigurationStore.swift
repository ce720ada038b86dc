/// Holds the configuration in force. A configuration that fails to load or validate never replaces it: `reload`
/// keeps the current one and returns the errors (the original crashed on SIGHUP with an invalid file, §9 R17).
///
/// The cluster part is also kept as a `ClusterDocument` whose revision increases each time a reload changes the
/// cluster content (a reload that only changes node-local settings or warnings keeps the revision).
public actor ConfigurationStore {
    public private(set) var current: SFHAConfiguration
    public private(set) var document: ClusterDocument
    /// The path `reload()` reads by default.
    public let path: String

    public init(initial: SFHAConfiguration, path: String = SFHAConfiguration.defaultPath, revision: UInt64 = 1) {
        self.current = initial
        self.path = path
        self.document = ClusterDocument(revision: revision, configuration: initial.cluster)
    }

    /// Loads `path` once; throws when it is invalid (there is nothing to fall back on at startup).
    public static func load(path: String = SFHAConfiguration.defaultPath) throws(ConfigurationError) -> ConfigurationStore {
        ConfigurationStore(initial: try SFHAConfiguration.load(path: path), path: path)
    }

    /// Re-reads `path` (default: the store's path). On success the new configuration replaces the current one and
    /// is returned; on failure the current one stays and the errors are returned.
    @discardableResult
    public func reload(from path: String? = nil) -> Result<SFHAConfiguration, ConfigurationError> {
        let file = path ?? self.path
        let loaded: SFHAConfiguration
        do {
            loaded = try SFHAConfiguration.load(path: file)
        } catch {
            return .failure(error)
        }
        return apply(loaded, file: file)
    }

    /// Same as `reload(from:)` with text instead of a file (`path` is used in messages).
    @discardableResult
    public func reload(yaml: String, path: String? = nil) -> Result<SFHAConfiguration, ConfigurationError> {
        let file = path ?? self.path
        let loaded: SFHAConfiguration
        do {
            loaded = try SFHAConfiguration.parse(yaml: yaml, path: file)
        } catch {
            return .failure(error)
        }
        return apply(loaded, file: file)
    }

    /// A running node keeps its identity: a reload that changes `node.name` is refused (restart sfha after changing
    /// corosync's node name too).
    private func apply(_ loaded: SFHAConfiguration, file: String) -> Result<SFHAConfiguration, ConfigurationError> {
        guard loaded.node.name == current.node.name else {
            return .failure(ConfigurationError(ConfigurationDiagnostic(
                file: file, line: 0, column: 0, keyPath: "node.name",
                message: "changed from \(quoted(current.node.name)) to \(quoted(loaded.node.name)): a running node "
                    + "cannot be renamed by a reload; restart sfha instead")))
        }
        let revised: ClusterDocument
        do {
            revised = try document.revised(with: loaded.cluster)
        } catch {
            return .failure(error)
        }
        current = loaded
        document = revised
        return .success(loaded)
    }
}
