import ArgumentParser
import PenLaunch

/// `--env` and `--env-from-host`, shared by `pen shell` and `pen exec`: what the session's
/// environment gets besides the guest's own.
struct EnvironmentOptions: ParsableArguments {
    @Option(name: .customLong("env"), help: ArgumentHelp("Set KEY=VALUE in the session's environment (repeatable).", valueName: "KEY=VALUE"))
    var pairs: [String] = []

    @Option(name: .customLong("env-from-host"), help: ArgumentHelp("Pass KEY's value from pen's environment (repeatable; keeps secrets off the command line).", valueName: "KEY"))
    var fromHost: [String] = []

    /// The session options for `command` with this environment.
    func session(_ command: [String], terminal: Bool = false, workdir: String? = nil) -> SessionOptions {
        SessionOptions(command: command, terminal: terminal, workdir: workdir, environment: pairs, environmentFromHost: fromHost)
    }
}
