import CorosyncKit
import Foundation
import SFHABase
import Synchronization

/// A VIP the watcher follows: its name (as in sfha's configuration) and its address as the kernel prints it.
public struct WatchedVIP: Sendable, Hashable, Codable {
    public var name: String
    public var address: String

    public init(name: String, address: String) {
        self.name = name
        self.address = address
    }
}

/// Watches a lab running sfhad from the outside and records what the safety rules forbid:
///
/// - **two holders**: a VIP present on two nodes in the same sample;
/// - **held without quorum**: a VIP present on a node that has been without quorum for longer than
///   `releaseBound`.
///
/// How it sees the lab:
/// - **VIPs, sampled** every `interval` (~20 ms): an RTM_GETADDR dump of `eth0` inside each node's network
///   namespace (`LabAddressReader`), from this process. The samples are what the two counts are made of.
/// - **VIPs, as events**: the kernel's address announcements in each node (`LabAddressEvents`), stamped when read.
///   They give exact appear/disappear times (the benchmark's latencies) and an event-based overlap check that
///   catches a double holding shorter than the sampling interval.
/// - **Quorum, as events**: one `ClusterMonitor` per node, connected to that node's corosync through
///   `lab.corosyncEndpoint` — the same events sfhad follows. A node whose corosync is down or unreachable counts as
///   not quorate from the moment its connection is lost (or, at start, from the moment connecting failed).
///
/// Why a release bound rather than zero: the watcher and the node's sfhad receive the same corosync quorum event at
/// the same moment, in two processes. sfhad still has to decide and remove the VIP (one netlink request), so right
/// after the event a sample can legitimately see the VIP on a node the watcher already knows is without quorum.
/// 20 ms is sfhad's target for quorum loss → VIP removed (p99); a VIP still there after that is a violation.
public final class LabWatcher: Sendable {
    public enum QuorumState: Sendable, Equatable {
        /// No event yet from this node's corosync (the watcher is connecting).
        case unknown
        case quorate(since: UInt64)
        case notQuorate(since: UInt64)

        public var isQuorate: Bool { if case .quorate = self { true } else { false } }
    }

    /// One sample: which nodes held each VIP, and each node's quorum as the watcher knew it then.
    public struct Sample: Sendable {
        public var time: UInt64
        /// VIP name → nodes holding it (sorted).
        public var holders: [String: [String]]
        public var quorum: [String: QuorumState]

        /// The nodes holding `vip` in this sample.
        public func holders(of vip: String) -> [String] { holders[vip] ?? [] }
    }

    /// A node's quorum changed (or its corosync connection was lost: `quorate` false, `connectionLost` true).
    public struct QuorumChange: Sendable {
        public var time: UInt64
        public var node: String
        public var quorate: Bool
        public var connectionLost: Bool
    }

    /// A corosync membership change as one node saw it (node ids).
    public struct MembershipRecord: Sendable {
        public var time: UInt64
        public var node: String
        public var members: [UInt32]
        public var joined: [UInt32]
        public var left: [UInt32]
    }

    /// A VIP appeared on or disappeared from a node (from the kernel's announcements).
    public struct VIPChange: Sendable {
        public var time: UInt64
        public var node: String
        public var vip: String
        public var present: Bool
    }

    public struct HeldWithoutQuorum: Sendable, CustomStringConvertible {
        public var time: UInt64
        public var node: String
        public var vip: String
        /// How long the node had been without quorum when the VIP was seen on it.
        public var withoutQuorumMilliseconds: Double

        public var description: String {
            "\(vip) on \(node) \(String(format: "%.1f", withoutQuorumMilliseconds)) ms after it lost quorum"
        }
    }

    private struct State {
        var samples: [Sample] = []
        var quorum: [String: QuorumState]
        var members: [String: [UInt32]] = [:]
        var quorumChanges: [QuorumChange] = []
        var membershipRecords: [MembershipRecord] = []
        var vipChanges: [VIPChange] = []
        var heldWithoutQuorum: [HeldWithoutQuorum] = []
        var samplingError: String?
    }

    public let lab: Lab
    public let vips: [WatchedVIP]
    public let interval: Duration
    public let releaseBound: Duration
    private let state: Mutex<State>
    private let readers: [String: LabAddressReader]
    private let addressEvents: Mutex<[LabAddressEvents]>
    private let tasks: Mutex<[Task<Void, Never>]>

    private init(lab: Lab, vips: [WatchedVIP], interval: Duration, releaseBound: Duration) throws(SFHAError) {
        self.lab = lab
        self.vips = vips
        self.interval = interval
        self.releaseBound = releaseBound
        var readers: [String: LabAddressReader] = [:]
        for node in lab.nodes {
            readers[node.name] = try LabAddressReader(namespacePath: "/run/netns/\(node.networkNamespace)")
        }
        self.readers = readers
        self.state = Mutex(State(quorum: Dictionary(uniqueKeysWithValues: lab.nodes.map { ($0.name, .unknown) })))
        self.addressEvents = Mutex([])
        self.tasks = Mutex([])
    }

    /// Starts watching: connects to every node's corosync and waits (up to `connectTimeout`) until each one has
    /// reported its quorum or its connection failure, so the first samples already know every node's quorum.
    static let firstEventTimeout: Duration = .seconds(20)

    public static func start(
        lab: Lab, vips: [WatchedVIP], interval: Duration = .milliseconds(20), releaseBound: Duration = .milliseconds(20),
        connectTimeout: Duration = .seconds(10)
    ) async throws(SFHAError) -> LabWatcher {
        let watcher = try LabWatcher(lab: lab, vips: vips, interval: interval, releaseBound: releaseBound)
        try watcher.startAddressEvents()
        try watcher.startQuorumMonitors()
        let clock = ContinuousClock()
        let deadline = clock.now + connectTimeout
        while watcher.state.withLock({ $0.quorum.values.contains(.unknown) }), clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        watcher.startSampling()
        return watcher
    }

    private func startAddressEvents() throws(SFHAError) {
        let addressToVIP = Dictionary(vips.map { ($0.address, $0.name) }, uniquingKeysWith: { first, _ in first })
        var started: [LabAddressEvents] = []
        for node in lab.nodes {
            let nodeName = node.name
            do {
                started.append(try LabAddressEvents(namespacePath: "/run/netns/\(node.networkNamespace)") { [self] change in
                    guard let vip = addressToVIP[change.address] else { return }
                    state.withLock {
                        $0.vipChanges.append(VIPChange(time: change.time, node: nodeName, vip: vip, present: change.present))
                    }
                })
            } catch {
                started.forEach { $0.stop() }
                throw error
            }
        }
        addressEvents.withLock { $0 = started }
    }

    private func startQuorumMonitors() throws(SFHAError) {
        var started: [Task<Void, Never>] = []
        for node in lab.nodes {
            // The watcher must not stay blind to a node whose first connection never got an answer (seen once after
            // a corosync kill); a long membership synchronisation only makes it reconnect.
            let monitor = ClusterMonitor(endpoint: try lab.corosyncEndpoint(node.name), firstEventTimeout: Self.firstEventTimeout)
            let nodeName = node.name
            started.append(Task { [self] in
                let runner = Task { await monitor.run() }
                defer { runner.cancel() }
                for await event in monitor.events {
                    let time = LabClock.now()
                    if case .membershipChanged(let change, _) = event {
                        state.withLock {
                            $0.membershipRecords.append(MembershipRecord(
                                time: time, node: nodeName, members: change.members, joined: change.joined, left: change.left))
                        }
                    }
                    let quorate: Bool
                    let lost: Bool
                    if case .connectionLost = event {
                        (quorate, lost) = (false, true)
                    } else if let snapshot = event.snapshot {
                        (quorate, lost) = (snapshot.quorate, false)
                        state.withLock { $0.members[nodeName] = snapshot.onlineMembers.map(\.nodeID) }
                    } else {
                        continue
                    }
                    state.withLock { state in
                        if lost { state.members[nodeName] = [] }
                        let previous = state.quorum[nodeName] ?? .unknown
                        guard previous == .unknown || previous.isQuorate != quorate else { return }
                        state.quorum[nodeName] = quorate ? .quorate(since: time) : .notQuorate(since: time)
                        state.quorumChanges.append(QuorumChange(time: time, node: nodeName, quorate: quorate, connectionLost: lost))
                    }
                }
            })
        }
        tasks.withLock { $0.append(contentsOf: started) }
    }

    private func startSampling() {
        let task = Task { [self] in
            while !Task.isCancelled {
                takeSample()
                try? await Task.sleep(for: interval)
            }
        }
        tasks.withLock { $0.append(task) }
    }

    private func takeSample() {
        let time = LabClock.now()
        var holders: [String: [String]] = [:]
        var quorumSeen: [String: QuorumState] = [:]
        var violations: [HeldWithoutQuorum] = []
        let bound = releaseBound.labNanoseconds
        for node in lab.nodes {
            // Quorum is read before the addresses: a VIP seen afterwards was still there at least this late.
            let quorum = state.withLock { $0.quorum[node.name] ?? .unknown }
            quorumSeen[node.name] = quorum
            let readAt = LabClock.now()
            let addresses: Set<String>
            do {
                addresses = try readers[node.name]!.addresses()
            } catch {
                state.withLock { $0.samplingError = "\(node.name): \(error)" }
                continue
            }
            for vip in vips where addresses.contains(vip.address) {
                holders[vip.name, default: []].append(node.name)
                if case .notQuorate(let since) = quorum, readAt > since, readAt - since > bound {
                    violations.append(HeldWithoutQuorum(
                        time: readAt, node: node.name, vip: vip.name,
                        withoutQuorumMilliseconds: LabClock.milliseconds(from: since, to: readAt)))
                }
            }
        }
        let sample = Sample(time: time, holders: holders.mapValues { $0.sorted() }, quorum: quorumSeen)
        state.withLock {
            $0.samples.append(sample)
            $0.heldWithoutQuorum.append(contentsOf: violations)
        }
    }

    /// Stops sampling, the corosync monitors and the address announcement readers.
    public func stop() {
        tasks.withLock { tasks in
            tasks.forEach { $0.cancel() }
            tasks = []
        }
        addressEvents.withLock { events in
            events.forEach { $0.stop() }
            events = []
        }
    }

    // MARK: - Reading what was seen

    /// The latest sample (nil before the first one).
    public var latest: Sample? { state.withLock { $0.samples.last } }

    /// Each node's quorum as the watcher knows it now.
    public var quorum: [String: QuorumState] { state.withLock { $0.quorum } }

    /// Each node's online members (node ids) as its corosync last reported them; empty while disconnected.
    public var members: [String: [UInt32]] { state.withLock { $0.members } }

    /// Waits for a sample taken after this call that satisfies `condition`; nil after `timeout`.
    public func waitForSample(timeout: Duration, until condition: (Sample) -> Bool) async -> Sample? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var seen = state.withLock { $0.samples.count }
        while clock.now < deadline {
            try? await Task.sleep(for: interval)
            let fresh = state.withLock { Array($0.samples[seen...]) }
            seen += fresh.count
            if let match = fresh.first(where: condition) { return match }
        }
        return nil
    }

    /// Waits until `vip` is on exactly one node (in `allowed`, when given) and stays on that node for `stable`;
    /// returns that node, or nil after `timeout`.
    public func waitForSingleHolder(
        of vip: String, among allowed: Set<String>? = nil, stable: Duration = .zero, timeout: Duration
    ) async -> String? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            let remaining = deadline - clock.now
            guard let sample = await waitForSample(timeout: remaining, until: { sample in
                let holders = sample.holders(of: vip)
                return holders.count == 1 && (allowed?.contains(holders[0]) ?? true)
            }) else { return nil }
            let holder = sample.holders(of: vip)[0]
            if stable == .zero { return holder }
            let moved = await waitForSample(timeout: stable) { $0.holders(of: vip) != [holder] }
            if moved == nil { return holder }
        }
        return nil
    }

    /// Waits until every node in `nodes` is quorate with `members` online members (the watcher's corosync view).
    public func waitForQuorum(of nodes: [String], members count: Int, timeout: Duration) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            let (quorum, members) = state.withLock { ($0.quorum, $0.members) }
            if nodes.allSatisfy({ quorum[$0]?.isQuorate == true && members[$0]?.count == count }) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// Everything seen from `start` (a `LabClock.now()` value) until now.
    public func report(since start: UInt64 = 0) -> LabWatchReport {
        let end = LabClock.now()
        return state.withLock { state in
            LabWatchReport(
                from: max(start, state.samples.first?.time ?? start), to: end, vips: vips.map(\.name), nodes: lab.nodes.map(\.name),
                samples: state.samples.filter { $0.time >= start },
                heldWithoutQuorum: state.heldWithoutQuorum.filter { $0.time >= start },
                vipChanges: state.vipChanges.filter { $0.time >= start },
                quorumChanges: state.quorumChanges.filter { $0.time >= start },
                membershipRecords: state.membershipRecords.filter { $0.time >= start },
                vipsAtStart: Self.presence(before: start, changes: state.vipChanges, samples: state.samples),
                samplingError: state.samplingError)
        }
    }

    /// Which (node, VIP) pairs were present just before `start`, from the announcements (or, before the first
    /// announcement of a pair, from the last sample before `start`).
    private static func presence(before start: UInt64, changes: [VIPChange], samples: [Sample]) -> Set<LabWatchReport.Holding> {
        var present = Set<LabWatchReport.Holding>()
        if let sample = samples.last(where: { $0.time < start }) {
            for (vip, nodes) in sample.holders { for node in nodes { present.insert(.init(node: node, vip: vip)) } }
        }
        for change in changes where change.time < start {
            let holding = LabWatchReport.Holding(node: change.node, vip: change.vip)
            if change.present { present.insert(holding) } else { present.remove(holding) }
        }
        return present
    }
}

/// What a `LabWatcher` saw over a stretch of time, and the two safety counts.
public struct LabWatchReport: Sendable, CustomStringConvertible {
    public struct Holding: Sendable, Hashable {
        public var node: String
        public var vip: String
    }

    /// Two nodes holding one VIP at once according to the kernel's announcements.
    public struct Overlap: Sendable, CustomStringConvertible {
        public var vip: String
        public var nodes: [String]
        public var from: UInt64
        public var milliseconds: Double

        public var description: String {
            "\(vip) on \(nodes.joined(separator: " and ")) for \(String(format: "%.1f", milliseconds)) ms"
        }
    }

    public var from: UInt64
    public var to: UInt64
    public var vips: [String]
    public var nodes: [String]
    public var samples: [LabWatcher.Sample]
    public var heldWithoutQuorum: [LabWatcher.HeldWithoutQuorum]
    public var vipChanges: [LabWatcher.VIPChange]
    public var quorumChanges: [LabWatcher.QuorumChange]
    public var membershipRecords: [LabWatcher.MembershipRecord]
    /// The (node, VIP) pairs present when the report starts, so overlaps spanning its start are seen.
    public var vipsAtStart: Set<Holding>
    /// The last error reading a node's addresses, if any (a sample then lacks that node).
    public var samplingError: String?

    /// Samples in which some VIP was on two or more nodes.
    public var dualHolderSamples: [LabWatcher.Sample] {
        samples.filter { sample in sample.holders.values.contains { $0.count > 1 } }
    }

    /// Double holdings computed from the exact announcement times (a stretch shorter than the sampling interval
    /// shows here even when no sample caught it).
    public var eventOverlaps: [Overlap] {
        var present = vipsAtStart
        var overlaps: [Overlap] = []
        var openSince: [String: (nodes: [String], time: UInt64)] = [:]
        func check(_ vip: String, at time: UInt64) {
            let holders = present.filter { $0.vip == vip }.map(\.node).sorted()
            if holders.count > 1 {
                if openSince[vip] == nil { openSince[vip] = (holders, time) }
            } else if let open = openSince.removeValue(forKey: vip) {
                overlaps.append(Overlap(
                    vip: vip, nodes: open.nodes, from: open.time, milliseconds: LabClock.milliseconds(from: open.time, to: time)))
            }
        }
        for vip in vips { check(vip, at: from) }
        for change in vipChanges.sorted(by: { $0.time < $1.time }) {
            let holding = Holding(node: change.node, vip: change.vip)
            if change.present { present.insert(holding) } else { present.remove(holding) }
            check(change.vip, at: change.time)
        }
        for (vip, open) in openSince {
            overlaps.append(Overlap(vip: vip, nodes: open.nodes, from: open.time, milliseconds: LabClock.milliseconds(from: open.time, to: to)))
        }
        return overlaps
    }

    /// The holders of `vip` in the last sample.
    public func finalHolders(of vip: String) -> [String] { samples.last?.holders(of: vip) ?? [] }

    /// When `vip` first appeared on `node` after `time` (from the announcements).
    public func appeared(_ vip: String, on node: String, after time: UInt64) -> UInt64? {
        vipChanges.first { $0.vip == vip && $0.node == node && $0.present && $0.time >= time }?.time
    }

    /// When `vip` first disappeared from `node` after `time` (from the announcements).
    public func disappeared(_ vip: String, from node: String, after time: UInt64) -> UInt64? {
        vipChanges.first { $0.vip == vip && $0.node == node && !$0.present && $0.time >= time }?.time
    }

    /// When `node` first lost quorum (or its corosync connection) after `time`.
    public func quorumLost(on node: String, after time: UInt64) -> UInt64? {
        quorumChanges.first { $0.node == node && !$0.quorate && $0.time >= time }?.time
    }

    /// When `observer` first saw a membership without node `nodeID` after `time`.
    public func membershipLost(_ nodeID: UInt32, seenBy observer: String, after time: UInt64) -> UInt64? {
        membershipRecords.first { $0.node == observer && $0.left.contains(nodeID) && $0.time >= time }?.time
    }

    public var description: String {
        let seconds = LabClock.milliseconds(from: from, to: to) / 1000
        var text = "\(samples.count) samples over \(String(format: "%.1f", seconds)) s: "
            + "\(dualHolderSamples.count) with two holders, \(heldWithoutQuorum.count) held without quorum, "
            + "\(eventOverlaps.count) overlaps in the announcements"
        if let first = dualHolderSamples.first { text += "; first dual sample: \(first.holders)" }
        if let first = heldWithoutQuorum.first { text += "; first held without quorum: \(first)" }
        if let overlap = eventOverlaps.first { text += "; first overlap: \(overlap)" }
        if let samplingError { text += "; sampling error: \(samplingError)" }
        return text
    }
}
