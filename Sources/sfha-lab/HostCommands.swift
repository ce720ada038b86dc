import ArgumentParser
import SFHABase
import SFHALab

struct ExecCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run a command inside a lab host; its exit code and output pass through.",
        discussion: """
            The command comes after --. sfha-lab's --name may stand before or after the host, but before --; \
            anything else there is refused. Example: sfha-lab exec --name sfha node1 -- corosync-quorumtool -s
            """)

    // Not LabNameOption: exec must tell a --name given before the host from the default.
    @Option(name: .long, help: "The lab's name (default \"\(LabSpec.defaultName)\"; may also follow the host).")
    var name: String?

    @Argument(help: "node1…nodeN or client.")
    var host: String

    // Everything after the host, unparsed: ArgumentParser stops at the first positional, so an option after the
    // host would otherwise reach the command (or be lost) and the default lab would be used. `invocation` sorts it.
    @Argument(parsing: .captureForPassthrough, help: "--, then the command and its arguments.")
    var command: [String] = []

    /// The lab and the command: `--name` is taken from before or after the host (before --), anything else there
    /// is refused, and the command is everything after the first --.
    func invocation() throws -> (lab: String, command: [String]) {
        let example = "e.g. sfha-lab exec --name LAB \(host) -- sfha status"
        guard let separator = command.firstIndex(of: "--") else {
            let words = command.isEmpty ? "" : "'\(command.joined(separator: " "))': "
            throw ValidationError("\(words)no command after --; put the command to run after -- (\(example))")
        }
        var given = name
        var words = command[..<separator][...]
        while let word = words.popFirst() {
            let value: String
            if word == "--name" {
                guard let next = words.popFirst() else { throw ValidationError("--name needs a lab name before --") }
                value = next
            } else if word.hasPrefix("--name=") {
                value = String(word.dropFirst("--name=".count))
            } else {
                throw ValidationError(
                    "'\(word)' is not an option of sfha-lab exec (only --name); put the command to run after -- (\(example))")
            }
            if let given, given != value { throw ValidationError("--name is given twice ('\(given)' and '\(value)'); give it once") }
            given = value
        }
        let argv = Array(command[(separator + 1)...])
        guard !argv.isEmpty else { throw ValidationError("no command to run: put it after -- (\(example))") }
        return (given ?? LabSpec.defaultName, argv)
    }

    func validate() throws {
        let (name, _) = try invocation()
        try LabNames.validateLabName(name)
    }

    func run() async throws {
        let (name, argv) = try invocation()
        let current = try Lab.load(name)
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
