// Everything about one boot, resolved: the supervisor's whole plan (which VM, booted with what
// resources, network, workspace, accelerator and QEMU user, kept how long, with which timeouts),
// what the VM gets if it is new, what to tell the user, and whether it boots cold. A plain value:
// the launcher only fills in what needs the disk (the image's paths, the snapshot found).
import PenCore
import PenWire
import ProfileBuilder

public struct LaunchPlan: Equatable, Sendable {
    /// What the supervisor boots. A user VM's image paths are empty until `use(_:)` fills them.
    public var supervisor: SupervisorPlan
    /// What the VM gets if it does not exist yet (nil: a builder VM, which has no disk or record).
    public var newVM: NewVM?
    /// Lines to show the user before the boot (the TCG fallback, slirp, a changed setup).
    public var notices: [String]
    /// Boot the kernel, neither restoring nor saving a snapshot (`--cold`, PEN_SNAPSHOT=0, a builder).
    public var cold: Bool

    public var spec: VMSpec { supervisor.spec }

    /// Boots this image.
    public mutating func use(_ image: BootImage) {
        supervisor.spec.kernelPath = image.kernelPath
        supervisor.spec.initrdPath = image.initrdPath
        supervisor.spec.rootImagePath = image.rootImagePath
    }

    /// Restores, or saves, the snapshot chosen (the state's descriptor stays the caller's to close).
    public mutating func use(_ choice: SnapshotChoice) {
        supervisor.spec.snapshot = choice.boot
        supervisor.spec.snapshotDescriptor = choice.state
        supervisor.snapshotKey = choice.key
    }
}

/// One session, resolved: what runs in the guest and how it meets the user.
public struct SessionPlan: Equatable, Sendable {
    public var request: SessionRequest
    public var io: SessionIO
}
