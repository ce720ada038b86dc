import ArgumentParser
import SFHABase
import SFHALab

/// `--name LAB`, shared by every subcommand.
struct LabNameOption: ParsableArguments {
    @Option(name: .long, help: "The lab's name (a lowercase letter, then up to 10 of a-z 0-9 -).")
    var name: String = LabSpec.defaultName

    func load() throws(SFHAError) -> Lab {
        try Lab.load(name)
    }
}

/// Resolves a program in PATH and replaces this process with it (so exit codes, output and terminals pass
/// straight through). Returns only by throwing.
func replaceProcess(with program: String, _ arguments: [String]) throws(SFHAError) -> Never {
    guard let path = SystemProgramRunner.resolve(program) else {
        throw SFHAError(.notFound, "'\(program)' was not found in PATH; install util-linux")
    }
    let argv = ([program] + arguments).map { strdup($0) } + [nil]
    // This runs on a Swift concurrency thread, which blocks most signals, and execv keeps the mask: the command
    // would ignore SIGTERM (and `down` would need SIGKILL). It gets the empty mask a shell would give it.
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    pthread_sigmask(SIG_SETMASK, &noSignals, nil)
    execv(path, argv)
    let reason = String(cString: strerror(errno))
    throw SFHAError(.commandFailed, "could not run \(path): \(reason)")
}

#if canImport(Glibc)
import Glibc
#endif
