import SFHABase
import Testing

@testable import SFHACore

/// `metrics.listen`: an address and a port, node-local, written back by the renderer; anything else is a clear error.
@Suite(.timeLimit(.minutes(1))) struct MetricsListenTests {
    static func config(_ listen: String) -> String {
        "cluster:\n  name: t\nnode:\n  name: node1\nmetrics:\n  listen: \"\(listen)\"\n"
    }

    @Test func addressesAndPortsAreAccepted() throws {
        let v4 = try SFHAConfiguration.parse(yaml: Self.config("10.0.0.1:9469"), path: "config.yml")
        #expect(v4.node.metricsListen?.description == "10.0.0.1:9469")
        let v6 = try SFHAConfiguration.parse(yaml: Self.config("[fd00::1]:9469"), path: "config.yml")
        #expect(v6.node.metricsListen?.description == "[fd00::1]:9469")
        // Written out and read back: the same (it is node-local: not in the replicated document).
        #expect(try SFHAConfiguration.parse(yaml: v6.renderedYAML(), path: "config.yml").node == v6.node)
        #expect(!v6.cluster.renderedYAML().contains("metrics"))
        #expect(try SFHAConfiguration.parse(yaml: "cluster:\n  name: t\nnode:\n  name: node1\n", path: "c").node.metricsListen == nil)
    }

    @Test(arguments: ["localhost:9469", "10.0.0.1", "10.0.0.1:0", "10.0.0.1:70000", "fd00::1:9469", "[fd00::1]9469", "10.0.0.1:x"])
    func anythingElseIsRefusedWithItsPath(_ text: String) {
        let error = #expect(throws: ConfigurationError.self) { try SFHAConfiguration.parse(yaml: Self.config(text), path: "config.yml") }
        #expect(error?.items.first?.keyPath == "metrics.listen", "\(String(describing: error))")
    }
}
