// Everything a hypervisor needs to start one VM, as a plain value (unit-tested).

public struct VMConfig: Equatable, Sendable {
    public var name: String
    public var kernelPath: String
    public var initrdPath: String
    public var kernelArguments: [String]
    /// The overlay disk; nil for a VM without one (the builder VM).
    public var diskPath: String?
    public var cpus: Int
    public var memoryMiB: Int
    public var accelerator: Accelerator
    public var bootLogPath: String
    /// The boot log opened by pen (never through a symlink), handed to QEMU as an fd set.
    public var bootLogFD: Int32?
    /// The overlay disk opened by pen, read-write and read-only (QEMU's block layer asks for
    /// both), so QEMU never opens the path itself and cannot be sent through a planted link.
    public var diskFDs: DiskFDs?
    /// Inherited socket fds QEMU uses for the guest console and the control channel.
    public var consoleFD: Int32
    public var controlFD: Int32
    /// A builder VM's port for streaming its root out (nil for ordinary VMs).
    public var archiveFD: Int32?
    public var network: Bool
    /// The socket QEMU's network device is connected to (passt's other end); nil: QEMU's slirp.
    public var networkFD: Int32?
    /// Ports forwarded by QEMU's slirp when passt is not used.
    public var publishedPorts: [PublishedPort] = []
    /// A host directory shared read-write at /workspace (already resolved).
    public var workspace: String?

    public init(name: String, kernelPath: String, initrdPath: String, kernelArguments: [String],
                diskPath: String?, cpus: Int, memoryMiB: Int, accelerator: Accelerator,
                bootLogPath: String, consoleFD: Int32, controlFD: Int32, archiveFD: Int32? = nil, network: Bool = true) {
        self.name = name
        self.kernelPath = kernelPath
        self.initrdPath = initrdPath
        self.kernelArguments = kernelArguments
        self.diskPath = diskPath
        self.cpus = cpus
        self.memoryMiB = memoryMiB
        self.accelerator = accelerator
        self.bootLogPath = bootLogPath
        self.consoleFD = consoleFD
        self.controlFD = controlFD
        self.archiveFD = archiveFD
        self.network = network
    }

    public struct DiskFDs: Equatable, Sendable {
        public var readWrite: Int32
        public var readOnly: Int32
        public init(readWrite: Int32, readOnly: Int32) {
            self.readWrite = readWrite
            self.readOnly = readOnly
        }
    }

    /// The guest kernel's command line. Only boot facts go here, never secrets: the
    /// command line is readable in the guest's /proc/cmdline.
    public static func kernelArguments(accelerator: Accelerator, tscKilohertz: Int?) -> [String] {
        var args = ["console=ttyS0", "loglevel=4", "panic=-1", "rdinit=/init",
                    // The static Swift runtime asks getrandom() at start-up; this avoids
                    // waiting for the RNG (the kernel passes KEY=VALUE words to init's env).
                    "SWIFT_DETERMINISTIC_HASHING=1"]
        if accelerator == .tcg, let khz = tscKilohertz {
            args.append("tsc_early_khz=\(khz)")  // TSC calibration otherwise hangs 1 boot in 6 under TCG
        }
        if accelerator == .tcg {
            // TCG's TSC follows the host clock; without this the kernel finds the vCPUs'
            // TSCs "unsynchronised" and falls back to the jiffies clocksource.
            args.append("tsc=reliable")
        }
        return args
    }
}
