// What to boot, as a plain value (unit-tested): the kernel and initrd, the disk, resources,
// the network, the shared workspace and where QEMU's logs go. How it is wired (the
// descriptors QEMU inherits) is VMWiring's job, filled in by the supervisor's VMBoot.
import PenWire

public struct VMSpec: Codable, Equatable, Sendable {
    public var name: String
    public var kernelPath: String
    public var initrdPath: String
    /// The read-only root image (EROFS) the overlay sits on; nil: the initrd holds the root.
    public var rootImagePath: String?
    public var kernelArguments: [String]
    /// The overlay disk; nil for a VM without one (the builder VM).
    public var diskPath: String?
    public var cpus: Int
    public var memoryMiB: Int
    public var accelerator: Accelerator
    /// The guest's serial console (kernel and init messages), opened by pen.
    public var bootLogPath: String
    /// QEMU's own stdout and stderr.
    public var qemuLogPath: String
    public var network: NetworkBackend
    /// A host directory shared read-write at the guest contract's workspace mount point (resolved).
    public var workspace: String?
    /// 9p's "mapped-xattr" model instead of "none": the guest's chown, chmod and mknod land in
    /// extended attributes only, so files it creates on the host are plain files of QEMU's user
    /// with fixed modes (0644/0755) — never setuid, setgid or device nodes. Needed when QEMU
    /// runs as root, where "none" would apply them for real.
    public var workspaceMapped = false
    /// The user QEMU runs as when pen is root (QEMUUser); nil: as pen.
    public var qemuUser: HostUser?
    /// Where the execute-only copy of QEMU is kept when it runs as `qemuUser` (ExecuteOnlyQEMU).
    public var qemuCopyDirectory: String?
    /// A builder VM streams its root out over the archive port.
    public var archivePort: Bool
    /// Cold, restored from a boot snapshot, or cold while saving one.
    public var snapshot: SnapshotBoot = .cold
    /// A restore's state as the pen that chose it opened and verified it: a descriptor the
    /// supervisor inherited. QEMU reads that file, never what the path leads to later.
    public var snapshotDescriptor: Int32?

    public init(name: String, kernelPath: String, initrdPath: String, rootImagePath: String? = nil,
                kernelArguments: [String], diskPath: String?, cpus: Int, memoryMiB: Int, accelerator: Accelerator,
                bootLogPath: String, qemuLogPath: String, network: NetworkBackend = .none,
                workspace: String? = nil, archivePort: Bool = false) {
        self.name = name
        self.kernelPath = kernelPath
        self.initrdPath = initrdPath
        self.rootImagePath = rootImagePath
        self.kernelArguments = kernelArguments
        self.diskPath = diskPath
        self.cpus = cpus
        self.memoryMiB = memoryMiB
        self.accelerator = accelerator
        self.bootLogPath = bootLogPath
        self.qemuLogPath = qemuLogPath
        self.network = network
        self.workspace = workspace
        self.archivePort = archivePort
    }

    /// The guest kernel's command line. Only boot facts go here, never secrets: the
    /// command line is readable in the guest's /proc/cmdline.
    public static func kernelArguments(accelerator: Accelerator, tscKilohertz: Int?, logLevel: Int = 4) -> [String] {
        var args = ["console=ttyS0", "loglevel=\(logLevel)", "panic=-1", "rdinit=\(GuestContract.initPath)",
                    // The static Swift runtime asks getrandom() at start-up; this avoids
                    // waiting for the RNG (the kernel passes KEY=VALUE words to init's env).
                    "SWIFT_DETERMINISTIC_HASHING=1",
                    // The crypto self-tests cost 0.5 s of every TCG boot (measured with
                    // initcall_debug); the algorithms are Debian's, tested where they are built.
                    // The KDF's init does nothing but its self-test, which ignores notests.
                    "cryptomgr.notests", "initcall_blacklist=crypto_kdf108_init",
                    // Proactive compaction wakes kcompactd every 500 ms of an idle guest (2 wake-ups
                    // a second, a quarter of a TCG VM's idle cost, plan 14); a sandbox's memory is
                    // still compacted on demand when a large allocation needs it.
                    "sysctl.vm.compaction_proactiveness=0"]
        if logLevel >= 7 {
            // A debugging boot (the VM tests'): the init says each stage on the console too, so
            // a boot that never gets ready shows in its boot log where it stopped.
            args.append("\(GuestContract.traceVariable)=1")
        }
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
