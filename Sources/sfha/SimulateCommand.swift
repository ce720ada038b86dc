import ArgumentParser
import Foundation
import SFHABase
import SFHACore

struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run sfhad's real state machine on simulated nodes and print the timeline.",
        discussion: """
            A scenario is a text file of timed events (node down/up, network split/heal, daemon crash, corosync \
            stop, sfhad frozen, health check failure, standby, config change, maintenance…); see Docs/Simulation.md. After every \
            step the simulator checks that no group's VIPs are on two nodes, nothing is held without quorum, services \
            run only with their VIPs and group order is respected. Exit status 1 when an invariant or an expectation \
            failed.
            """)

    @Option(name: .long, help: "Configuration file (default: the scenario's 'config' line).")
    var config: String?

    @Argument(help: "Scenario file.")
    var scenario: String

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    func run() async throws {
        let simulator = try Simulator.load(scenarioPath: scenario, configurationPath: config)
        let result = await simulator.run()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            print(result.text, terminator: "")
        }
        if !result.passed { throw ExitCode(1) }
    }
}
