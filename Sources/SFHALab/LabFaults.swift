import Foundation
import SFHABase

#if canImport(Glibc)
import Glibc
#endif

/// Fault injection. Every fault is idempotent (applying it twice equals once) and reversible, and is recorded in
/// lab.json (`LabFaults`) so `status` shows it from any process.
///
/// - `isolate`/`rejoin`: the host's veth is set down on the bridge side — the cable is pulled. The node keeps its
///   address but loses carrier, so nothing gets in or out, and corosync sees a real loss of all peers (token
///   timeout, new membership) rather than a polite leave.
/// - `partition`/`heal`: nftables table `inet sfha_lab_partition` in each grouped host's namespace drops packets
///   to and from the other groups' addresses (input and output hooks), so the cut holds in both directions even if
///   one side's rules were missing. Hosts in no group are untouched.
/// - `dropIncoming`/`restoreIncoming`: nftables table `inet sfha_lab_drop_incoming` in the host's namespace drops
///   every incoming packet except on `lo`; the host can still send (and ARP still works, so its packets arrive).
/// - `netem`: `tc qdisc … netem` on the host's `eth0` (affects what the host sends). Kernels without netem
///   (this machine's) get packet loss from nftables (`inet sfha_lab_loss`, random drop on output) and a clear
///   error for delay.
extension Lab {
    static let partitionTable = "sfha_lab_partition"
    static let dropIncomingTable = "sfha_lab_drop_incoming"
    static let lossTable = "sfha_lab_loss"

    /// Sends `signal` to every process called `process` (kernel name or argv[0] basename) inside a host and, for
    /// TERM/KILL/INT, waits up to 5 s for them to exit. Returns the pids signalled; none running is not an error.
    @discardableResult
    public func kill(_ hostName: String, process: String = "corosync", signal: Int32 = SIGKILL) async throws(SFHAError)
        -> [Int32]
    {
        try LabNames.validateSimpleName(process, what: "process name")
        let targets = try processes(on: hostName).filter { ProcessTable.matches($0, name: process) }.map(\.pid)
        for pid in targets where Glibc.kill(pid, signal) != 0 && errno != ESRCH {
            let reason = String(cString: strerror(errno))
            throw SFHAError(
                .commandFailed, "cannot send signal \(signal) to \(process) (pid \(pid)) in \(hostName): \(reason)")
        }
        if [SIGTERM, SIGKILL, SIGINT].contains(signal) {
            _ = await ProcessTable.waitForExit(targets, timeout: .seconds(5))
        }
        return targets
    }

    /// Unplugs a host: its veth goes down on the bridge side.
    public func isolate(_ hostName: String) async throws(SFHAError) {
        let target = try host(hostName)
        try await runner.check("ip", ["link", "set", target.hostInterface, "down"])
        try recordFaults { faults in
            if !faults.isolated.contains(hostName) { faults.isolated.append(hostName) }
        }
    }

    /// Plugs an isolated host back in.
    public func rejoin(_ hostName: String) async throws(SFHAError) {
        let target = try host(hostName)
        try await runner.check("ip", ["link", "set", target.hostInterface, "up"])
        try recordFaults { faults in faults.isolated.removeAll { $0 == hostName } }
    }

    /// Cuts the lab into groups that cannot reach each other (e.g. `[["node1", "node2"], ["node3"]]`). Replaces any
    /// earlier partition.
    public func partition(_ groups: [[String]]) async throws(SFHAError) {
        guard groups.count >= 2, groups.allSatisfy({ !$0.isEmpty }) else {
            throw SFHAError(.invalidArgument, "a partition needs at least two non-empty groups of hosts (got \(groups))")
        }
        let flat = groups.flatMap { $0 }
        guard Set(flat).count == flat.count else {
            throw SFHAError(.invalidArgument, "a host may appear in only one partition group (got \(groups))")
        }
        var hostGroups: [String: Int] = [:]
        var addresses: [[String]] = []
        for (index, group) in groups.enumerated() {
            var groupAddresses: [String] = []
            for hostName in group {
                groupAddresses.append(try host(hostName).address)
                hostGroups[hostName] = index
            }
            addresses.append(groupAddresses)
        }
        for target in nodes + [clientHost] {
            if let group = hostGroups[target.name] {
                let blocked = addresses.enumerated().filter { $0.offset != group }.flatMap(\.element)
                    .joined(separator: ", ")
                try await applyNftables(on: target.name, table: Self.partitionTable, chains: [
                    "chain input { type filter hook input priority -10; policy accept; ip saddr { \(blocked) } drop; }",
                    "chain output { type filter hook output priority -10; policy accept; ip daddr { \(blocked) } drop; }",
                ])
            } else {
                try await applyNftables(on: target.name, table: Self.partitionTable, chains: nil)
            }
        }
        try recordFaults { faults in faults.partition = groups }
    }

    /// Undoes every network cut: partitions, dropped incoming traffic and isolation (netem stays; clear it with
    /// `clearNetem`).
    public func heal() async throws(SFHAError) {
        for target in nodes + [clientHost] {
            try await applyNftables(on: target.name, table: Self.partitionTable, chains: nil)
            try await applyNftables(on: target.name, table: Self.dropIncomingTable, chains: nil)
            try await runner.check("ip", ["link", "set", target.hostInterface, "up"])
        }
        try recordFaults { faults in
            faults.partition = nil
            faults.droppingIncoming = []
            faults.isolated = []
        }
    }

    /// The host receives nothing (except on loopback) but can still send.
    public func dropIncoming(_ hostName: String) async throws(SFHAError) {
        try await applyNftables(on: hostName, table: Self.dropIncomingTable, chains: [
            "chain input { type filter hook input priority -20; policy drop; iifname \"lo\" accept; }"
        ])
        try recordFaults { faults in
            if !faults.droppingIncoming.contains(hostName) { faults.droppingIncoming.append(hostName) }
        }
    }

    /// Undoes `dropIncoming`.
    public func restoreIncoming(_ hostName: String) async throws(SFHAError) {
        try await applyNftables(on: hostName, table: Self.dropIncomingTable, chains: nil)
        try recordFaults { faults in faults.droppingIncoming.removeAll { $0 == hostName } }
    }

    /// Delays and/or drops what a host sends. 0 ms and 0 % clears it.
    public func netem(_ hostName: String, delayMs: Int, lossPercent: Double) async throws(SFHAError) {
        let target = try host(hostName)
        guard (0...60_000).contains(delayMs), (0...100).contains(lossPercent) else {
            throw SFHAError(
                .invalidArgument,
                "netem for \(hostName): delay must be 0…60000 ms and loss 0…100 % (got \(delayMs) ms, \(lossPercent) %)")
        }
        if delayMs == 0 && lossPercent == 0 {
            try await clearNetem(hostName)
            return
        }
        let loss = lossPercent == lossPercent.rounded() ? String(Int(lossPercent)) : String(lossPercent)
        var mechanism = "tc netem"
        if SystemProgramRunner.resolve("tc") != nil {
            let result = try await exec(hostName, [
                "tc", "qdisc", "replace", "dev", target.interface, "root", "netem",
                "delay", "\(delayMs)ms", "loss", "\(loss)%",
            ])
            if !result.succeeded {
                let detail = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
                guard detail.contains("qdisc kind is unknown") else {
                    throw SFHAError(.commandFailed, "tc netem on \(hostName) failed: \(detail)")
                }
                mechanism = try await netemFallback(
                    hostName, delayMs: delayMs, loss: loss,
                    reason: "this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM is off; 'modprobe sch_netem' may help)")
            } else {
                // A loss rule from an earlier fallback would add to netem's loss.
                try await applyNftables(on: hostName, table: Self.lossTable, chains: nil)
            }
        } else {
            mechanism = try await netemFallback(
                hostName, delayMs: delayMs, loss: loss, reason: "'tc' is not installed (package iproute2)")
        }
        try recordFaults { faults in faults.netem[hostName] = "delay=\(delayMs)ms loss=\(loss)% via \(mechanism)" }
    }

    /// Loss without netem: nftables drops that share of outgoing packets at random. Delay cannot be emulated.
    private func netemFallback(_ hostName: String, delayMs: Int, loss: String, reason: String) async throws(SFHAError)
        -> String
    {
        guard delayMs == 0 else {
            throw SFHAError(
                .unavailable,
                "cannot delay packets of \(hostName): \(reason). "
                    + "Packet loss alone still works (netem --delay 0 --loss PCT)")
        }
        guard let percent = Double(loss), percent == percent.rounded() else {
            throw SFHAError(.invalidArgument, "without netem, loss must be a whole percentage (got \(loss) %)")
        }
        // numgen's "< 100" is out of range, so total loss is a plain drop.
        let match = percent >= 100 ? "" : "numgen random mod 100 < \(Int(percent)) "
        try await applyNftables(on: hostName, table: Self.lossTable, chains: [
            "chain output { type filter hook output priority -5; policy accept; oifname \"eth0\" \(match)drop; }"
        ])
        return "nftables random drop"
    }

    /// Removes netem (and its nftables fallback) from a host.
    public func clearNetem(_ hostName: String) async throws(SFHAError) {
        let target = try host(hostName)
        if SystemProgramRunner.resolve("tc") != nil {
            // Fails when no qdisc is set, which is the state we want.
            _ = try await exec(hostName, ["tc", "qdisc", "del", "dev", target.interface, "root"])
        }
        try await applyNftables(on: hostName, table: Self.lossTable, chains: nil)
        try recordFaults { faults in faults.netem[hostName] = nil }
    }

    /// Stops corosync in a node (through its systemctl stand-in: SIGTERM, SIGKILL after 15 s).
    public func stopCorosync(_ nodeName: String) async throws(SFHAError) {
        _ = try node(nodeName)
        try await check(nodeName, ["systemctl", "stop", "corosync"])
        try LabState.update(lab: name) { (state: inout LabState) throws(SFHAError) in
            state.corosyncPIDs[nodeName] = nil
        }
    }

    /// Starts corosync in a node (no-op when it runs) and records its pid.
    public func startCorosync(_ nodeName: String) async throws(SFHAError) {
        _ = try node(nodeName)
        try await check(nodeName, ["systemctl", "start", "corosync"])
        let pid = try corosyncPID(on: nodeName)
        try LabState.update(lab: name) { (state: inout LabState) throws(SFHAError) in
            state.corosyncPIDs[nodeName] = pid
        }
    }

    /// Replaces (or with `chains == nil` removes) one nftables table in a host's namespace, atomically: the
    /// "create, delete, define" idiom works whether or not the table exists.
    func applyNftables(on hostName: String, table: String, chains: [String]?) async throws(SFHAError) {
        var script = "table inet \(table)\ndelete table inet \(table)\n"
        if let chains {
            script += "table inet \(table) {\n" + chains.map { "    \($0)\n" }.joined() + "}\n"
        }
        let result = try await exec(
            hostName, ["nft", "-f", "/dev/stdin"], input: Array(script.utf8), timeout: .seconds(30))
        guard result.succeeded else {
            let action = chains == nil ? "removed" : "set"
            throw SFHAError(
                .commandFailed,
                "nftables table \(table) in \(hostName) of lab '\(name)' could not be \(action): "
                    + result.standardError.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    func recordFaults(_ change: (inout LabFaults) -> Void) throws(SFHAError) {
        try LabState.update(lab: name) { (state: inout LabState) throws(SFHAError) in
            change(&state.faults)
        }
    }
}
