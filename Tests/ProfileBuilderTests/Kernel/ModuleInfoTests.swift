import Testing
@testable import ProfileBuilder

@Suite struct ModuleInfoTests {
    @Test func parsesRealELFModinfo() throws {
        let ko = TestELF.module(modinfo: [
            "license=GPL",
            "softdep=pre: crypto-crc32c",
            "alias=fs-ext4",
            "depends=jbd2,mbcache,crc16",
            "retpoline=Y",
            "name=ext4",
            "vermagic=6.1.0-56-amd64 SMP preempt mod_unload modversions ",
        ])
        let info = try ModuleInfo(moduleBytes: ko, fileName: "ext4.ko")
        #expect(info.name == "ext4")
        #expect(info.depends == ["jbd2", "mbcache", "crc16"])
        #expect(info.softdepPre == ["crypto_crc32c"])
        #expect(info.aliases == ["fs_ext4"])
    }

    @Test func emptyDependsAndNameFromFileName() throws {
        let ko = TestELF.module(modinfo: ["depends=", "license=GPL"])
        let info = try ModuleInfo(moduleBytes: ko, fileName: "virtio-rng.ko")
        #expect(info.name == "virtio_rng")
        #expect(info.depends.isEmpty)
        #expect(info.softdepPre.isEmpty)
    }

    @Test func softdepPreStopsAtPost() throws {
        let ko = TestELF.module(modinfo: ["name=m", "softdep=pre: a b-c post: d e", "depends=x"])
        let info = try ModuleInfo(moduleBytes: ko, fileName: "m.ko")
        #expect(info.softdepPre == ["a", "b_c"])
        #expect(ModuleInfo.parseSoftdepPre("post: z pre: y") == ["y"])
        #expect(ModuleInfo.parseSoftdepPre("pre:q") == ["q"])
    }

    @Test func namesFromFileNames() {
        #expect(ModuleInfo.name(fromFileName: "kernel/drivers/char/hw_random/virtio-rng.ko") == "virtio_rng")
        #expect(ModuleInfo.name(fromFileName: "ext4.ko.xz") == "ext4")
        #expect(ModuleInfo.name(fromFileName: "9pnet_virtio.ko.zst") == "9pnet_virtio")
    }

    @Test func rejectsNonModules() {
        #expect(throws: KernelError.self) { try ModuleInfo(moduleBytes: Array("hello".utf8), fileName: "x.ko") }
        // ELF without .modinfo.
        var noInfo = TestELF.vmlinux(pvhEntry: nil, payloadSize: 16)
        #expect(throws: KernelError.self) { try ModuleInfo(moduleBytes: noInfo, fileName: "y.ko") }
        // Truncated: section headers cut off.
        noInfo = TestELF.module(modinfo: ["name=z"])
        let cut = Array(noInfo.prefix(noInfo.count - 10))
        #expect(throws: KernelError.self) { try ModuleInfo(moduleBytes: cut, fileName: "z.ko") }
        do {
            _ = try ModuleInfo(moduleBytes: cut, fileName: "z.ko")
        } catch {
            #expect("\(error)".contains("z.ko"))
        }
    }
}
