import Testing
import Foundation
import PenWire
@testable import PenCore

@Suite struct QEMUArgumentsTests {
    func spec(_ accel: Accelerator = .tcg, disk: String? = "/vms/t/overlay.img",
              network: NetworkBackend = .slirp(ports: [])) -> VMSpec {
        VMSpec(name: "t", kernelPath: "/img/vmlinux", initrdPath: "/img/initrd.img",
               kernelArguments: VMSpec.kernelArguments(accelerator: accel, tscKilohertz: 2_596_138),
               diskPath: disk, cpus: 2, memoryMiB: 2048, accelerator: accel, bootLogPath: "/vms/t/boot.log",
               qemuLogPath: "/vms/t/qemu.log", network: network)
    }

    /// Descriptors as VMBoot hands them over: control 6, boot log 7, disk 8 and 9.
    func wiring(disk: Bool = true, network: Int32? = nil) -> VMWiring {
        VMWiring(control: 6, network: network, bootLog: 7,
                 disk: disk ? VMWiring.DiskDescriptors(readWrite: 8, readOnly: 9) : nil)
    }

    func arguments(_ s: VMSpec? = nil, _ w: VMWiring? = nil) -> [String] {
        QEMU.arguments(s ?? spec(), w ?? wiring())
    }

    /// The value following `flag` for each occurrence.
    func values(_ args: [String], _ flag: String) -> [String] {
        args.indices.filter { args[$0] == flag && $0 + 1 < args.count }.map { args[$0 + 1] }
    }

    @Test func namesTheVMAndUsesMicrovm() {
        let a = arguments()
        #expect(values(a, "-name") == ["pen-t"])
        #expect(values(a, "-M") == ["microvm,dump-guest-core=off"])
        #expect(values(a, "-kernel") == ["/img/vmlinux"])
        #expect(values(a, "-initrd") == ["/img/initrd.img"])
        #expect(values(a, "-smp") == ["2"])
        #expect(values(a, "-m") == ["2048M"])
        #expect(a.contains("-nodefaults") && a.contains("-no-reboot"))
    }

    @Test func runsUnderQEMUsSeccompSandbox() {
        let sandbox = values(arguments(), "-sandbox")
        #expect(sandbox == ["on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"])
    }

    @Test func acceleratorChoosesCPUAndTSCHint() {
        let tcg = arguments(spec(.tcg))
        #expect(values(tcg, "-accel") == ["tcg"])
        #expect(values(tcg, "-cpu") == ["qemu64,+arat"])
        #expect(values(tcg, "-append").first?.contains("tsc_early_khz=2596138") == true)
        let kvm = arguments(spec(.kvm))
        #expect(values(kvm, "-accel") == ["kvm"])
        #expect(values(kvm, "-cpu") == ["host"])
        #expect(values(kvm, "-append").first?.contains("tsc_early_khz") == false)
    }

    @Test func aTCGGuestsTimerIsAlwaysRunningSoItsIdleTickCanStop() {
        // Without ARAT the guest kernel keeps a periodic tick on every idle vCPU (plan 14).
        let cpu = values(arguments(spec(.tcg)), "-cpu").first ?? ""
        #expect(cpu.split(separator: ",").contains("+arat"))
        // The shape a boot snapshot is keyed by changes with it: an old snapshot is not restored.
        #expect(QEMU.machineShape(spec(.tcg)).contains("-cpu qemu64,+arat"))
    }

    @Test func anIdleGuestIsNotWokenForProactiveCompactionOnEitherAccelerator() {
        for accel in [Accelerator.tcg, .kvm] {
            #expect(VMSpec.kernelArguments(accelerator: accel, tscKilohertz: 1000).contains("sysctl.vm.compaction_proactiveness=0"))
        }
    }

    @Test func channelsUseInheritedSocketsNotPaths() {
        let a = arguments()
        let chardevs = values(a, "-chardev")
        #expect(chardevs.contains("socket,id=control,fd=6"))
        #expect(!chardevs.contains { $0.contains("path=") && $0.hasPrefix("socket") })
        let devices = values(a, "-device")
        #expect(devices.contains("virtserialport,chardev=control,name=pen.ctl"))
        // Sessions travel as frames on the control channel: no console device is left for the guest.
        #expect(!devices.contains { $0.hasPrefix("virtconsole") })
    }

    @Test func diskAndNetworkAreOptional() {
        let full = arguments()
        #expect(values(full, "-drive").first?.hasPrefix("file=/dev/fdset/2,format=raw") == true)
        #expect(values(full, "-device").contains("virtio-blk-device,drive=overlay,serial=\(GuestContract.overlaySerial)"))
        #expect(values(full, "-netdev") == ["user,id=net0"])
        let bare = arguments(spec(disk: nil, network: .none), wiring(disk: false))
        #expect(values(bare, "-drive").isEmpty && values(bare, "-netdev").isEmpty)
        #expect(!values(bare, "-device").contains { $0.hasPrefix("virtio-net") || $0.hasPrefix("virtio-blk") })
    }

    @Test func aRestoreReadsTheStateFromADescriptorAndASaveGetsAPrivateMonitor() {
        var w = wiring()
        w.snapshotState = 11
        let restore = arguments(spec(), w)
        #expect(values(restore, "-incoming") == ["fd:11"] && !restore.contains("-mon"))
        w.snapshotState = nil
        w.monitor = 12
        let save = arguments(spec(), w)
        #expect(values(save, "-chardev").contains("socket,id=qmp,fd=12") && values(save, "-mon") == ["chardev=qmp,mode=control"])
        #expect(!save.contains("-incoming") && !arguments().contains("-mon"))  // no monitor otherwise
        #expect(w.descriptors.contains(12))
    }

    @Test func theMachineShapeHasEveryDeviceButNoBackend() {
        var one = spec(disk: "/vms/a/overlay.img", network: .slirp(ports: [PublishedPort(host: 8080, guest: 80)]))
        one.workspace = "/home/a/project"
        var other = spec(disk: "/vms/b/overlay.img", network: .slirp(ports: []))
        other.workspace = "/home/b/elsewhere"
        let shape = QEMU.machineShape(one)
        #expect(shape == QEMU.machineShape(other))  // another VM's disk, workspace and ports: same machine
        #expect(shape.contains("-device virtio-blk-device,drive=overlay,serial=\(GuestContract.overlaySerial)"))
        #expect(shape.contains("-device virtio-9p-device,fsdev=workspace,mount_tag=\(GuestContract.workspaceTag)"))
        #expect(shape.contains("-m 2048M") && shape.contains("-smp 2") && shape.contains { $0.hasPrefix("-append ") })
        #expect(!shape.joined().contains("/vms/") && !shape.joined().contains("/home/"))
        var bigger = one
        bigger.memoryMiB = 4096
        #expect(QEMU.machineShape(bigger) != shape)
        var noWorkspace = one
        noWorkspace.workspace = nil
        #expect(QEMU.machineShape(noWorkspace) != shape)
    }

    @Test func aSnapshotKeyChangesWithEachInput() {
        let key = SnapshotKey(kernelSHA256: "k", initrdSHA256: "i", rootImageSHA256: "r", qemu: "/usr/bin/qemu 1 2 3", hostCPU: "tcg", machine: ["-m 2048M"])
        #expect(key.hash == SnapshotKey(kernelSHA256: "k", initrdSHA256: "i", rootImageSHA256: "r", qemu: "/usr/bin/qemu 1 2 3", hostCPU: "tcg",
                                        machine: ["-m 2048M"]).hash)
        for changed in [SnapshotKey(kernelSHA256: "k2", initrdSHA256: "i", rootImageSHA256: "r", qemu: key.qemu, hostCPU: "tcg", machine: key.machine),
                        SnapshotKey(kernelSHA256: "k", initrdSHA256: "i2", rootImageSHA256: "r", qemu: key.qemu, hostCPU: "tcg", machine: key.machine),
                        SnapshotKey(kernelSHA256: "k", initrdSHA256: "i", rootImageSHA256: "r", qemu: "/usr/bin/qemu 1 2 4", hostCPU: "tcg", machine: key.machine),
                        SnapshotKey(kernelSHA256: "k", initrdSHA256: "i", rootImageSHA256: "r", qemu: key.qemu, hostCPU: "cpu", machine: key.machine),
                        SnapshotKey(kernelSHA256: "k", initrdSHA256: "i", rootImageSHA256: "r2", qemu: key.qemu, hostCPU: "tcg", machine: key.machine),
                        SnapshotKey(kernelSHA256: "k", initrdSHA256: "i", rootImageSHA256: "r", qemu: key.qemu, hostCPU: "tcg", machine: ["-m 1024M"]),
                        // Saved by a QEMU of another uid: that uid could have tampered with it.
                        SnapshotKey(kernelSHA256: "k", initrdSHA256: "i", rootImageSHA256: "r", qemu: key.qemu, hostCPU: "tcg", machine: key.machine,
                                    qemuUID: 1000)] {
            #expect(changed.hash != key.hash)
        }
    }

    @Test func freedGuestMemoryIsReportedBackToTheHost() {
        #expect(values(arguments(), "-device").contains("virtio-balloon-device,free-page-reporting=on"))
    }

    @Test func theRootImageIsAReadOnlyDiskTheGuestFindsBySerial() {
        var withRoot = spec()
        withRoot.rootImagePath = "/img/root.erofs"
        var w = wiring()
        w.rootImage = 10
        let a = arguments(withRoot, w)
        #expect(values(a, "-add-fd").contains("fd=10,set=3,opaque=root-image"))
        let drive = values(a, "-drive").first { $0.contains("id=root") } ?? ""
        #expect(drive.hasPrefix("file=/dev/fdset/3,format=raw") && drive.contains("readonly=on"))
        #expect(values(a, "-device").contains("virtio-blk-device,drive=root,serial=\(GuestContract.rootImageSerial)"))
        // The root disk is the first virtio disk the guest enumerates: the init binds disks in
        // order before the snapshot point and stops at the root, so the VM's own disk is never
        // probed into a snapshot.
        let devices = values(a, "-device")
        let root = devices.firstIndex { $0.contains("drive=root") }
        let overlay = devices.firstIndex { $0.contains("drive=overlay") }
        #expect(root != nil && overlay != nil && root! < overlay!)
        // Without one (an old spec), no root disk is attached.
        #expect(!values(arguments(), "-drive").contains { $0.contains("id=root") })
    }

    @Test func filesPenOpenedReachQEMUAsFdSetsNotPaths() {
        let a = arguments()
        #expect(values(a, "-add-fd") == ["fd=7,set=1,opaque=boot-log", "fd=8,set=2,opaque=overlay-rw",
                                         "fd=9,set=2,opaque=overlay-ro"])
        #expect(values(a, "-chardev").contains("file,id=bootlog,path=/dev/fdset/1,append=on"))
        #expect(values(a, "-drive").first?.hasPrefix("file=/dev/fdset/2,format=raw") == true)
        // The paths themselves never reach QEMU, so it can never open them through a link.
        #expect(!a.contains { $0.contains("/vms/t/") })
        // A chardev must be defined before -serial refers to it.
        #expect(a.firstIndex(of: "file,id=bootlog,path=/dev/fdset/1,append=on")! < a.firstIndex(of: "-serial")!)
        // Every descriptor named on the command line is one QEMU inherits.
        #expect(Set(wiring().descriptors) == [6, 7, 8, 9])
    }

    @Test func kernelInitrdAndWorkspaceReachQEMUAsInheritedDescriptors() {
        var s = spec()
        s.workspace = "/home/u/project"
        var w = wiring()
        w.kernel = 10
        w.initrd = 11
        w.workspace = 12
        let a = arguments(s, w)
        #expect(values(a, "-kernel") == ["/proc/self/fd/10"] && values(a, "-initrd") == ["/proc/self/fd/11"])
        #expect(values(a, "-fsdev") == ["local,id=workspace,path=/proc/self/fd/12,security_model=none"])
        #expect(!a.contains { $0.contains("/img/") || $0.contains("/home/u/") })
        #expect(Set(w.descriptors).isSuperset(of: [10, 11, 12]))
    }

    @Test func passtIsAStreamSocketAndSlirpForwardsToLoopback() {
        let passt = NetworkBackend.passt(Passt(executable: "/usr/bin/passt"), ports: [], log: "/v/passt.log")
        let a = arguments(spec(network: passt), wiring(network: 11))
        #expect(a.contains("stream,id=net0,server=off,addr.type=fd,addr.str=11"))
        #expect(wiring(network: 11).descriptors.contains(11))
        let slirp = arguments(spec(network: .slirp(ports: [PublishedPort(host: 2222, guest: 22)])))
        #expect(slirp.contains("user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22"))
    }

    @Test func theWorkspaceIsA9pShareWithCommasEscaped() {
        var s = spec()
        s.workspace = "/home/u/my,project"
        let a = arguments(s)
        #expect(a.contains("local,id=workspace,path=/home/u/my,,project,security_model=none"))
        #expect(a.contains("virtio-9p-device,fsdev=workspace,mount_tag=workspace"))
        // QEMU as root: the guest's owners, modes and device nodes stay metadata.
        s.workspaceMapped = true
        #expect(arguments(s).contains("local,id=workspace,path=/home/u/my,,project,security_model=mapped-xattr,fmode=0644,dmode=0755"))
    }

    @Test func aBuilderVMGetsItsArchivePort() {
        var w = wiring(disk: false)
        w.archive = 12
        let a = arguments(spec(disk: nil), w)
        #expect(values(a, "-chardev").contains("socket,id=archive,fd=12"))
        #expect(values(a, "-device").contains("virtserialport,chardev=archive,name=pen.out"))
        #expect(w.descriptors.contains(12))
    }

    @Test func kernelCommandLineCarriesNoSecrets() {
        let line = VMSpec.kernelArguments(accelerator: .tcg, tscKilohertz: 1000).joined(separator: " ")
        #expect(line.contains("console=ttyS0") && line.contains("SWIFT_DETERMINISTIC_HASHING=1") && line.contains("cryptomgr.notests"))
        #expect(line.contains("initcall_blacklist=crypto_kdf108_init"))
        #expect(!line.contains("PEN_") && !line.contains("TOKEN"))
    }
}

