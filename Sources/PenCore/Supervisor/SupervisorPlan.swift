// What a supervisor boots and how long it keeps the VM: handed to the supervisor process as
// JSON on an inherited pipe by the pen that starts it (never on a command line: nothing here is
// secret today, but the plan is no one else's business).
import Foundation
import PenWire

public struct SupervisorPlan: Codable, Equatable, Sendable {
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
    /// The most archive bytes the guest may send (nil: no archive port).
    public var archiveLimit: UInt64?
    /// Past this, the supervisor empties the boot log (a guest can write its console forever).
    public var bootLogLimit: UInt64 = SupervisorPlan.defaultBootLogLimit
    public static let defaultBootLogLimit: UInt64 = 16 << 20
    /// Past this, the supervisor's own log (supervisor.log) says so once and takes no more.
    public var logLimit: UInt64 = SupervisorPlan.defaultLogLimit
    public static let defaultLogLimit: UInt64 = 16 << 20
    /// A profile's root as the builder VM sends it (PEN_MAX_ROOT_SIZE changes it): the host
    /// reads it whole into memory to write the root image.
    public static let defaultArchiveLimit: UInt64 = 8 << 30
    /// What the boot was made from, for `pen vm ls` and to refuse conflicting flags.
    public var facts: BootFacts
    /// Where boot snapshots live (set when the spec restores or saves one).
    public var snapshotStore: String?
    /// What the snapshot to save depends on, recorded beside it.
    public var snapshotKey: SnapshotKey?
    /// With `public` or `allow`: what the relay on `pen.net` decides by (nil: no relay).
    public var relay: RelayPlan?
    /// `--on-idle suspend`: the idle timeout suspends the VM instead of stopping it.
    public var suspendWhenIdle = false
    /// A user VM's directory, where `pen vm suspend` saves its machine (nil: a builder, never suspended).
    public var suspendStore: String?
    /// What this VM's machine is (images, QEMU, shape): recorded with a suspend, compared on resume.
    public var machineKey: SnapshotKey?

    public init(spec: VMSpec, qemu: String, boot: BootConfig, detached: Bool, idleTimeout: Double?, bootTimeout: Double,
                archivePath: String? = nil, facts: BootFacts, snapshotStore: String? = nil, snapshotKey: SnapshotKey? = nil) {
        self.snapshotStore = snapshotStore
        self.snapshotKey = snapshotKey
        self.spec = spec
        self.qemu = qemu
        self.boot = boot
        self.detached = detached
        self.idleTimeout = idleTimeout
        self.bootTimeout = bootTimeout
        self.archivePath = archivePath
        self.archiveLimit = archivePath == nil ? nil : Self.defaultArchiveLimit
        self.facts = facts
    }
}

/// What the supervisor's network relay decides by, and where it keeps its record.
public struct RelayPlan: Codable, Equatable, Sendable {
    public var policy: NetworkPolicy
    /// network.log: one JSON line per decision, capped.
    public var logPath: String
    /// Host ports forwarded to the guest's (`--publish`): streams the supervisor opens inbound.
    public var published: [PublishedPort]
    /// PEN_TEST_PUBLIC_BENCHMARKING: 198.18.0.0/15 counts as public (tests' namespaced servers).
    public var benchmarkingIsPublic: Bool
    /// The VM's vm.json, where `pen vm net NAME allow|deny` keeps the rules for its next boot
    /// (nil: a builder VM, which has none).
    public var recordPath: String?

    public init(policy: NetworkPolicy, logPath: String, published: [PublishedPort] = [], benchmarkingIsPublic: Bool = false) {
        self.policy = policy
        self.logPath = logPath
        self.published = published
        self.benchmarkingIsPublic = benchmarkingIsPublic
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
    /// nil from a supervisor older than --network.
    public var network: NetworkMode?
    /// What `allow` lets through (nil in the other modes).
    public var allow: [NetworkRule]?

    public init(profile: String, cpus: Int, memoryMiB: Int, workspace: String?, published: [PublishedPort],
                accelerator: Accelerator, network: NetworkMode? = nil) {
        self.network = network
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
    /// How it started: "cold", "restored", "cold, snapshot saved" (nil from an older supervisor).
    public var boot: String?

    public init(pid: Int32, startedAt: Date, ready: Bool, stopping: Bool, detached: Bool, sessions: Int, facts: BootFacts,
                stages: [String: UInt64], boot: String? = nil) {
        self.pid = pid
        self.startedAt = startedAt
        self.ready = ready
        self.stopping = stopping
        self.detached = detached
        self.sessions = sessions
        self.facts = facts
        self.stages = stages
        self.boot = boot
    }
}
