// How a VM starts: cold (the kernel boots), restored from a boot snapshot, or cold while
// saving the snapshot other VMs of its shape will start from (plan 09).

public enum SnapshotBoot: Codable, Equatable, Sendable {
    /// The kernel boots; nothing is saved (a builder VM, `--cold`, or no snapshot can be saved now).
    case cold
    /// QEMU loads the machine from this state file (`-incoming fd:N`).
    case restore(state: String, key: String)
    /// The kernel boots, and the machine is saved at the guest's snapshot point under `key`.
    case save(key: String)
    /// QEMU loads this VM's own suspended machine (`-incoming fd:N`, saved paused): the supervisor
    /// lets it run and the guest carries on where it was (plan 14).
    case resume(state: String)

    /// QEMU loads a saved machine instead of booting a kernel.
    public var isRestore: Bool {
        switch self {
        case .restore, .resume: return true
        case .cold, .save: return false
        }
    }

    public var isResume: Bool {
        if case .resume = self { return true }
        return false
    }

    public var key: String? {
        switch self {
        case .cold, .resume: return nil
        case .restore(_, let key), .save(let key): return key
        }
    }

    /// For listings: how the running VM started.
    public var label: String {
        switch self {
        case .cold: return "cold"
        case .restore: return "restored"
        case .save: return "cold, snapshot saved"
        case .resume: return "resumed"
        }
    }
}

/// What a boot snapshot depends on: anything different and the saved machine would not be this
/// VM's machine. The VM's own disk, workspace and network backends are not in it: the guest has
/// not touched them at the snapshot point (their devices are bound after it), so each VM's own
/// are seen. The root image is in it: it is mounted, and its common pages read, before.
public struct SnapshotKey: Codable, Equatable, Sendable {
    public static let format = "pen-boot-snapshot v1"
    public var kernelSHA256: String
    public var initrdSHA256: String
    public var rootImageSHA256: String
    /// QEMU's executable and its identity on disk (an upgrade changes it).
    public var qemu: String
    /// The host CPU under KVM (`-cpu host` passes it through); "tcg" otherwise.
    public var hostCPU: String
    /// The machine: type, accelerator, vCPUs, memory, kernel command line and every device.
    public var machine: [String]
    /// The uid QEMU runs as. A snapshot is only restored by QEMUs of the uid that saved it: that
    /// uid could tamper with the saving QEMU (ptrace, /proc/PID/mem), so its snapshot must never
    /// become another user's machine (nil in records of older pens).
    public var qemuUID: UInt32?

    public init(kernelSHA256: String, initrdSHA256: String, rootImageSHA256: String, qemu: String, hostCPU: String,
                machine: [String], qemuUID: UInt32 = 0) {
        self.qemuUID = qemuUID
        self.kernelSHA256 = kernelSHA256
        self.initrdSHA256 = initrdSHA256
        self.rootImageSHA256 = rootImageSHA256
        self.qemu = qemu
        self.hostCPU = hostCPU
        self.machine = machine
    }

    /// The canonical text the key's hash is taken of (one field per line).
    public var canonical: String {
        ([Self.format, "kernel \(kernelSHA256)", "initrd \(initrdSHA256)", "root \(rootImageSHA256)", "qemu \(qemu)",
          "cpu \(hostCPU)", "uid \(qemuUID ?? 0)"]
            + machine.map { "machine \($0)" }).joined(separator: "\n") + "\n"
    }

    public var hash: String { SHA256File.hex(bytes: Array(canonical.utf8)) }
}
