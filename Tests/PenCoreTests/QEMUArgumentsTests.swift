import Testing
import Foundation
@testable import PenCore

@Suite struct QEMUArgumentsTests {
    func config(_ accel: Accelerator = .tcg, disk: String? = "/vms/t/overlay.img", network: Bool = true) -> VMConfig {
        VMConfig(name: "t", kernelPath: "/img/vmlinux", initrdPath: "/img/initrd.img",
                 kernelArguments: VMConfig.kernelArguments(accelerator: accel, tscKilohertz: 2_596_138),
                 diskPath: disk, cpus: 2, memoryMiB: 2048, accelerator: accel, bootLogPath: "/vms/t/boot.log",
                 consoleFD: 5, controlFD: 6, network: network)
    }

    /// The value following `flag` for each occurrence.
    func values(_ args: [String], _ flag: String) -> [String] {
        args.indices.filter { args[$0] == flag && $0 + 1 < args.count }.map { args[$0 + 1] }
    }

    @Test func namesTheVMAndUsesMicrovm() {
        let a = QEMUBackend.arguments(for: config())
        #expect(values(a, "-name") == ["pen-t"])
        #expect(values(a, "-M") == ["microvm"])
        #expect(values(a, "-kernel") == ["/img/vmlinux"])
        #expect(values(a, "-initrd") == ["/img/initrd.img"])
        #expect(values(a, "-smp") == ["2"])
        #expect(values(a, "-m") == ["2048M"])
        #expect(a.contains("-nodefaults") && a.contains("-no-reboot"))
    }

    @Test func runsUnderQEMUsSeccompSandbox() {
        let sandbox = values(QEMUBackend.arguments(for: config()), "-sandbox")
        #expect(sandbox == ["on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"])
    }

    @Test func acceleratorChoosesCPUAndTSCHint() {
        let tcg = QEMUBackend.arguments(for: config(.tcg))
        #expect(values(tcg, "-accel") == ["tcg"])
        #expect(!tcg.contains("-cpu"))
        #expect(values(tcg, "-append").first?.contains("tsc_early_khz=2596138") == true)
        let kvm = QEMUBackend.arguments(for: config(.kvm))
        #expect(values(kvm, "-accel") == ["kvm"])
        #expect(values(kvm, "-cpu") == ["host"])
        #expect(values(kvm, "-append").first?.contains("tsc_early_khz") == false)
    }

    @Test func channelsUseInheritedSocketsNotPaths() {
        let a = QEMUBackend.arguments(for: config())
        let chardevs = values(a, "-chardev")
        #expect(chardevs.contains("socket,id=console,fd=5"))
        #expect(chardevs.contains("socket,id=control,fd=6"))
        #expect(!chardevs.contains { $0.contains("path=") && $0.hasPrefix("socket") })
        let devices = values(a, "-device")
        #expect(devices.contains("virtconsole,chardev=console,name=console"))
        #expect(devices.contains("virtserialport,chardev=control,name=pen.ctl"))
    }

    @Test func diskAndNetworkAreOptional() {
        let full = QEMUBackend.arguments(for: config())
        #expect(values(full, "-drive").first?.hasPrefix("file=/vms/t/overlay.img,format=raw") == true)
        #expect(values(full, "-device").contains("virtio-blk-device,drive=overlay"))
        #expect(values(full, "-netdev") == ["user,id=net0"])
        let bare = QEMUBackend.arguments(for: config(disk: nil, network: false))
        #expect(values(bare, "-drive").isEmpty && values(bare, "-netdev").isEmpty)
    }

    @Test func commasInPathsAreEscaped() {
        var c = config(disk: "/odd,dir/overlay.img")
        c.bootLogPath = "/odd,dir/boot.log"
        let a = QEMUBackend.arguments(for: c)
        #expect(values(a, "-drive").first?.hasPrefix("file=/odd,,dir/overlay.img,") == true)
        #expect(values(a, "-chardev").contains("file,id=bootlog,path=/odd,,dir/boot.log"))
    }

    @Test func filesPenOpenedReachQEMUAsFdSetsNotPaths() {
        var c = config()
        c.bootLogFD = 7
        c.diskFDs = VMConfig.DiskFDs(readWrite: 8, readOnly: 9)
        let a = QEMUBackend.arguments(for: c)
        #expect(values(a, "-add-fd") == ["fd=7,set=1,opaque=boot-log", "fd=8,set=2,opaque=overlay-rw",
                                         "fd=9,set=2,opaque=overlay-ro"])
        #expect(values(a, "-chardev").contains("file,id=bootlog,path=/dev/fdset/1"))
        #expect(values(a, "-drive").first?.hasPrefix("file=/dev/fdset/2,format=raw") == true)
        // The paths themselves never reach QEMU, so it can never open them through a link.
        #expect(!a.contains { $0.contains("/vms/t/") })
        // A chardev must be defined before -serial refers to it.
        #expect(a.firstIndex(of: "file,id=bootlog,path=/dev/fdset/1")! < a.firstIndex(of: "-serial")!)
    }

    @Test func kernelCommandLineCarriesNoSecrets() {
        let line = VMConfig.kernelArguments(accelerator: .tcg, tscKilohertz: 1000).joined(separator: " ")
        #expect(line.contains("console=ttyS0") && line.contains("SWIFT_DETERMINISTIC_HASHING=1"))
        #expect(!line.contains("PEN_") && !line.contains("TOKEN"))
    }
}

@Suite struct AcceleratorTests {
    @Test func autoFallsBackToTCGWithOneNotice() throws {
        var notices: [String] = []
        let accel = try Accelerator.resolve(.auto, probe: { KVMProbe(usable: false, reason: "no vmx") }, notice: { notices.append($0) })
        #expect(accel == .tcg)
        #expect(notices.count == 1 && notices[0].contains("TCG") && notices[0].contains("no vmx"))
    }

    @Test func forcedKVMFailsClearlyWhenUnusable() {
        #expect(throws: PenError.self) {
            try Accelerator.resolve(.kvm, probe: { KVMProbe(usable: false, reason: "PVM") }, notice: { _ in })
        }
        #expect(try! Accelerator.resolve(.kvm, probe: { KVMProbe(usable: true, reason: "") }, notice: { _ in }) == .kvm)
    }

    @Test func probeReadsCPUFlagsAndPVM() throws {
        let dir = "/tmp/pen-probe-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let device = dir + "/kvm"
        FileManager.default.createFile(atPath: device, contents: Data())
        let noFlags = KVMProbe.run(devicePath: device, cpuinfo: "flags\t: fpu sse2\n", pvmModulePath: dir + "/none")
        #expect(!noFlags.usable && noFlags.reason.contains("vmx"))
        let good = KVMProbe.run(devicePath: device, cpuinfo: "flags\t: fpu vmx sse2\n", pvmModulePath: dir + "/none")
        #expect(good.usable)
        let pvm = KVMProbe.run(devicePath: device, cpuinfo: "flags\t: vmx\n", pvmModulePath: dir)
        #expect(!pvm.usable && pvm.reason.contains("PVM"))
        let missing = KVMProbe.run(devicePath: dir + "/absent", cpuinfo: "flags: vmx", pvmModulePath: dir + "/none")
        #expect(!missing.usable && missing.reason.contains("does not exist"))
    }

    @Test func tscFrequencyFromCPUInfo() {
        #expect(hostTSCKilohertz(cpuinfo: "processor: 0\ncpu MHz\t\t: 2596.138\n") == 2_596_138)
        #expect(hostTSCKilohertz(cpuinfo: "nothing") == nil)
    }
}

@Suite struct PathsTests {
    @Test func penHomeHoldsEverything() {
        let p = PenPaths(environment: ["PEN_HOME": "/x/home", "HOME": "/home/u"])
        #expect(p.profiles == "/x/home/profiles" && p.images == "/x/home/images" && p.vms == "/x/home/vms")
        let shared = PenPaths(environment: ["PEN_HOME": "/x/home", "PEN_IMAGES": "/cache/img"])
        #expect(shared.images == "/cache/img" && shared.vms == "/x/home/vms")
    }

    @Test func xdgLocationsByDefault() {
        let p = PenPaths(environment: ["HOME": "/home/u"])
        #expect(p.profiles == "/home/u/.config/pen/profiles")
        #expect(p.images == "/home/u/.cache/pen/images")
        #expect(p.vms == "/home/u/.local/share/pen/vms")
        let x = PenPaths(environment: ["HOME": "/home/u", "XDG_CONFIG_HOME": "/c", "XDG_CACHE_HOME": "/k",
                                       "XDG_DATA_HOME": "relative/ignored"])
        #expect(x.profiles == "/c/pen/profiles" && x.images == "/k/pen/images")
        #expect(x.vms == "/home/u/.local/share/pen/vms")
    }
}
