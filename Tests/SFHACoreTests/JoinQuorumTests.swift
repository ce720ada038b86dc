@testable import SFHACore
import SFHABase
import Testing

/// A join raises corosync's expected votes before the joiner runs: the members online must hold the new quorum alone.
@Suite("quorum kept through a join", .timeLimit(.minutes(1))) struct JoinQuorumTests {
    static func members(up: Int, down: Int) -> [(name: String, online: Bool)] {
        (0..<up).map { ("up\($0)", true) } + (0..<down).map { ("down\($0)", false) }
    }

    @Test(arguments: [(1, 0), (2, 0), (3, 0), (3, 1), (4, 1), (4, 2), (5, 2)])
    func allowedWhenTheOnlineMembersKeepQuorum(up: Int, down: Int) throws {
        try DaemonRuntime.checkQuorumAfterJoin(of: "new", members: Self.members(up: up, down: down))
    }

    @Test(arguments: [(1, 1), (2, 1), (1, 2), (2, 2), (3, 2), (2, 3), (3, 3)])
    func refusedWhenTheClusterWouldLoseQuorum(up: Int, down: Int) {
        #expect {
            try DaemonRuntime.checkQuorumAfterJoin(of: "new", members: Self.members(up: up, down: down))
        } throws: { error in
            let error = error as? SFHAError
            return error?.code == .notQuorate && error?.message.contains("down0") == true && error?.message.contains("nothing changed") == true
        }
    }
}
