import Testing

@testable import SFHACore

/// A small seeded generator so every failing case prints the seed that reproduces it.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("placement properties", .timeLimit(.minutes(5)))
struct PlacementPropertyTests {
    static func randomCase(seed: UInt64) -> (PlacementInput, PlacementPolicy) {
        var random = SplitMix64(seed: seed)
        let groupCount = Int.random(in: 1...5, using: &random)
        var groups: [GroupPolicy] = []
        for index in 0..<groupCount {
            var group = GroupPolicy(name: "g\(index)")
            group.failback = Bool.random(using: &random)
            group.failbackDelay = .seconds(Int.random(in: 0...5, using: &random))
            if index > 0, Int.random(in: 0..<4, using: &random) == 0 { group.colocatedWith = ["g\(Int.random(in: 0..<index, using: &random))"] }
            if index > 0, Int.random(in: 0..<4, using: &random) == 0 { group.startAfter = ["g\(Int.random(in: 0..<index, using: &random))"] }
            for node in 1...5 where Int.random(in: 0..<3, using: &random) == 0 {
                group.priorities["node\(node)"] = Int.random(in: 0...300, using: &random)
            }
            groups.append(group)
        }
        let policy = PlacementPolicy(
            quorumRequired: Int.random(in: 0..<5, using: &random) != 0, takeoverDelay: .seconds(3),
            maintenance: Int.random(in: 0..<8, using: &random) == 0, groups: groups)
        let nodeCount = Int.random(in: 1...5, using: &random)
        var reports: [NodeReport] = []
        var members = Set<UInt32>()
        for id in 1...UInt32(nodeCount) {
            if Int.random(in: 0..<5, using: &random) != 0 { members.insert(id) }
            guard Int.random(in: 0..<6, using: &random) != 0 else { continue }  // daemon down
            var holdings = Set<String>()
            for group in groups where Int.random(in: 0..<4, using: &random) == 0 { holdings.insert(group.name) }
            reports.append(NodeReport(
                name: "node\(id)", nodeID: id, priority: Int.random(in: 50...150, using: &random),
                standby: Int.random(in: 0..<6, using: &random) == 0, healthy: Int.random(in: 0..<8, using: &random) != 0,
                blockedGroups: Set(groups.map(\.name).filter { _ in Int.random(in: 0..<6, using: &random) == 0 }),
                holdings: holdings, upSince: Timestamp(nanoseconds: Int64.random(in: 0...10_000_000_000, using: &random))))
        }
        var lastKnown: [String: String] = [:]
        var departures: [String: Timestamp] = [:]
        for group in groups where Bool.random(using: &random) {
            let holder = "node\(Int.random(in: 1...6, using: &random))"
            lastKnown[group.name] = holder
            if Bool.random(using: &random) { departures[holder] = Timestamp(nanoseconds: Int64.random(in: 0...10_000_000_000, using: &random)) }
        }
        var requests: [String: MoveRequest] = [:]
        for group in groups where Int.random(in: 0..<6, using: &random) == 0 {
            let target = "node\(Int.random(in: 1...5, using: &random))"
            requests[group.name] = Bool.random(using: &random) ? .to(target) : .awayFrom(target)
        }
        let input = PlacementInput(
            quorate: Int.random(in: 0..<4, using: &random) != 0, members: members, reports: reports,
            lastKnownHolders: lastKnown, departures: departures,
            fencedNodes: Int.random(in: 0..<5, using: &random) == 0 ? ["node1"] : [], moveRequests: requests,
            now: Timestamp(nanoseconds: Int64.random(in: 5_000_000_000...15_000_000_000, using: &random)))
        return (input, policy)
    }

    static let seeds: [UInt64] = (0..<600).map { 0x5F4A_0000 + UInt64($0) }

    @Test func invariantsHoldForRandomInputs() {
        for seed in Self.seeds {
            let (input, policy) = Self.randomCase(seed: seed)
            let placement = Placer.place(input, policy: policy)
            let live = Dictionary(input.reports.filter { input.members.contains($0.nodeID) }.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            #expect(placement.assignments.map(\.group) == policy.groups.map(\.name), "one assignment per group, seed \(seed)")
            for assignment in placement.assignments {
                guard let holder = assignment.holder else { continue }
                if policy.maintenance {
                    #expect(input.reports.contains { $0.name == holder && $0.holdings.contains(assignment.group) }, "maintenance only keeps, seed \(seed)")
                    continue
                }
                #expect(!policy.quorumRequired || input.quorate, "nothing held without quorum, seed \(seed)")
                let report = live[holder]
                #expect(report != nil, "holder is a live member, seed \(seed)")
                #expect(report?.standby == false && report?.healthy == true, "holder is eligible, seed \(seed)")
                #expect(report?.blockedGroups.contains(assignment.group) == false, "holder not blocked, seed \(seed)")
                // Never two holders: no other live node still holds the group.
                let others = live.values.filter { $0.name != holder && $0.holdings.contains(assignment.group) }
                #expect(others.isEmpty, "another live node still holds \(assignment.group), seed \(seed)")
                // A departed previous holder is replaced only after the delay or a fence.
                if let previous = input.lastKnownHolders[assignment.group], previous != holder, live[previous] == nil,
                    !input.fencedNodes.contains(previous)
                {
                    let left = input.departures[previous] ?? input.now
                    #expect(input.now >= left + policy.takeoverDelay, "takeover delay respected, seed \(seed)")
                }
            }
            // Maintenance reports the cluster as it is (nothing is changed), so it proves nothing about colocation.
            for group in policy.groups where !policy.maintenance {
                let holder = placement.holder(of: group.name)
                for other in group.colocatedWith {
                    let otherHolder = placement.holder(of: other)
                    if let holder, let otherHolder { #expect(holder == otherHolder, "colocation, seed \(seed)") }
                }
                if holder != nil {
                    for predecessor in group.startAfter {
                        #expect(placement.holder(of: predecessor) != nil, "order, seed \(seed)")
                    }
                }
            }
        }
    }

    @Test func deterministicAndIndependentOfReportOrder() {
        for seed in Self.seeds.prefix(300) {
            let (input, policy) = Self.randomCase(seed: seed)
            var shuffled = input
            var random = SplitMix64(seed: seed ^ 0xFFFF)
            shuffled.reports.shuffle(using: &random)
            #expect(Placer.place(input, policy: policy) == Placer.place(input, policy: policy), "seed \(seed)")
            #expect(Placer.place(input, policy: policy) == Placer.place(shuffled, policy: policy), "seed \(seed)")
        }
    }

    @Test func irrelevantChangesDoNotMoveGroups() {
        for seed in Self.seeds.prefix(300) {
            var (input, policy) = Self.randomCase(seed: seed)
            policy.maintenance = false
            let before = Placer.place(input, policy: policy)
            // A node outside the membership changing its mind about standby or health is irrelevant.
            if let index = input.reports.firstIndex(where: { !input.members.contains($0.nodeID) }) {
                var changed = input
                changed.reports[index].standby.toggle()
                changed.reports[index].healthy.toggle()
                #expect(Placer.place(changed, policy: policy) == before, "seed \(seed)")
            }
            // Blocking a group on a node does not move other groups (outside its colocation component).
            if let index = input.reports.indices.first, let group = policy.groups.last,
                policy.groups.allSatisfy({ $0.colocatedWith.isEmpty && $0.startAfter.isEmpty })
            {
                var changed = input
                changed.reports[index].blockedGroups.insert(group.name)
                let after = Placer.place(changed, policy: policy)
                for other in policy.groups where other.name != group.name {
                    #expect(after.assignment(of: other.name) == before.assignment(of: other.name), "seed \(seed)")
                }
            }
        }
    }

    @Test func stickinessHoldsWithoutFailbackOrRequests() {
        for seed in Self.seeds.prefix(300) {
            var (input, policy) = Self.randomCase(seed: seed)
            policy.maintenance = false
            policy.quorumRequired = true
            input.quorate = true
            input.moveRequests = [:]
            for index in policy.groups.indices { policy.groups[index].failback = false }
            let placement = Placer.place(input, policy: policy)
            for assignment in placement.assignments where assignment.holder != nil {
                // If a single eligible live node held the group already, it still does.
                let holders = input.reports.filter {
                    input.members.contains($0.nodeID) && $0.holdings.contains(assignment.group)
                }
                if holders.count == 1, let only = holders.first, !only.standby, only.healthy,
                    only.blockedGroups.isEmpty, policy.groups.allSatisfy({ $0.colocatedWith.isEmpty })
                {
                    #expect(assignment.holder == only.name, "seed \(seed)")
                }
            }
        }
    }
}
