import Foundation
import PenTestSupport
import Testing
@testable import ProfileBuilder

/// Extraction over a synthetic .deb built in the test, so it runs everywhere.
@Suite struct KernelPackageTests {
    static let release = "9.9.9-1-test"
    static let vmlinux = TestELF.vmlinux(pvhEntry: 0x0100_0000)

    static func module(_ name: String, depends: [String] = [], softdep: String? = nil) -> [UInt8] {
        var info = ["license=GPL", "depends=" + depends.joined(separator: ",")]
        if let softdep { info.append("softdep=" + softdep) }
        info.append("name=" + name)
        return TestELF.module(modinfo: info)
    }

    static func entries(builtin: [String] = ["kernel/drivers/virtio/virtio_mmio.ko"]) -> [TestArchive.Entry] {
        let k = "./lib/modules/\(release)/kernel"
        var bz = [UInt8](repeating: 0x90, count: 2048)
        bz += TestArchive.compress(vmlinux, .xz) + [0xDE, 0xAD, 0xBE, 0xEF]
        return [
            .init(path: "./", isDirectory: true),
            .init(path: "./boot/", isDirectory: true),
            .init(path: "./boot/config-\(release)", data: Array("CONFIG_X=y\n".utf8)),
            .init(path: "./boot/vmlinuz-\(release)", data: bz),
            .init(path: "./lib/modules/\(release)/", isDirectory: true),
            // Listed before anything needs it: exercises the second pass.
            .init(path: "\(k)/aaa/early_dep.ko", data: module("early_dep")),
            .init(path: "\(k)/drivers/char/hw_random/virtio-rng.ko",
                  data: module("virtio_rng", depends: ["virtio", "virtio_ring"])),
            .init(path: "\(k)/drivers/block/virtio_blk.ko",
                  data: module("virtio_blk", depends: ["virtio", "virtio_ring"])),
            .init(path: "\(k)/drivers/virtio/virtio.ko", data: module("virtio")),
            .init(path: "\(k)/drivers/virtio/virtio_ring.ko", data: module("virtio_ring")),
            // Compressed module, as newer Debian releases ship them.
            .init(path: "\(k)/fs/ext4/ext4.ko.xz",
                  data: TestArchive.compress(module("ext4", depends: ["jbd2", "early_dep"],
                                                    softdep: "pre: crypto-crc32c"), .xz)),
            .init(path: "\(k)/fs/jbd2/jbd2.ko", data: module("jbd2")),
            .init(path: "\(k)/fs/unneeded.ko", data: module("unneeded", depends: ["virtio"])),
            .init(path: "\(k)/crypto/crc32c_generic.ko",
                  data: TestELF.module(modinfo: ["alias=crypto-crc32c", "depends=", "name=crc32c_generic"])),
            .init(path: "./lib/modules/\(release)/modules.builtin",
                  data: Array(builtin.map { $0 + "\n" }.joined().utf8)),
            .init(path: "./usr/share/doc/linux-image-\(release)/copyright", data: Array("GPL".utf8)),
        ]
    }

    static func writeDeb(_ dir: TemporaryDirectory, entries: [TestArchive.Entry] = entries(),
                         control: String = "Package: linux-image-test\nVersion: 9.9.9-1\nArchitecture: amd64\nDescription: test\n multi-line\n") throws -> String {
        let path = dir.path + "/linux-image-\(release)_9.9.9-0_amd64.deb"
        try Data(TestArchive.deb(control: control, data: entries)).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func walksDataEntries() throws {
        let dir = try TemporaryDirectory()
        let deb = try DebArchive(path: Self.writeDeb(dir))
        #expect(deb.dataMemberName == "data.tar.xz")
        var seen: [String: DebEntryType] = [:]
        var copyright: [UInt8] = []
        try deb.forEachDataEntry { entry in
            seen[entry.path] = entry.type
            if entry.path.hasSuffix("copyright") {
                #expect(entry.size == 3)
                copyright = try entry.readData()
                // Reading twice is refused rather than returning garbage.
                #expect(throws: KernelError.self) { try entry.readData() }
            }
        }
        #expect(copyright == Array("GPL".utf8))
        #expect(seen["boot"] == .directory)
        #expect(seen["boot/vmlinuz-\(Self.release)"] == .file)
        #expect(seen.keys.allSatisfy { !$0.hasPrefix("./") && !$0.isEmpty })
        let fields = try deb.controlFields()
        #expect(fields["Version"] == "9.9.9-1")
        #expect(fields["Package"] == "linux-image-test")
    }

    // 0 forces early_dep (listed before ext4, which needs it) to come from a second walk.
    @Test(arguments: [0, 1 << 20])
    func extractsVmlinuxAndModulesInLoadOrder(cacheBytes: Int) throws {
        let dir = try TemporaryDirectory()
        let deb = try Self.writeDeb(dir)
        let out = dir.path + "/out"
        let bundle = try KernelPackage.extract(
            deb: deb, to: out, roots: ["virtio_mmio", "virtio_blk", "virtio-rng", "ext4", "crc32c_generic"],
            moduleCacheBytes: cacheBytes)
        #expect(bundle.kernelRelease == Self.release)
        #expect(bundle.packageVersion == "9.9.9-1")          // from control, not the file name
        #expect(bundle.builtinRoots == ["virtio_mmio"])
        #expect(bundle.vmlinuxPath == out + "/vmlinux")
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: bundle.vmlinuxPath))) == (try ELF64.trimmingZeroTails(Self.vmlinux)))
        // Roots in the order given; ext4's "crypto-crc32c" softdep puts crc32c_generic first.
        #expect(bundle.modules.map(\.name) == ["virtio", "virtio_ring", "virtio_blk", "virtio_rng",
                                               "crc32c_generic", "early_dep", "jbd2", "ext4"])
        #expect(bundle.modules.map(\.fileName).contains("virtio_rng.ko"))
        // Every module is an uncompressed ELF whose own modinfo agrees with its name.
        for m in bundle.modules {
            #expect(try ModuleInfo(moduleBytes: m.data, fileName: m.fileName).name == m.name)
        }
    }

    @Test func rootNeitherShippedNorBuiltInIsAnError() throws {
        let dir = try TemporaryDirectory()
        let deb = try Self.writeDeb(dir)
        #expect(throws: KernelError.self) {
            try KernelPackage.extract(deb: deb, to: dir.path + "/out", roots: ["virtio_blk", "no_such_driver"])
        }
    }

    @Test func missingDependencyOfShippedModuleIsAnError() throws {
        let dir = try TemporaryDirectory()
        let k = "./lib/modules/\(Self.release)/kernel"
        var entries = Self.entries()
        entries.append(.init(path: "\(k)/net/needy.ko", data: Self.module("needy", depends: ["gone"])))
        let deb = try Self.writeDeb(dir, entries: entries)
        #expect(throws: KernelError.missingDependency("gone", requiredBy: "needy")) {
            try KernelPackage.extract(deb: deb, to: dir.path + "/out", roots: ["needy"])
        }
    }

    @Test func versionFallsBackToFileName() throws {
        let dir = try TemporaryDirectory()
        let deb = try Self.writeDeb(dir, control: "Package: x\n")
        let bundle = try KernelPackage.extract(deb: deb, to: dir.path + "/out", roots: ["jbd2"])
        #expect(bundle.packageVersion == "9.9.9-0")
        #expect(KernelPackage.versionFromFileName("/x/linux-image-1_2%3a6.1-2_amd64.deb") == "2:6.1-2")
    }

    @Test func notADebIsAClearError() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/bogus.deb"
        try Data("not an archive".utf8).write(to: URL(fileURLWithPath: path))
        do {
            _ = try KernelPackage.extract(deb: path, to: dir.path + "/out", roots: [])
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains(path))
        }
    }

    @Test func parsesAptCacheDepends() {
        let out = """
        linux-image-amd64
          Depends: linux-image-6.1.0-56-amd64
          Recommends: firmware-linux
        """
        #expect(KernelPackage.parseDependsOutput(out) == "linux-image-6.1.0-56-amd64")
        #expect(KernelPackage.parseDependsOutput(" |Depends: <linux-image-virtual>\n  Depends: linux-image-6.12.1-amd64\n")
                == "linux-image-6.12.1-amd64")
        #expect(KernelPackage.parseDependsOutput("linux-image-amd64\n") == nil)
        #expect(KernelError.cannotResolve.description
                == "cannot find Debian's kernel package: run `apt-get update` (or pass --kernel-deb FILE)")
    }

    @Test func reusesDownloadedDeb() throws {
        let dir = try TemporaryDirectory()
        #expect(KernelPackage.existingDeb(of: "linux-image-x", in: dir.path) == nil)
        _ = FileManager.default.createFile(atPath: dir.path + "/linux-image-x_1.0_amd64.deb", contents: Data())
        _ = FileManager.default.createFile(atPath: dir.path + "/linux-image-x-dbg_1.0_amd64.deb", contents: Data())
        #expect(KernelPackage.existingDeb(of: "linux-image-x", in: dir.path) == dir.path + "/linux-image-x_1.0_amd64.deb")
    }
}
