// What a user asked a VM to boot with, as typed on the command line (`pen shell`, `pen vm
// start`: the CLI's BootOptions): nothing here is checked yet. LaunchResolver turns it, with the
// profile and the VM's record, into a LaunchPlan; a running VM refuses the flags that differ.

public struct BootRequest: Sendable {
    public var name: String
    public var profile: String?
    public var diskSize: String?
    public var cpus: Int?
    public var memory: String?
    /// nil: not given (auto, or what a running VM booted with).
    public var accel: String?
    public var directory: String?
    /// `--publish H:G` (repeatable).
    public var publish: [String]
    /// `pen vm start`: the VM runs with no session until stopped.
    public var detached: Bool
    /// `pen vm start --idle-timeout`.
    public var idleTimeout: String?
    /// What the idle timeout does: "stop" (the default) or "suspend".
    public var onIdle: String?
    /// `--cold`: boot the kernel, neither restoring nor saving a boot snapshot.
    public var cold: Bool
    /// `--network public|allow|none|full` (nil: the profile's, else public).
    public var network: String?
    /// `--allow RULE` (repeatable): what `allow` lets the guest reach.
    public var allow: [String]

    public init(name: String, profile: String? = nil, diskSize: String? = nil, cpus: Int? = nil, memory: String? = nil,
                accel: String? = nil, directory: String? = nil, publish: [String] = [], detached: Bool = false,
                idleTimeout: String? = nil, cold: Bool = false, network: String? = nil, allow: [String] = [],
                onIdle: String? = nil) {
        self.onIdle = onIdle
        self.name = name
        self.profile = profile
        self.diskSize = diskSize
        self.cpus = cpus
        self.memory = memory
        self.accel = accel
        self.directory = directory
        self.publish = publish
        self.detached = detached
        self.idleTimeout = idleTimeout
        self.cold = cold
        self.network = network
        self.allow = allow
    }
}
