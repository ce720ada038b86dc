import ArgumentParser
import CorosyncKit
import Foundation
import Glibc
import SFHALab

/// Probes run *inside* a lab node (`sfha-lab exec NODE -- sfha-lab probe …`) and print JSON lines, one per event,
/// each stamped with CLOCK_MONOTONIC nanoseconds (`t`), the clock every probe and test on this machine shares.
struct ProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Measurement probes that run inside a lab node and print JSON lines.",
        subcommands: [ProcessGroupProbe.self, MembershipProbe.self, HTTPProbe.self])
}

/// Monotonic nanoseconds (CLOCK_MONOTONIC), comparable across processes on this machine.
func monotonicNanoseconds() -> UInt64 { LabClock.now() }

/// Prints one JSON object per line, flushed at once (the reader may be waiting for it).
func emit(_ fields: [String: Any]) {
    var object = fields
    object["t"] = monotonicNanoseconds()
    guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

struct ProcessGroupProbe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cpg",
        abstract: "Join a corosync process group, optionally send messages, and print what the group delivers.")

    @Option(help: "The process group to join.") var group: String
    @Option(help: "Messages to send after joining (payload: <prefix><index>).") var send = 0
    @Option(help: "Payload prefix of sent messages.") var prefix = "probe-"
    @Option(help: "Exit after this many messages were delivered (0: stay until killed).") var receive = 0
    @Option(help: "Wait until the group has this many members before sending.") var waitForMembers = 1
    @Option(help: "A message to send as is, after the numbered ones (repeatable; tests forge messages with it).")
    var payload: [String] = []

    func run() async throws {
        let member = try ProcessGroup(joining: group)
        emit(["event": "joined", "node": member.localMember.nodeID, "pid": member.localMember.pid])
        var delivered = 0
        var sent = false
        func startSending() async throws {
            guard !sent else { return }
            sent = true
            for index in 0..<send { try await member.send(Array("\(prefix)\(index)".utf8)) }
            for text in payload { try await member.send(Array(text.utf8)) }
            emit(["event": "sent", "count": send + payload.count])
        }
        for try await event in member.events {
            switch event {
            case .membership(let change):
                emit([
                    "event": "membership", "members": change.members.map(\.description),
                    "joined": change.joined.map { "\($0.member) \($0.reason.rawValue)" },
                    "left": change.left.map { "\($0.member) \($0.reason.rawValue)" },
                ])
                if change.members.count >= waitForMembers { try await startSending() }
            case .message(let from, let payload):
                delivered += 1
                emit(["event": "message", "from": from.description, "payload": String(decoding: payload, as: UTF8.self)])
                if receive > 0, delivered >= receive {
                    member.leave()
                    return
                }
            case .ring(let ring, let nodes):
                emit(["event": "ring", "ring": ring.description, "nodes": nodes])
            }
        }
    }
}

struct MembershipProbe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "membership",
        abstract: "Print this node's corosync membership and quorum events (ClusterMonitor) until killed.")

    func run() async throws {
        let monitor = ClusterMonitor()
        let runner = Task { await monitor.run() }
        defer { runner.cancel() }
        for await event in monitor.events {
            switch event {
            case .connected(let snapshot):
                emit(["event": "connected", "quorate": snapshot.quorate, "members": snapshot.onlineMembers.map(\.nodeID)])
            case .membershipChanged(let change, let snapshot):
                emit([
                    "event": "membership", "ring": change.ring.description, "members": change.members,
                    "joined": change.joined, "left": change.left, "quorate": snapshot.quorate,
                ])
            case .quorumChanged(let quorate, let snapshot):
                emit(["event": "quorum", "quorate": quorate, "members": snapshot.onlineMembers.map(\.nodeID)])
            case .votesChanged(let snapshot):
                emit(["event": "votes", "expected": snapshot.expectedVotes, "total": snapshot.totalVotes, "quorum": snapshot.quorum])
            case .nodeListChanged(let snapshot):
                emit(["event": "nodelist", "nodes": snapshot.members.map(\.nodeID)])
            case .connectionLost(let error):
                emit(["event": "lost", "error": error.description])
            }
        }
    }
}

struct HTTPProbe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http",
        abstract: "GET a URL at a fixed rate and print one JSON line per request (answer or failure) until killed.",
        discussion: """
            Run it in the client host (sfha-lab exec client -- sfha-lab probe http --url http://VIP:8080/) to see a \
            service through its VIP as a client does. Each line: t (answer or failure, CLOCK_MONOTONIC ns), start \
            (request sent), ok, answer (the body, trimmed) or error. Requests start every --interval-ms; one that \
            overruns delays the next, none overlap.
            """)

    @Option(help: "The URL to GET: http://IPv4[:port][/path].") var url: String
    @Option(name: .customLong("interval-ms"), help: "Time between request starts.") var intervalMilliseconds = 25
    @Option(name: .customLong("timeout-ms"), help: "Deadline of each request (connect + answer).") var timeoutMilliseconds = 200

    func validate() throws {
        guard (1...10_000).contains(intervalMilliseconds) else { throw ValidationError("--interval-ms must be 1…10000") }
        guard (1...60_000).contains(timeoutMilliseconds) else { throw ValidationError("--timeout-ms must be 1…60000") }
        _ = try target()
    }

    /// The address, port and path of an http:// URL with an IPv4 host.
    func target() throws -> (address: String, port: UInt16, path: String) {
        guard url.hasPrefix("http://") else { throw ValidationError("--url must start with http://") }
        let rest = url.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        let parts = authority.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !parts[0].isEmpty else { throw ValidationError("--url has no host") }
        let port = parts.count == 2 ? UInt16(parts[1]) : 80
        guard let port else { throw ValidationError("--url has an invalid port") }
        return (String(parts[0]), port, path.isEmpty ? "/" : String(path))
    }

    func run() async throws {
        let (address, port, path) = try target()
        let interval = UInt64(intervalMilliseconds) * 1_000_000
        var next = LabClock.now()
        while true {
            let start = LabClock.now()
            do {
                let answer = try LabHTTPClient.get(
                    address: address, port: port, path: path, timeout: .milliseconds(timeoutMilliseconds))
                let body = answer.body.trimmingCharacters(in: .whitespacesAndNewlines)
                if answer.status == 200 {
                    emit(["start": start, "ok": true, "answer": body])
                } else {
                    emit(["start": start, "ok": false, "error": "HTTP \(answer.status)"])
                }
            } catch {
                emit(["start": start, "ok": false, "error": error.message])
            }
            next += interval
            let now = LabClock.now()
            if next > now {
                try await Task.sleep(for: .nanoseconds(Int64(next - now)))
            } else {
                next = now  // overran: start the next request at once, and keep the rate from here
            }
        }
    }
}
