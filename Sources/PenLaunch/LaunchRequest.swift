// What a user asked for when starting a VM or a session, as typed on the command line: nothing
// here is checked yet. The resolvers turn it, with the profile and the VM's record, into plans.

public struct LaunchRequest: Sendable {
    public var name: String
    public var profile: String?
    public var diskSize: String?
    public var cpus: Int?
    public var memory: String?
    /// nil: not given (auto, or what a running VM booted with).
    public var accel: String?
    public var directory: String?
    /// `--env K=V` (repeatable).
    public var environment: [String]
    /// `--env-from-host K` (repeatable).
    public var environmentFromHost: [String]
    /// `--publish H:G` (repeatable).
    public var publish: [String]
    /// The command; empty: a shell.
    public var command: [String]
    /// `pen exec -t`: the command on a pty.
    public var terminal: Bool
    /// `pen exec --workdir`.
    public var workdir: String?
    /// `pen vm start`: the VM runs with no session until stopped.
    public var detached: Bool
    /// `pen vm start --idle-timeout`.
    public var idleTimeout: String?
    /// `--cold`: boot the kernel, neither restoring nor saving a boot snapshot.
    public var cold: Bool
    /// `--network none|internet` (nil: the profile's, else internet).
    public var network: String?

    public init(name: String, profile: String? = nil, diskSize: String? = nil, cpus: Int? = nil, memory: String? = nil,
                accel: String? = nil, directory: String? = nil, environment: [String] = [],
                environmentFromHost: [String] = [], publish: [String] = [], command: [String] = [],
                terminal: Bool = false, workdir: String? = nil, detached: Bool = false, idleTimeout: String? = nil,
                cold: Bool = false, network: String? = nil) {
        self.cold = cold
        self.network = network
        self.name = name
        self.profile = profile
        self.diskSize = diskSize
        self.cpus = cpus
        self.memory = memory
        self.accel = accel
        self.directory = directory
        self.environment = environment
        self.environmentFromHost = environmentFromHost
        self.publish = publish
        self.command = command
        self.terminal = terminal
        self.workdir = workdir
        self.detached = detached
        self.idleTimeout = idleTimeout
    }
}
