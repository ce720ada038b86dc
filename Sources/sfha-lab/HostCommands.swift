import ArgumentParser
import SFHABase
import SFHALab

struct ExecCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run a command inside a lab host; its exit code and output pass through.",
        discussion: "Example: sfha-lab exec node1 -- corosync-quorumtool -s")

    @OptionGroup var lab: LabNameOption

    @Argument(help: "node1…nodeN or client.")
    var host: String

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).")
    var command: [String] = []

    func run() async throws {
        let current = try lab.load()
        let argv = command.first == "--" ? Array(command.dropFirst()) : command
        let target = try current.host(host)
        try replaceProcess(with: "nsenter", try current.nsenterArguments(target, argv))
    }
}

struct ShellCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shell", abstract: "Open an interactive bash inside a lab host (lab bin dir first on PATH).")

    @OptionGroup var lab: LabNameOption

    @Argument(help: "node1…nodeN or client.")
    var host: String

    func run() async throws {
        let current = try lab.load()
        let target = try current.host(host)
        try replaceProcess(
            with: "nsenter",
            try current.nsenterArguments(target, ["bash", "--rcfile", "\(current.binDirectory)/shellrc", "-i"]))
    }
}
