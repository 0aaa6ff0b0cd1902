// Everything about one boot, resolved: which VM, made how if it is new, booted with what
// resources, network, workspace and accelerator, running which session, with which timeouts.
// A plain value: the launcher only carries it out.
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
    public var session: SessionConfig
    /// The terminal is attached to the guest console.
    public var interactive: Bool
    public var bootTimeout: Double
    /// Lines to show the user before the boot (the TCG fallback, slirp, a changed setup).
    public var notices: [String]
}
