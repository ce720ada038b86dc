import Foundation
import Testing

@testable import SFHACore
@testable import sfha

/// `sfha status` says why: the last move's cause (standby, failure limit, operator move, node loss, a stopped
/// daemon, a ban) and why each node is not eligible, in English and French, with every key in the JSON.
@Suite(.timeLimit(.minutes(1))) struct StatusWhyTests {
    static let web = GroupPolicy(name: "web")
    static let policy = PlacementPolicy(groups: [web])

    static func report(_ id: UInt32, standby: Bool = false, blocked: Set<String> = [], healthy: Bool = true) -> NodeReport {
        NodeReport(name: "node\(id)", nodeID: id, standby: standby, healthy: healthy, blockedGroups: blocked)
    }

    static func input(_ reports: [NodeReport], members: Set<UInt32> = [1, 2, 3], requests: [String: MoveRequest] = [:],
                      daemonDepartures: Set<String> = []) -> PlacementInput {
        PlacementInput(
            quorate: true, members: members, reports: reports, daemonDepartures: daemonDepartures, moveRequests: requests,
            now: Timestamp(nanoseconds: 10_000_000_000))
    }

    static func cause(from previous: String?, _ input: PlacementInput, policy: PlacementPolicy = policy) -> MoveCause {
        let placement = Placer.place(input, policy: policy)
        return Placer.cause(ofMoveFrom: previous, to: placement.assignment(of: "web")!, input, policy: policy)
    }

    @Test func theCauseOfAMoveIsWhatBecameOfThePreviousHolder() {
        #expect(Self.cause(from: "node1", Self.input([Self.report(1, standby: true), Self.report(2)])) == .holderIneligible(node: "node1", why: .standby))
        #expect(Self.cause(from: "node1", Self.input([Self.report(1, blocked: ["web"]), Self.report(2)])) == .holderIneligible(node: "node1", why: .blocked))
        #expect(Self.cause(from: "node1", Self.input([Self.report(1, healthy: false), Self.report(2)])) == .holderIneligible(node: "node1", why: .unhealthy))
        // Node loss: node1 is not a member any more. Its daemon alone stopped: a member without a report.
        #expect(Self.cause(from: "node1", Self.input([Self.report(2)], members: [2, 3])) == .holderLeft(node: "node1"))
        #expect(Self.cause(from: "node1", Self.input([Self.report(2)], daemonDepartures: ["node1"])) == .holderDaemonStopped(node: "node1"))
        // Operator moves: away from node1 (it is no longer eligible), or to node2 (node1 still was).
        #expect(Self.cause(from: "node1", Self.input([Self.report(1), Self.report(2)], requests: ["web": .awayFrom("node1")]))
            == .holderIneligible(node: "node1", why: .movedAway))
        #expect(Self.cause(from: "node1", Self.input([Self.report(1), Self.report(2)], requests: ["web": .to("node2")])) == .placed(reason: .requested))
        // A ban.
        let banned = PlacementPolicy(groups: [GroupPolicy(name: "web", bannedNodes: ["node1"])])
        #expect(Self.cause(from: "node1", Self.input([Self.report(1), Self.report(2)]), policy: banned) == .holderIneligible(node: "node1", why: .banned))
        // Cut off, node1 saw the group with nobody for lack of quorum; back, it learns node2 holds it, while its own
        // proof is not back yet: the cause is the quorum it lost, not the proof.
        let unproven = NodeReport(name: "node1", nodeID: 1, proven: false)
        let back = Self.input([unproven, NodeReport(name: "node2", nodeID: 2, holdings: ["web"], running: ["web"])])
        #expect(Self.cause(from: "node1", back) == .holderIneligible(node: "node1", why: .notProven))
        let placement = Placer.place(back, policy: Self.policy)
        #expect(Placer.cause(ofMoveFrom: "node1", to: placement.assignment(of: "web")!, back, policy: Self.policy, vacatedBy: .noQuorum)
            == .placed(reason: .noQuorum))
        // No previous holder: placement's own reason.
        #expect(Self.cause(from: nil, Self.input([Self.report(1), Self.report(2)])) == .placed(reason: .highestPriority))
    }

    @Test func everyIneligibleNodeIsNamedWithItsReason() {
        let why = Placer.ineligibleNodes(
            for: "web", Self.input([Self.report(1, standby: true), Self.report(2), Self.report(3, blocked: ["web"])], members: [1, 2, 3, 4]),
            policy: Self.policy)
        #expect(why == ["node1": .standby, "node3": .blocked, "nodeid 4": .daemonDown])
        #expect(Placer.ineligibleNodes(for: "nope", Self.input([Self.report(1)]), policy: Self.policy).isEmpty)
    }

    @Test func statusShowsTheLastMoveAndWhoIsNotEligibleInBothLanguages() throws {
        let move = LastMove(from: "node1", to: "node2", at: Date(timeIntervalSince1970: 0), cause: .holderIneligible(node: "node1", why: .standby))
        let group = DaemonStatus.Group(
            name: "web", holder: "node2", reason: "\(PlacementReason.kept)", vips: [], services: [], why: .kept, lastMove: move,
            ineligible: [.init(node: "node1", why: .standby), .init(node: "node3", why: .banned)], bannedNodes: ["node3"])
        let status = DaemonStatus(
            clusterName: "t", node: "node2", nodeId: 2, quorate: true, maintenance: false, configurationRevision: 3,
            configurationHash: "h", nodes: [], groups: [group])
        let english = DaemonStatusText.render(status)
        #expect(english.contains("web: moved from node1 to node2 at "), "\(english)")
        #expect(english.contains("node1 may not hold it: in standby"), "\(english)")
        #expect(english.contains("web: not eligible: node1 (in standby), node3 (banned from the group by the operator)"), "\(english)")
        let french = DaemonStatusText.render(status, language: .fr)
        #expect(french.contains("web : déplacé de node1 vers node2 à "), "\(french)")
        #expect(french.contains("node1 ne peut plus le détenir : en veille"), "\(french)")
        #expect(french.contains("non éligibles : node1 (en veille), node3 (banni du groupe par l'opérateur)"), "\(french)")

        // One schema: a group without a move, ineligible node or ban has the same keys, null or empty.
        let bare = DaemonStatus.Group(name: "db", holder: nil, reason: "not decided yet", vips: [], services: [])
        var both = status
        both.groups.append(bare)
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(both)) as? [String: Any]
        let groups = try #require(json?["groups"] as? [[String: Any]])
        #expect(Set(groups[0].keys) == Set(groups[1].keys), "\(groups)")
        #expect(Set(groups[0].keys).isSuperset(of: ["lastMove", "ineligible", "bannedNodes", "why", "holder"]))
        #expect(groups[1]["lastMove"] is NSNull)
        let decoded = try JSONDecoder().decode(DaemonStatus.self, from: JSONEncoder().encode(both))
        #expect(decoded.groups == both.groups)
        // `--json` writes times as the control API does (ISO 8601), not as seconds since 2001.
        let moveJSON = try CLI.jsonText(move)
        #expect(moveJSON.contains("\"at\" : \"1970-01-01T00:00:00Z\""), "\(moveJSON)")
        // The cause as documented (Control-API.md): named members, the reason's words.
        let causeJSON = String(decoding: try JSONEncoder().encode(move.cause), as: UTF8.self)
        #expect(causeJSON == #"{"holderIneligible":{"node":"node1","why":"in standby"}}"# || causeJSON == #"{"holderIneligible":{"why":"in standby","node":"node1"}}"#, "\(causeJSON)")
    }
}
