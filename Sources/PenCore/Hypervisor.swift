// The seam between pen and the thing that runs VMs.
import Foundation

public protocol Hypervisor {
    /// The executable and its arguments for one VM.
    func command(for config: VMConfig) throws(PenError) -> [String]
}

import Foundation

public struct QEMUBackend: Hypervisor {
    public let executable: String

    public init(executable: String) {
        self.executable = executable
    }

    /// Finds qemu-system-x86_64 on PATH (or PEN_QEMU).
    public static func locate(environment env: [String: String]) throws(PenError) -> QEMUBackend {
        if let explicit = env["PEN_QEMU"], !explicit.isEmpty { return QEMUBackend(executable: explicit) }
        if let found = ExecutableSearch.find("qemu-system-x86_64", environment: env, alsoIn: []) {
            return QEMUBackend(executable: found)
        }
        throw PenError("qemu-system-x86_64 not found: install it with `sudo apt-get install qemu-system-x86`")
    }

    public func command(for config: VMConfig) throws(PenError) -> [String] {
        [executable] + Self.arguments(for: config)
    }

    static let bootLogSet = 1
    static let diskSet = 2

    public static func arguments(for c: VMConfig) -> [String] {
        var a = ["-name", "pen-\(c.name)",
                 "-M", "microvm",
                 "-accel", c.accelerator.rawValue]
        if c.accelerator == .kvm { a += ["-cpu", "host"] }
        // QEMU's seccomp filter: no obsolete syscalls, no privilege changes, no new processes,
        // no scheduler/resource control — a guest that takes QEMU over gets little further.
        a += ["-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"]
        // Kernel and init messages go to the boot log, never to the user's terminal. Files pen
        // opened itself reach QEMU as fd sets (/dev/fdset/N), so QEMU never follows a path there.
        var bootLog = qemuEscaped(c.bootLogPath)
        if let fd = c.bootLogFD {
            a += ["-add-fd", "fd=\(fd),set=\(Self.bootLogSet),opaque=boot-log"]
            bootLog = "/dev/fdset/\(Self.bootLogSet)"
        }
        a += ["-chardev", "file,id=bootlog,path=\(bootLog)"]
        a += ["-smp", String(c.cpus), "-m", "\(c.memoryMiB)M",
              "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
              "-kernel", c.kernelPath, "-initrd", c.initrdPath,
              "-append", c.kernelArguments.joined(separator: " "),
              "-serial", "chardev:bootlog",
              // Console (hvc0) and control channel on one virtio-serial device, over
              // socketpairs pen passes in: no socket files another user could reach.
              "-device", "virtio-serial-device",
              "-chardev", "socket,id=console,fd=\(c.consoleFD)",
              "-device", "virtconsole,chardev=console,name=console",
              "-chardev", "socket,id=control,fd=\(c.controlFD)",
              "-device", "virtserialport,chardev=control,name=pen.ctl",
              "-device", "virtio-rng-device"]
        if let archive = c.archiveFD {
            a += ["-chardev", "socket,id=archive,fd=\(archive)",
                  "-device", "virtserialport,chardev=archive,name=pen.out"]
        }
        if var disk = c.diskPath.map(qemuEscaped) {
            if let fds = c.diskFDs {
                a += ["-add-fd", "fd=\(fds.readWrite),set=\(Self.diskSet),opaque=overlay-rw",
                      "-add-fd", "fd=\(fds.readOnly),set=\(Self.diskSet),opaque=overlay-ro"]
                disk = "/dev/fdset/\(Self.diskSet)"
            }
            // Write errors (the host's filesystem full) go to the guest: QEMU's default pauses
            // the VM, and with no monitor nothing could resume it.
            a += ["-drive", "file=\(disk),format=raw,if=none,id=overlay,cache=writeback,discard=unmap,werror=report,rerror=report",
                  "-device", "virtio-blk-device,drive=overlay"]
        }
        if let fd = c.networkFD {
            a += ["-netdev", "stream,id=net0,server=off,addr.type=fd,addr.str=\(fd)",
                  "-device", "virtio-net-device,netdev=net0"]
        } else if c.network {
            let forwards = c.publishedPorts.map { ",hostfwd=tcp:127.0.0.1:\($0.host)-:\($0.guest)" }.joined()
            a += ["-netdev", "user,id=net0\(forwards)", "-device", "virtio-net-device,netdev=net0"]
        }
        if let dir = c.workspace {
            a += ["-fsdev", "local,id=workspace,path=\(qemuEscaped(dir)),security_model=none",
                  "-device", "virtio-9p-device,fsdev=workspace,mount_tag=workspace"]
        }
        return a
    }
}

/// QEMU's option parser splits on ','; a literal comma in a value is written twice.
func qemuEscaped(_ value: String) -> String {
    value.replacingOccurrences(of: ",", with: ",,")
}
