import SFHABase

extension Simulator {
    /// Loads a scenario file and its configuration: `configurationPath` when given, else the scenario's `config`
    /// statement (relative to the scenario's directory).
    public static func load(scenarioPath: String, configurationPath: String? = nil) throws(SFHAError) -> Simulator {
        let text = try AtomicFile.readText(scenarioPath)
        let name = scenarioPath.split(separator: "/").last.map(String.init) ?? scenarioPath
        let scenario: Scenario
        do {
            scenario = try Scenario(parsing: text, name: name)
        } catch {
            throw SFHAError(.invalidArgument, "scenario \(error.description)")
        }
        guard let path = configurationPath ?? scenario.configuration.map({ relative($0, to: scenarioPath) }) else {
            throw SFHAError(.invalidArgument, "\(name): no configuration: pass --config FILE or add 'config FILE' to the scenario")
        }
        let configuration: SFHAConfiguration
        do {
            configuration = try SFHAConfiguration.load(path: path)
        } catch {
            throw SFHAError(.invalidArgument, "configuration for \(name) is invalid:\n\(error)")
        }
        return Simulator(scenario: scenario, configuration: configuration.cluster)
    }

    private static func relative(_ path: String, to file: String) -> String {
        guard !path.hasPrefix("/"), let slash = file.lastIndex(of: "/") else { return path }
        return String(file[..<slash]) + "/" + path
    }
}
