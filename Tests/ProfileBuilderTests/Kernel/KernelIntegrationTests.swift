import Foundation
import PenTestSupport
import Testing
@testable import ProfileBuilder

/// The image cache `make test` fills before the unit tests run (`make image`).
let testImageCache: String = {
    if let env = ProcessInfo.processInfo.environment["PEN_TEST_IMAGES"], !env.isEmpty { return env }
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    return packageRoot + "/.build-images"
}()

/// The real Debian kernel package: $PEN_KERNEL_DEB, or the one in the test image cache.
let realKernelDeb: String? = {
    if let env = ProcessInfo.processInfo.environment["PEN_KERNEL_DEB"], !env.isEmpty { return env }
    let dir = testImageCache + "/kernel"
    let debs = (try? FileManager.default.contentsOfDirectory(atPath: dir))?.filter { $0.hasSuffix(".deb") }.sorted()
    return debs?.last.map { dir + "/" + $0 }
}()

@Suite struct KernelIntegrationTests {
    @Test("extract the real Debian kernel package",
          .enabled(if: realKernelDeb != nil, "run `make image` first, or set PEN_KERNEL_DEB to a linux-image-*.deb"))
    func extractRealKernelPackage() throws {
        let deb = try #require(realKernelDeb)
        let dir = try TemporaryDirectory()

        let start = Date()
        let bundle = try KernelPackage.extract(deb: deb, to: dir.path, roots: KernelPackage.guestModuleRoots)
        let seconds = Date().timeIntervalSince(start)

        let vmlinux = Array(try Data(contentsOf: URL(fileURLWithPath: bundle.vmlinuxPath)))
        #expect(vmlinux.starts(with: [0x7F, 0x45, 0x4C, 0x46]))
        #expect(KernelImage.isCompleteELF64(vmlinux))
        #expect(vmlinux.count > 20_000_000)
        let pvh = KernelImage.pvhEntryPoint(elf: vmlinux)
        #expect(pvh != nil, "vmlinux has no Xen PVH entry note: QEMU -kernel cannot boot it")

        let order = bundle.modules.map(\.name)
        func before(_ a: String, _ b: String) {
            let i = order.firstIndex(of: a), j = order.firstIndex(of: b)
            #expect(i != nil && j != nil && i! < j!, "\(a) must load before \(b) in \(order)")
        }
        before("virtio_mmio", "virtio_blk")
        before("crc32c_generic", "ext4")
        before("jbd2", "ext4")
        before("9pnet", "9p")
        before("virtio", "virtio_blk")
        before("net_failover", "virtio_net")
        before("nf_tables", "nft_redir")  // the network policy's redirect
        before("nf_nat", "nft_chain_nat")
        before("nf_conntrack", "nf_nat")
        for root in KernelPackage.guestModuleRoots where !bundle.builtinRoots.contains(root) {
            #expect(order.contains(root))
        }
        #expect(!bundle.kernelRelease.isEmpty && !bundle.packageVersion.isEmpty)
        for m in bundle.modules { #expect(m.data.starts(with: [0x7F, 0x45, 0x4C, 0x46]) && m.fileName == m.name + ".ko") }
        // Debian signs every module; the image carries them without the signature, still whole ELF files.
        for m in bundle.modules {
            let stripped = ModuleSignature.strip(m.data)
            #expect(stripped.count < m.data.count, "\(m.name) had no signature")
            #expect(KernelImage.isCompleteELF64(stripped), "\(m.name) is not a whole ELF after stripping")
        }

        print("""
        [kernel] \(deb)
        [kernel] release \(bundle.kernelRelease), version \(bundle.packageVersion), \
        extracted in \(String(format: "%.2f", seconds)) s
        [kernel] vmlinux \(vmlinux.count) bytes, PVH entry \(pvh.map { String($0, radix: 16) } ?? "none")
        [kernel] \(bundle.modules.count) modules (\(bundle.modules.reduce(0) { $0 + $1.data.count }) bytes), \
        built in: \(bundle.builtinRoots)
        [kernel] order: \(order.joined(separator: " "))
        """)
    }
}

/// Talks to the network and fetches ~70 MB, so only on request.
@Suite struct KernelDownloadTests {
    @Test("apt-get download of the kernel package, then reuse",
          .enabled(if: ProcessInfo.processInfo.environment["PEN_TEST_DOWNLOAD"] == "1", "set PEN_TEST_DOWNLOAD=1"))
    func downloadsAndReuses() throws {
        let dir = try TemporaryDirectory()
        let name = try KernelPackage.resolvePackageName()
        #expect(name.hasPrefix("linux-image-") && name != KernelPackage.metaPackage)
        var start = Date()
        let deb = try KernelPackage.download(into: dir.path + "/cache")
        print("[kernel] downloaded \(deb) in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        #expect((deb as NSString).lastPathComponent.hasPrefix(name + "_"))
        // Only the .deb is left: no staging directory.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/cache") == [(deb as NSString).lastPathComponent])
        start = Date()
        #expect(try KernelPackage.download(into: dir.path + "/cache") == deb)
        #expect(Date().timeIntervalSince(start) < 5)
        _ = try DebArchive(path: deb)
    }
}
