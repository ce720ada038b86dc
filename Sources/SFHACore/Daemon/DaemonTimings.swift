/// The daemon's timing rules, in one place. Docs/Daemon.md explains how they combine into the safety argument.
public enum DaemonTimings {
    /// Lifetime of a VIP that only a live sfhad, proven to be in its quorate ring, refreshes. The kernel removes an
    /// expired address by itself, so a VIP outlives a dead, hung or frozen daemon by at most the lease and the
    /// kernel's expiry slack.
    public static let vipLease: Duration = .seconds(1)
    /// How late after its lifetime the kernel may remove an expired address: its expiry work is rounded up to
    /// whole seconds, accepted up to a quarter of a second late, plus room for a busy machine.
    public static let leaseExpirySlack: Duration = .milliseconds(300)
    /// Four refreshes per lease: a stall shorter than three of them never lets a VIP expire.
    public static let leaseRefresh: Duration = .milliseconds(250)
    /// corosync's totem counters are read this often (`TotemActivityMonitor`).
    public static let totemPollInterval: Duration = .milliseconds(100)
    /// The longest pause of those readings while corosync forms and synchronises a new ring (they resume as soon as
    /// it delivers the ring; the limit only matters if no event ever comes).
    public static let totemPauseLimit: Duration = .seconds(5)
    /// Room for two readings and scheduling delays on top of the longest pause between two tokens in a healthy ring.
    public static let proofMargin: Duration = .milliseconds(300)
    /// Heartbeat: this node's report is re-published at this rate (it costs corosync a token rotation per message,
    /// so it is kept low: the proof of membership comes from corosync's counters, not from messages).
    public static let heartbeat: Duration = .seconds(2)
    /// How often sfhad re-reads what its machine has (interfaces, units) besides after every commit.
    public static let machineRefresh: Duration = .seconds(30)
    /// A peer still in the group but silent this long, while this daemon's own messages keep coming back, is hung.
    public static let silenceLimit: Duration = .seconds(5)
    /// A daemon whose own messages have not come back from the group for this long stops refreshing its VIPs: the
    /// others may declare it hung `silenceLimit` after its last message, and take over a lease window later.
    public static let ownEchoLimit: Duration = .seconds(4)
    /// The core loop must have beaten this recently for the VIPs to be refreshed (the stall watchdog ends the
    /// process a little later).
    public static let coreLoopLimit: Duration = .seconds(1)

    /// How long after it entered corosync's gather state a node's membership messages may take to reach the node
    /// that relays the token to an absent node (joins are repeated every 50 ms), and that node to stop relaying.
    public static let joinPropagation: Duration = .milliseconds(200)

    /// How long this node stays proven after the earliest instant its latest token may have arrived: the longest
    /// pause between tokens of a working ring at rest (corosync holds the token up to `tokenHold` when idle; a
    /// lost token is retransmitted sooner, and counted too) plus `proofMargin`. A longer pause does not remove a
    /// VIP at once: its lease, no longer extended, still runs for `vipLease`.
    public static func proofWindow(tokenHold: Duration) -> Duration {
        tokenHold + totemPollInterval * 2 + proofMargin
    }

    /// How long after its last token a node may still hold a VIP: its proof window, then a lease refreshed at the
    /// last moment, then the kernel's slack.
    public static func holderOverhang(proofWindow: Duration) -> Duration { proofWindow + vipLease + leaseExpirySlack }

    /// The window and overhang for corosync's defaults with a 1 s token on three nodes (hold 310 ms), until the real
    /// values are read from corosync.
    public static let defaultProofWindow = proofWindow(tokenHold: .milliseconds(310))
    public static let holderOverhang = holderOverhang(proofWindow: defaultProofWindow)
}
