// What a session runs and how it meets the user: a shell or a command, on a pty or on pipes,
// with its own environment, working directory and input. Pure, like the launch cascade.
import PenCore
import PenWire

public enum SessionResolver {
    /// `pen shell` (no command: a shell) and `pen exec` (a command; `-t` for a pty).
    public static func resolve(_ request: SessionOptions, host: LaunchHost) throws(PenError) -> SessionPlan {
        var environment = try SessionEnvironment.collect(pairs: request.environment, fromHost: request.environmentFromHost,
                                                         host: host.settings.environment)
        let stdinIsTerminal = host.stdinIsTerminal
        let shell = request.command.isEmpty
        // A shell gets the terminal when stdin is one; else pipes, like `ssh host < script`.
        let onTerminal = request.terminal || (shell && stdinIsTerminal)
        if onTerminal, let term = host.settings.term, !environment.contains(where: { $0.hasPrefix("TERM=") }) {
            environment.append("TERM=\(term)")
        }
        if let workdir = request.workdir, !workdir.hasPrefix("/") {
            throw PenError("invalid --workdir '\(workdir)'", fix: "give an absolute path in the VM, e.g. /workspace/src")
        }
        let session = SessionRequest(kind: shell ? .shell : .command, arguments: request.command, environment: environment,
                                     directory: request.workdir,
                                     terminal: onTerminal ? (host.terminalSize ?? .standard) : nil)
        // A command's input is forwarded from a pipe or file, not from the user's terminal
        // (unless it runs on a pty); a shell always reads it.
        let forward = shell || onTerminal || !stdinIsTerminal
        return SessionPlan(request: session, io: SessionIO(forwardInput: forward, terminal: onTerminal && stdinIsTerminal))
    }
}
