import ArgumentParser
import PenLaunch

/// The flags that decide how a VM boots, shared by `pen shell` and `pen vm start` (a running
/// VM refuses them when they differ from its boot's).
struct BootOptions: ParsableArguments {
    @Option(help: "The profile to create the VM from (default: the VM's own, or 'default').")
    var profile: String?

    @Option(help: "Host directory shared read-write at /workspace (default: the current directory).")
    var dir: String?

    @Option(help: "Virtual CPUs (default: the profile's, else the host's cores).")
    var cpus: Int?

    @Option(help: "Memory, e.g. 2G or 4096M (default: the profile's, else 2G).")
    var memory: String?

    @Option(help: "Size of the VM's overlay disk when it is created (e.g. 10G).")
    var diskSize: String?

    @Option(name: .customLong("publish"), help: ArgumentHelp("Forward 127.0.0.1:HOST on the host to GUEST in the VM (repeatable).", valueName: "HOST:GUEST"))
    var publish: [String] = []

    @Option(help: "Accelerator: auto, kvm or tcg (default: auto).")
    var accel: String?

    @Flag(help: "Boot the kernel instead of restoring the boot snapshot (when the VM is not running).")
    var cold = false

    @Option(help: "What the guest reaches: public (the internet, never the LAN, the host or metadata addresses), allow (only what --allow names), none, or full (everything the host reaches). Default: the profile's, else public.")
    var network: String?

    @Option(name: .customLong("allow"), help: ArgumentHelp("With --network allow: a name (example.org), its subdomains (*.example.org), an address or range (10.1.2.0/24), each with an optional :PORT (repeatable; implies --network allow).", valueName: "RULE"))
    var allow: [String] = []

    /// A request for VM `name` with these boot flags.
    func request(_ name: String) -> BootRequest {
        BootRequest(name: name, profile: profile, diskSize: diskSize, cpus: cpus, memory: memory, accel: accel,
                    directory: dir, publish: publish, cold: cold, network: network, allow: allow)
    }
}
