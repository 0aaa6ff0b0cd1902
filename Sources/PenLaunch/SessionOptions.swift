// What a user asked one session to be (`pen shell`, `pen exec`), as typed: the command, its
// terminal, directory and environment. SessionResolver turns it into a SessionPlan.

public struct SessionOptions: Sendable {
    /// The command; empty: a shell.
    public var command: [String]
    /// `pen exec -t`: the command on a pty.
    public var terminal: Bool
    /// `pen exec --workdir`.
    public var workdir: String?
    /// `--env K=V` (repeatable).
    public var environment: [String]
    /// `--env-from-host K` (repeatable).
    public var environmentFromHost: [String]

    public init(command: [String] = [], terminal: Bool = false, workdir: String? = nil, environment: [String] = [],
                environmentFromHost: [String] = []) {
        self.command = command
        self.terminal = terminal
        self.workdir = workdir
        self.environment = environment
        self.environmentFromHost = environmentFromHost
    }
}
