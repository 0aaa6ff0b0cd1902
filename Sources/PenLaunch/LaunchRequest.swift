// What a user asked for when starting a VM, as typed on the command line: nothing here is
// checked yet. LaunchResolver turns it, with the profile and the VM's record, into a plan.

public struct LaunchRequest: Sendable {
    public var name: String
    public var profile: String?
    public var diskSize: String?
    public var cpus: Int?
    public var memory: String?
    public var accel: String
    public var directory: String?
    /// `--env K=V` (repeatable).
    public var environment: [String]
    /// `--env-from-host K` (repeatable).
    public var environmentFromHost: [String]
    /// `--publish H:G` (repeatable).
    public var publish: [String]
    /// The command; empty: an interactive shell.
    public var command: [String]

    public init(name: String, profile: String? = nil, diskSize: String? = nil, cpus: Int? = nil, memory: String? = nil,
                accel: String = "auto", directory: String? = nil, environment: [String] = [],
                environmentFromHost: [String] = [], publish: [String] = [], command: [String] = []) {
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
    }
}
