// QEMU's command line for one VM: the spec says what to boot, the wiring which inherited
// descriptors carry its channels and files.
import Foundation
import PenWire

public struct QEMU: Sendable {
    public let executable: String

    public init(executable: String) {
        self.executable = executable
    }

    /// qemu-system-x86_64 on PATH, or PEN_QEMU.
    public static func locate(_ settings: Settings) throws(PenError) -> QEMU {
        if let explicit = settings.qemu { return QEMU(executable: explicit) }
        if let found = ExecutableSearch.find("qemu-system-x86_64", environment: settings.environment, alsoIn: []) {
            return QEMU(executable: found)
        }
        throw PenError("qemu-system-x86_64 not found", fix: "install it with `sudo apt-get install qemu-system-x86`")
    }

    /// The executable as it is on disk now (path, size, modification time, inode): a new build
    /// of QEMU changes it, and a boot snapshot made by another build is not used.
    public var identity: String {
        var st = stat()
        guard stat(executable, &st) == 0 else { return executable }
        return "\(executable) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec) \(st.st_ino)"
    }

    public func command(_ spec: VMSpec, _ wiring: VMWiring) -> [String] {
        var argv = [executable] + Self.arguments(spec, wiring)
        // As another user QEMU runs from an execute-only copy (ExecuteOnlyQEMU), which would look
        // for its firmware beside the copy: it is told where the real one keeps it.
        if spec.qemuUser != nil { argv += ["-L", dataDirectory] }
        return argv
    }

    /// Where this QEMU's firmware lives: PREFIX/share/qemu beside PREFIX/bin/qemu-system-x86_64.
    public var dataDirectory: String { prefix + "/share/qemu" }

    /// Where this QEMU's loadable modules (its TCG accelerator among them) live, if it has any:
    /// PREFIX/lib/ARCH/qemu (Debian) or PREFIX/lib/qemu. An execute-only copy is told with
    /// QEMU_MODULE_DIR.
    public var moduleDirectory: String? {
        let candidates = ((try? FileManager.default.contentsOfDirectory(atPath: prefix + "/lib")) ?? []).sorted()
            .map { prefix + "/lib/" + $0 + "/qemu" } + [prefix + "/lib/qemu"]
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/accel-tcg-x86_64.so") }
    }

    /// PREFIX of PREFIX/bin/qemu-system-x86_64 (links resolved), "" for /.
    private var prefix: String {
        var real = executable
        if let resolved = realpath(executable, nil) {
            real = String(cString: resolved)
            free(resolved)
        }
        let prefix = ((real as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
        return prefix == "/" ? "" : prefix
    }

    /// A descriptor QEMU inherited, as a path it can open.
    static func inherited(_ fd: Int32) -> String { "/proc/self/fd/\(fd)" }

    static let bootLogSet = 1
    static let diskSet = 2
    static let rootImageSet = 3

    public static func arguments(_ spec: VMSpec, _ wiring: VMWiring) -> [String] {
        var a = ["-name", "pen-\(spec.name)",
                 // Guest RAM (and the secrets in it) stays out of a QEMU core dump.
                 "-M", "microvm,dump-guest-core=off",
                 "-accel", spec.accelerator.rawValue]
        switch spec.accelerator {
        case .kvm: a += ["-cpu", "host"]
        case .tcg:
            // QEMU's default model plus ARAT (the local APIC timer keeps running while the CPU
            // idles), which TCG's timer has anyway. Without it the guest kernel must assume the
            // timer stops in idle, finds no broadcast timer on microvm to cover for it, and never
            // leaves periodic ticks: 250 wake-ups per second per vCPU, 6.5 % of a host core for a
            // VM doing nothing (plan 14).
            a += ["-cpu", "qemu64,+arat"]
        }
        // QEMU's seccomp filter: no obsolete syscalls, no privilege changes, no new processes,
        // no scheduler/resource control — a guest that takes QEMU over gets little further.
        a += ["-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"]
        // Kernel and init messages go to the boot log, never to the user's terminal. Files pen
        // opened itself reach QEMU as fd sets (/dev/fdset/N), so QEMU never follows a path there.
        a += ["-add-fd", "fd=\(wiring.bootLog),set=\(bootLogSet),opaque=boot-log",
              "-chardev", "file,id=bootlog,path=/dev/fdset/\(bootLogSet),append=on"]
        a += ["-smp", String(spec.cpus), "-m", "\(spec.memoryMiB)M",
              "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
              "-kernel", wiring.kernel.map(Self.inherited) ?? spec.kernelPath,
              "-initrd", wiring.initrd.map(Self.inherited) ?? spec.initrdPath,
              "-append", spec.kernelArguments.joined(separator: " "),
              "-serial", "chardev:bootlog",
              // The control channel (and a builder's archive port) on a virtio-serial device, over
              // socketpairs pen passes in: no socket files another user could reach.
              "-device", "virtio-serial-device",
              "-chardev", "socket,id=control,fd=\(wiring.control)",
              "-device", "virtserialport,chardev=control,name=\(GuestContract.controlPort)",
              "-device", "virtio-rng-device",
              // Free page reporting: memory the guest frees (a build's, a test run's) goes back
              // to the host a few seconds later instead of staying resident in QEMU.
              "-device", "virtio-balloon-device,free-page-reporting=on"]
        if let port = wiring.netPort {
            a += ["-chardev", "socket,id=net,fd=\(port)",
                  "-device", "virtserialport,chardev=net,name=\(GuestContract.networkPort)"]
        }
        if let archive = wiring.archive {
            a += ["-chardev", "socket,id=archive,fd=\(archive)",
                  "-device", "virtserialport,chardev=archive,name=\(GuestContract.archivePort)"]
        }
        if let root = wiring.rootImage {
            // The image is shared by every VM of its profile: read-only, never written.
            a += ["-add-fd", "fd=\(root),set=\(rootImageSet),opaque=root-image",
                  "-drive", "file=/dev/fdset/\(rootImageSet),format=raw,if=none,id=root,readonly=on,cache=writeback",
                  "-device", "virtio-blk-device,drive=root,serial=\(GuestContract.rootImageSerial)"]
        }
        if let disk = wiring.disk {
            a += ["-add-fd", "fd=\(disk.readWrite),set=\(diskSet),opaque=overlay-rw",
                  "-add-fd", "fd=\(disk.readOnly),set=\(diskSet),opaque=overlay-ro",
                  // Write errors (the host's filesystem full) go to the guest: QEMU's default pauses
                  // the VM, and with no monitor nothing could resume it. No image locking: the VM's
                  // lock keeps every other QEMU off the disk, and QEMU's own byte-range locks on the
                  // fd set's two descriptors conflict when it re-activates the disk after saving a
                  // boot snapshot.
                  "-drive", "file=/dev/fdset/\(diskSet),format=raw,if=none,id=overlay,cache=writeback,discard=unmap,werror=report,rerror=report,file.locking=off",
                  "-device", "virtio-blk-device,drive=overlay,serial=\(GuestContract.overlaySerial)"]
        }
        switch spec.network {
        case .passt:
            if let fd = wiring.network {
                a += ["-netdev", "stream,id=net0,server=off,addr.type=fd,addr.str=\(fd)",
                      "-device", "virtio-net-device,netdev=net0"]
            }
        case .slirp(let ports):
            let forwards = ports.map { ",hostfwd=tcp:127.0.0.1:\($0.host)-:\($0.guest)" }.joined()
            a += ["-netdev", "user,id=net0\(forwards)", "-device", "virtio-net-device,netdev=net0"]
        case .none, .policy:
            break  // no network device: the policy's streams go over `pen.net`
        }
        if let dir = spec.workspace {
            let model = spec.workspaceMapped ? "security_model=mapped-xattr,fmode=0644,dmode=0755" : "security_model=none"
            let path = wiring.workspace.map(Self.inherited) ?? qemuEscaped(dir)
            a += ["-fsdev", "local,id=workspace,path=\(path),\(model)",
                  "-device", "virtio-9p-device,fsdev=workspace,mount_tag=\(GuestContract.workspaceTag)"]
        }
        if let state = wiring.snapshotState {
            a += ["-incoming", "fd:\(state)"]  // the machine as saved; the guest resumes at its snapshot point
        }
        if let monitor = wiring.monitor {
            // QMP for the supervisor alone, over a socketpair: it saves the boot snapshot through it.
            a += ["-chardev", "socket,id=qmp,fd=\(monitor)", "-mon", "chardev=qmp,mode=control"]
        }
        return a
    }

    /// What shapes the guest's machine (type, accelerator, CPU, vCPUs, memory, kernel command
    /// line, every device in order) and nothing of the backends behind the devices: a boot
    /// snapshot is keyed by it (plan 09).
    public static func machineShape(_ spec: VMSpec) -> [String] {
        var network: Int32?
        if case .passt = spec.network { network = 0 }
        var wiring = VMWiring(control: 0, archive: spec.archivePort ? 0 : nil, network: network, bootLog: 0,
                              disk: spec.diskPath == nil ? nil : .init(readWrite: 0, readOnly: 0),
                              rootImage: spec.rootImagePath == nil ? nil : 0)
        wiring.netPort = 0
        let args = arguments(spec, wiring)
        return args.indices.dropLast().filter { shapeFlags.contains(args[$0]) }.map { args[$0] + " " + args[$0 + 1] }
    }

    static let shapeFlags: Set<String> = ["-M", "-accel", "-cpu", "-smp", "-m", "-append", "-device"]
}

/// QEMU's option parser splits on ','; a literal comma in a value is written twice.
func qemuEscaped(_ value: String) -> String {
    value.replacingOccurrences(of: ",", with: ",,")
}
