// The base image: Debian's generic kernel (as an ELF vmlinux), a minbase Debian root as a
// read-only EROFS image (the lower layer of every VM's root), and a small initrd: the guest's
// modules, then a layer holding the init. The kernel unpacks concatenated archives in order,
// so a new init only re-packs its own layer; mmdebstrap runs again only when the builder
// version or the kernel changes.
import Foundation
import PenCore
import PenWire

public struct BaseImage: Sendable {
    /// Bump whenever the base image's pipeline changes: every cached base is then rebuilt.
    /// 5: the root moved from the initrd to a read-only EROFS image.
    /// 6: the initrd carries the network policy's modules (nf_tables, nft_redir, dummy, …).
    public static let builderVersion = 6
    public static let suite = "bookworm"
    /// Where the base root's apt looks (mmdebstrap's defaults, in its /etc/apt/sources.list):
    /// a build under `[build] allow` may always reach them, or no package could be installed.
    public static let aptSources = ["deb.debian.org:80", "security.debian.org:80"]
    static var aptSourceRules: [NetworkRule] { aptSources.map { try! NetworkRule($0) } }  // constants, tested

    public let directory: String
    public let kernelDirectory: String

    public init(paths: PenPaths) {
        directory = paths.baseImageDirectory
        kernelDirectory = paths.kernelDirectory
    }

    public var kernelPath: String { directory + "/vmlinux" }
    public var rootImagePath: String { directory + "/root.erofs" }
    public var modulesPath: String { directory + "/modules.cpio.zst" }
    public var initrdPath: String { directory + "/initrd.img" }
    public var manifestPath: String { directory + "/manifest.json" }
    /// Every file a current base image consists of (anything else in its directory is a leftover).
    var fileNames: [String] {
        [kernelPath, rootImagePath, modulesPath, directory + "/init-layer.cpio.zst", initrdPath, manifestPath]
            .map { ($0 as NSString).lastPathComponent }
    }

    /// Entries of the base directory an older pen's base image left (not builds in progress).
    func leftovers() -> [String] {
        let current = Set(fileNames + [".lock"] + fileNames.map { ImageIntegrity.stampName(for: $0) })
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return entries.filter { !current.contains($0) && !$0.hasPrefix(".build-") }.sorted()
    }

    public func loadManifest() -> BaseImageManifest? {
        guard let data = FileManager.default.contents(atPath: manifestPath) else { return nil }
        return try? PenJSON.decode(BaseImageManifest.self, from: data)
    }

    /// The base image's identity for profile hashing: what a profile's image is built on (the
    /// root image and the kernel the builder boots), not the init, so a new pen binary does not
    /// rebuild every profile.
    public func identity() throws(PenError) -> String {
        guard let manifest = loadManifest() else {
            throw PenError("the base image in \(directory) has no readable manifest", fix: "rebuild it with `pen image base --rebuild`")
        }
        return manifest.identity
    }

    /// Makes sure a complete base image exists for this init binary; builds what is missing.
    @discardableResult
    public func ensure(initBinary: String, kernelDeb: String? = nil, rebuild: Bool = false,
                       progress: (String) -> Void) throws(PenError) -> BaseImageManifest {
        try converting { try ensureImage(initBinary: initBinary, kernelDeb: kernelDeb, rebuild: rebuild, progress: progress) }
    }

    private func ensureImage(initBinary: String, kernelDeb: String?, rebuild: Bool,
                             progress: (String) -> Void) throws -> BaseImageManifest {
        try SafeFiles.makeDirectories(directory)
        let lock = try BuildLock(path: directory + "/.lock", waiting: {
            progress("pen: waiting for another pen that is building the base image")
        })
        defer { _ = lock }
        let initSHA = try SHA256File.hex(path: initBinary)
        if !rebuild, var manifest = loadManifest(), manifest.builderVersion == Self.builderVersion,
           FileManager.default.fileExists(atPath: kernelPath), FileManager.default.fileExists(atPath: modulesPath) {
            if manifest.initSHA256 == initSHA, FileManager.default.fileExists(atPath: initrdPath) {
                try verify(manifest)
                return manifest
            }
            // A new init is appended to the recorded modules: they must be the recorded ones.
            try ImageIntegrity.verifyOnce(modulesPath, sha256: manifest.modulesSHA256, rebuild: "pen image base --rebuild")
            try assembleInitrd(initBinary: initBinary, manifest: &manifest, initSHA: initSHA)
            try saveManifest(manifest)
            try verify(manifest)
            return manifest
        }
        ScratchDirectory.sweep(in: directory, prefixes: [".build-"])
        return try build(initBinary: initBinary, initSHA: initSHA, kernelDeb: kernelDeb, progress: progress)
    }

    /// The kernel, initrd and root image a VM boots must be the ones the manifest recorded.
    public func verify(_ manifest: BaseImageManifest) throws(PenError) {
        let rebuild = "pen image base --rebuild"
        try ImageIntegrity.verifyOnce(kernelPath, sha256: manifest.kernelSHA256, rebuild: rebuild)
        try ImageIntegrity.verifyOnce(initrdPath, sha256: manifest.initrdSHA256, rebuild: rebuild)
        try ImageIntegrity.verifyOnce(rootImagePath, sha256: manifest.root.sha256, rebuild: rebuild)
    }

    private func build(initBinary: String, initSHA: String, kernelDeb: String?,
                       progress: (String) -> Void) throws -> BaseImageManifest {
        let started = Date()
        progress("pen: building the base image (Debian \(Self.suite) minbase + kernel); this takes about a minute")
        let work = try ScratchDirectory(in: directory, prefix: ".build-")
        defer { work.remove() }

        progress("pen: [1/4] fetching the kernel package")
        let deb: String
        if let kernelDeb {
            deb = kernelDeb
        } else {
            try SafeFiles.makeDirectories(kernelDirectory)
            deb = try KernelPackage.download(into: kernelDirectory)
        }
        progress("pen: [2/4] extracting the kernel and its modules")
        let bundle = try KernelPackage.extract(deb: deb, to: work.path, roots: KernelPackage.guestModuleRoots)

        progress("pen: [3/4] creating the Debian root with mmdebstrap")
        let rootTar = work.path + "/root.tar"
        try Mmdebstrap.run(suite: Self.suite, output: rootTar, log: work.path + "/mmdebstrap.log")

        progress("pen: [4/4] writing the root image and the initrd")
        let root = try ErofsWriter.write(try RootTree.readTar(path: rootTar), to: rootImagePath)
        unlink(rootTar)
        // The modules go in the initrd, under usr/ (in a merged-/usr root, lib is a symlink to usr/lib).
        var modules = RootTree()
        for module in bundle.modules {
            modules.add(RootEntry(path: "\(GuestContract.moduleDirectory)/\(module.fileName)", kind: .file, mode: 0o644,
                                  data: ModuleSignature.strip(module.data)))
        }
        let order = bundle.modules.map { $0.name }
        let lines = bundle.modules.map { ([$0.name] + $0.needs).joined(separator: " ") }
        modules.add(RootEntry(path: GuestContract.moduleOrderFile, kind: .file, mode: 0o644,
                              data: Array((lines.joined(separator: "\n") + "\n").utf8)))
        let packedModules = try InitrdPacker.pack(modules, to: modulesPath, zstdLevel: 3)

        try SafeFiles.refuseSymlink(kernelPath)
        guard rename(bundle.vmlinuxPath, kernelPath) == 0 else { throw PenError.system("cannot move the kernel to \(kernelPath)") }
        let kernelBytes = fileSize(kernelPath)
        var manifest = BaseImageManifest(
            builderVersion: Self.builderVersion, suite: Self.suite,
            kernelPackage: (deb as NSString).lastPathComponent, kernelPackageVersion: bundle.packageVersion,
            kernelRelease: bundle.kernelRelease,
            kernelSHA256: try SHA256File.hex(path: kernelPath), kernelBytes: kernelBytes, modules: order,
            modulesSHA256: packedModules.sha256, root: RootImageRecord(root), initSHA256: "", initrdSHA256: "",
            initrdBytes: 0, buildSeconds: 0, createdAt: Date())
        try assembleInitrd(initBinary: initBinary, manifest: &manifest, initSHA: initSHA)
        manifest.buildSeconds = (Date().timeIntervalSince(started) * 10).rounded() / 10
        try saveManifest(manifest)
        try verify(manifest)  // what was published is what was recorded
        for leftover in leftovers() { try? FileManager.default.removeItem(atPath: directory + "/" + leftover) }
        progress("pen: base image ready: \(ByteSize.format(manifest.root.bytes)) root image, \(ByteSize.format(manifest.initrdBytes)) initrd, built in \(Int(manifest.buildSeconds)) s")
        return manifest
    }

    /// Appends the init layer for this init binary to the recorded modules.
    private func assembleInitrd(initBinary: String, manifest: inout BaseImageManifest, initSHA: String) throws {
        let initrd = try InitrdAssembly.assemble(root: modulesPath, initBinary: initBinary, in: directory)
        manifest.initSHA256 = initSHA
        manifest.initrdSHA256 = initrd.sha256
        manifest.initrdBytes = initrd.bytes
    }

    private func saveManifest(_ manifest: BaseImageManifest) throws {
        try SafeFiles.writeAtomically(Array(try PenJSON.encode(manifest)) + [0x0a], to: manifestPath)
    }
}
