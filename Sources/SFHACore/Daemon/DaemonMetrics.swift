import CoreMetrics

/// sfhad's metrics, through swift-metrics (sfhad bootstraps a Prometheus backend and serves the text format on
/// `GET /metrics`; without a bootstrapped backend these are no-ops, as in tests).
final class DaemonMetrics: Sendable {
    private let quorate = Gauge(label: "sfha_quorate")
    private let members = Gauge(label: "sfha_corosync_members")
    private let daemons = Gauge(label: "sfha_daemons_alive")
    private let revision = Gauge(label: "sfha_configuration_revision")
    private let groupsHeld = Gauge(label: "sfha_groups_held")
    private let placementChanges = Counter(label: "sfha_placement_changes_total")
    private let messagesSent = Counter(label: "sfha_cpg_messages_sent_total")
    private let messagesReceived = Counter(label: "sfha_cpg_messages_received_total")

    func observe(view: ClusterView, configurationRevision: UInt64) {
        quorate.record(view.quorate ? 1 : 0)
        members.record(view.members.count)
        daemons.record(Self.daemonsAlive(view))
        revision.record(Int64(clamping: configurationRevision))
    }

    /// Daemons alive as this node sees them now: in its corosync membership and in the sfha process group. A report
    /// kept from a node that left (or from before an isolation) is not a live daemon.
    static func daemonsAlive(_ view: ClusterView) -> Int {
        view.reports.values.filter { view.members.contains($0.nodeID) && view.daemons.contains($0.nodeID) }.count
    }

    func held(groups: Int) { groupsHeld.record(groups) }
    func placementChanged() { placementChanges.increment() }
    func messageSent() { messagesSent.increment() }
    func messageReceived() { messagesReceived.increment() }

    func reconcileAction(_ action: ReconcileAction) {
        let outcome: String =
            switch action.outcome {
            case .done: "done"
            case .unchanged: "unchanged"
            case .skipped: "skipped"
            case .refused: "refused"
            case .failed: "failed"
            }
        Counter(label: "sfha_reconcile_actions_total", dimensions: [("kind", action.kind.rawValue), ("outcome", outcome)]).increment()
        Timer(label: "sfha_reconcile_action_duration_seconds", dimensions: [("kind", action.kind.rawValue)])
            .recordNanoseconds(action.duration.nanosecondsClamped)
    }

    func healthEvent(_ event: HealthEvent) {
        Counter(label: "sfha_health_check_transitions_total", dimensions: [("check", event.check), ("kind", event.kind.rawValue)])
            .increment()
    }
}
