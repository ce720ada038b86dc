import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Failpoints: places where sfhad stops dead (as if killed) when the environment names them, so the lab can prove
/// that an operation interrupted there is completed by a re-run or `sfha propagate` (the way etcd's gofail and TiKV's
/// fail-rs test crash recovery). `SFHA_FAILPOINTS` is a comma-separated list of names; it is read once, and unset (the
/// normal case) nothing ever stops.
public enum Failpoint: String, Sendable, CaseIterable {
    /// A removal's coordinator, once every other member prepared corosync.conf, before the commit.
    case removalAfterPrepare = "removal-after-prepare"
    /// A removal's coordinator, once the removal is committed, before its reload.
    case removalAfterCommit = "removal-after-commit"

    public static let environmentVariable = "SFHA_FAILPOINTS"

    /// The failpoints this process was started with.
    public static let enabled: Set<Failpoint> = parse(ProcessInfo.processInfo.environment[environmentVariable])

    static func parse(_ text: String?) -> Set<Failpoint> {
        Set((text ?? "").split(separator: ",").compactMap { Failpoint(rawValue: $0.trimmingCharacters(in: .whitespaces)) })
    }

    /// Stops this process at once when `self` is enabled: no clean-up, no answer (what a SIGKILL leaves behind).
    func hit(_ logger: Logger) {
        guard Self.enabled.contains(self) else { return }
        let line = "failpoint \(rawValue) (\(Self.environmentVariable)): sfhad stops here, as if killed"
        logger.critical("\(line)")
        FileHandle.standardError.write(Data((line + "\n").utf8))  // the logger may not flush before _exit
        _exit(70)
    }
}
