// Everything about one boot, resolved: which VM, made how if it is new, booted with what
// resources, network, workspace and accelerator, kept how long, with which timeouts. A plain
// value: the launcher only carries it out.
import PenCore
import PenWire

public struct LaunchPlan: Equatable, Sendable {
    public var name: VMName
    public var profile: String
    /// What the VM gets if it does not exist yet.
    public var newVM: NewVM
    /// This boot's resources (an existing VM keeps its record's unless a flag says otherwise).
    public var cpus: Int
    public var memoryMiB: Int
    public var accelerator: Accelerator
    public var kernelArguments: [String]
    public var network: NetworkBackend
    public var workspace: String?
    /// The workspace keeps the guest's owners, modes and device nodes as metadata only (pen runs
    /// as root, so QEMU does: see VMSpec.workspaceMapped).
    public var workspaceMapped = false
    public var boot: BootConfig
    public var bootTimeout: Double
    /// Started with `pen vm start` (else it stops with its last session).
    public var detached: Bool
    public var idleTimeout: Double?
    /// Lines to show the user before the boot (the TCG fallback, slirp, a changed setup).
    public var notices: [String]

    public var facts: BootFacts {
        let ports: [PublishedPort]
        switch network {
        case .passt(_, let p, _), .slirp(let p): ports = p
        case .none: ports = []
        }
        return BootFacts(profile: profile, cpus: cpus, memoryMiB: memoryMiB, workspace: workspace, published: ports,
                         accelerator: accelerator, network: network == .none ? NetworkMode.none : .internet)
    }
}

/// One session, resolved: what runs in the guest and how it meets the user.
public struct SessionPlan: Equatable, Sendable {
    public var request: SessionRequest
    public var io: SessionIO
}
