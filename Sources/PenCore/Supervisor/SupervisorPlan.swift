// What a supervisor boots and how long it keeps the VM: handed to the supervisor process as
// JSON on an inherited pipe by the pen that starts it (never on a command line: nothing here is
// secret today, but the plan is no one else's business).
import Foundation
import PenWire

public struct SupervisorPlan: Codable, Sendable {
    public var spec: VMSpec
    /// The qemu-system-x86_64 the starting pen found.
    public var qemu: String
    public var boot: BootConfig
    /// Started with `pen vm start`: runs with no session until stopped (or idle).
    public var detached: Bool
    /// Seconds without a session after which a detached VM stops (nil: never).
    public var idleTimeout: Double?
    public var bootTimeout: Double
    /// A builder VM: where the root's tar from the archive port is written.
    public var archivePath: String?
    /// What the boot was made from, for `pen vm ls` and to refuse conflicting flags.
    public var facts: BootFacts

    public init(spec: VMSpec, qemu: String, boot: BootConfig, detached: Bool, idleTimeout: Double?, bootTimeout: Double,
                archivePath: String? = nil, facts: BootFacts) {
        self.spec = spec
        self.qemu = qemu
        self.boot = boot
        self.detached = detached
        self.idleTimeout = idleTimeout
        self.bootTimeout = bootTimeout
        self.archivePath = archivePath
        self.facts = facts
    }
}

/// The boot-time choices of a running VM that a later session cannot change.
public struct BootFacts: Codable, Equatable, Sendable {
    public var profile: String
    public var cpus: Int
    public var memoryMiB: Int
    public var workspace: String?
    public var published: [PublishedPort]
    public var accelerator: Accelerator

    public init(profile: String, cpus: Int, memoryMiB: Int, workspace: String?, published: [PublishedPort],
                accelerator: Accelerator) {
        self.profile = profile
        self.cpus = cpus
        self.memoryMiB = memoryMiB
        self.workspace = workspace
        self.published = published
        self.accelerator = accelerator
    }
}

/// What a supervisor says about its VM (`status`): `pen vm ls`, and a second session's checks.
public struct SupervisorStatus: Codable, Equatable, Sendable {
    public var pid: Int32
    public var startedAt: Date
    public var ready: Bool
    public var stopping: Bool
    public var detached: Bool
    public var sessions: Int
    public var facts: BootFacts
    /// The guest's boot stages (name, microseconds), for PEN_TIMINGS.
    public var stages: [String: UInt64]
}
