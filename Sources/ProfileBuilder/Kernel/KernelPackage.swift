// Gets the guest kernel from Debian's own kernel package: find its name with apt-cache,
// download it with apt-get (no root needed), and pull out the vmlinux plus the few modules
// the guest needs, in load order. Using the distribution's kernel means signed, updated
// builds without us compiling anything.
import Foundation
import PenCore

public struct BundledModule: Sendable, Equatable {
    public var name: String
    /// "NAME.ko" (always uncompressed, named after the module, e.g. "virtio_rng.ko").
    public var fileName: String
    public var data: [UInt8]
    /// The modules that must be loaded before this one.
    public var needs: [String]

    public init(name: String, fileName: String, data: [UInt8], needs: [String] = []) {
        self.name = name
        self.needs = needs
        self.fileName = fileName
        self.data = data
    }
}

public struct KernelBundle: Sendable {
    public var vmlinuxPath: String
    /// e.g. "6.1.0-56-amd64", from the package's lib/modules/<release>/ directory.
    public var kernelRelease: String
    /// e.g. "6.1.192-2", from the package's control file (else its file name).
    public var packageVersion: String
    /// In load order: every module after the modules it needs.
    public var modules: [BundledModule]
    /// Requested modules absent from the package because they are built into the kernel.
    public var builtinRoots: [String] = []
}

public enum KernelPackage {
    /// The metapackage that always depends on the current kernel of the release.
    public static let metaPackage = "linux-image-amd64"

    /// Modules the guest loads at boot, in this order: the virtio-mmio transport first, then
    /// virtio devices, the root image's, the disk's and the overlay's filesystems, and 9p for the
    /// shared folder; then the network policy's: nftables' nat chain and redirect (the guest's
    /// connections to the init's listeners; nf_tables, nf_nat and conntrack come as their
    /// dependencies) and `dummy`, whose dummy0 holds the guest's address and routes.
    public static let guestModuleRoots = ["virtio_mmio", "virtio_blk", "virtio_net", "virtio_console", "virtio_rng",
                                          "virtio_balloon", "erofs", "ext4", "crc32c_generic", "overlay", "9p", "9pnet_virtio",
                                          "nft_chain_nat", "nft_redir", "dummy"]

    // MARK: - Finding and downloading the package

    /// The versioned kernel package the metapackage points at, e.g. "linux-image-6.1.0-56-amd64".
    public static func resolvePackageName() throws -> String {
        guard let result = try? apt("apt-cache", ["depends", metaPackage]), result.status == 0,
              let name = parseDependsOutput(result.stdout) else {
            throw KernelError.cannotResolve
        }
        return name
    }

    /// First real "Depends: linux-image-…" line of `apt-cache depends` output.
    static func parseDependsOutput(_ output: String) -> String? {
        for line in output.split(separator: "\n") {
            var text = line.drop(while: { $0 == " " || $0 == "|" })
            guard text.hasPrefix("Depends:") else { continue }
            text = text.dropFirst("Depends:".count).drop(while: { $0 == " " })
            let name = String(text.prefix(while: { !$0.isWhitespace }))
            // "<name>" marks a virtual package, which cannot be downloaded.
            if name.hasPrefix("linux-image-") { return name }
        }
        return nil
    }

    /// Downloads the kernel package into `dir` (created if needed) and returns the .deb's path.
    /// A .deb of the same package already in `dir` is reused. apt-get runs in a private
    /// staging directory so an interrupted download never leaves a partial .deb behind.
    public static func download(into dir: String) throws -> String {
        let name = try resolvePackageName()
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if let existing = existingDeb(of: name, in: dir) { return existing }

        ScratchDirectory.sweep(in: dir, prefixes: [stagingPrefix])
        let staging = try ScratchDirectory(in: dir, prefix: stagingPrefix)
        defer { staging.remove() }
        chmod(staging.path, 0o755)  // apt downloads as its unprivileged _apt user where it can

        let result: Subprocess.Result
        do {
            result = try apt("apt-get", ["download", name], in: staging.path)
        } catch {
            throw KernelError.downloadFailed(package: name, detail: "\(error)")
        }
        guard result.status == 0 else {
            throw KernelError.downloadFailed(package: name, detail: lastErrorLine(result))
        }
        guard let fetched = existingDeb(of: name, in: staging.path) else {
            throw KernelError.downloadFailed(package: name, detail: "apt-get produced no .deb")
        }
        let target = dir + "/" + (fetched as NSString).lastPathComponent
        guard rename(fetched, target) == 0 else {
            throw KernelError.downloadFailed(
                package: name, detail: "cannot move it into \(dir): \(String(cString: strerror(errno)))")
        }
        return target
    }

    static let stagingPrefix = ".apt-download-"

    /// A "<name>_<version>_<arch>.deb" file in `dir`, the most recently modified if several.
    static func existingDeb(of package: String, in dir: String) -> String? {
        let fm = FileManager.default
        guard let files = try? fm.contentsOfDirectory(atPath: dir) else { return nil }
        let debs = files.filter { $0.hasPrefix(package + "_") && $0.hasSuffix(".deb") }.sorted()
        let dated = debs.map { file -> (String, Date) in
            let attrs = try? fm.attributesOfItem(atPath: dir + "/" + file)
            return (file, (attrs?[.modificationDate] as? Date) ?? .distantPast)
        }
        // max(by:) keeps the last maximal element, so ties resolve to the greatest name.
        return dated.max(by: { $0.1 < $1.1 }).map { dir + "/" + $0.0 }
    }

    // MARK: - Extracting the kernel and modules

    /// Writes `dir/vmlinux` (atomically) from the package's bzImage and returns the modules
    /// needed for `roots`, in load order, with their contents in memory. Roots load in the
    /// order given, each after its dependencies (see `ModuleOrder.loadOrder`). Roots built
    /// into the kernel are skipped and reported in `builtinRoots`.
    public static func extract(deb: String, to dir: String, roots: [String]) throws -> KernelBundle {
        try extract(deb: deb, to: dir, roots: roots, moduleCacheBytes: ModuleScan.defaultRecentBudget)
    }

    /// `moduleCacheBytes` bounds the scan's cache of recently seen modules (tests use 0
    /// to force the second walk).
    static func extract(deb: String, to dir: String, roots: [String], moduleCacheBytes: Int) throws -> KernelBundle {
        let archive = try DebArchive(path: deb)
        let packageVersion = (try? archive.controlFields()["Version"])
            ?? versionFromFileName(deb)

        var scan = ModuleScan(roots: roots.map(ModuleInfo.normalize), recentBudget: moduleCacheBytes)
        var bzImage: (path: String, bytes: [UInt8])?
        var releases = Set<String>()
        var builtin: [String: Set<String>] = [:] // release -> names in modules.builtin

        try archive.forEachDataEntry { entry in
            if entry.path.hasPrefix("boot/vmlinuz-") && entry.type == .file && bzImage == nil {
                bzImage = (entry.path, try entry.readData())
                return
            }
            guard let (release, rest) = modulesPath(entry.path) else { return }
            releases.insert(release)
            if rest == "modules.builtin" && entry.type == .file {
                let text = String(decoding: try entry.readData(), as: UTF8.self)
                builtin[release] = Set(text.split(separator: "\n").map { ModuleInfo.name(fromFileName: String($0)) })
            } else if rest.hasPrefix("kernel/") && isModuleFile(rest) && entry.type == .file {
                try scan.add(path: entry.path, bytes: try entry.readData())
            }
        }

        guard let bzImage else { throw KernelError.missingKernelImage(deb: deb) }
        guard let release = releases.sorted().first else { throw KernelError.missingModules(deb: deb) }
        guard releases.count == 1 else {
            throw KernelError.ambiguousRelease(deb: deb, releases: releases.sorted())
        }

        // Absent roots are built in; when the package lists its built-ins, make sure
        // (a typo must not silently drop a driver the guest needs).
        var presentRoots: [String] = []
        var builtinRoots: [String] = []
        for root in scan.roots where !presentRoots.contains(root) && !builtinRoots.contains(root) {
            if scan.infos[root] != nil {
                presentRoots.append(root)
            } else if let list = builtin[release], !list.contains(root) {
                throw KernelError.unknownRoot(root, release: release)
            } else {
                builtinRoots.append(root)
            }
        }
        let plan = try ModuleOrder.loadPlan(roots: presentRoots, available: scan.infos)
        let order = plan.map(\.name)

        // Modules needed by one seen later, and already out of the scan's recent cache, were
        // not kept: fetch them in a second walk that stops as soon as it has them all.
        var missing = Dictionary(uniqueKeysWithValues: order.filter { scan.data[$0] == nil }.map { (scan.paths[$0]!, $0) })
        if !missing.isEmpty {
            try archive.walkDataEntries { entry in
                guard let name = missing.removeValue(forKey: entry.path) else { return .next }
                scan.data[name] = try moduleBytes(entry.path, try entry.readData())
                return missing.isEmpty ? .stop : .next
            }
        }

        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let vmlinuxPath = dir + "/vmlinux"
        try KernelImage.writeVmlinux(fromBzImage: bzImage.bytes, to: vmlinuxPath, source: "\(deb): \(bzImage.path)")

        let modules = plan.map { module in
            BundledModule(name: module.name, fileName: module.name + ".ko", data: scan.data[module.name]!, needs: module.needs)
        }
        return KernelBundle(vmlinuxPath: vmlinuxPath, kernelRelease: release, packageVersion: packageVersion,
                            modules: modules, builtinRoots: builtinRoots)
    }

    /// Splits "lib/modules/<release>/<rest>" (or the merged-/usr "usr/lib/modules/…").
    static func modulesPath(_ path: String) -> (release: String, rest: String)? {
        var p = Substring(path)
        if p.hasPrefix("usr/") { p = p.dropFirst(4) }
        guard p.hasPrefix("lib/modules/") else { return nil }
        p = p.dropFirst("lib/modules/".count)
        let parts = p.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: true)
        guard let release = parts.first, !release.isEmpty else { return nil }
        return (String(release), parts.count > 1 ? String(parts[1]) : "")
    }

    static func isModuleFile(_ path: String) -> Bool {
        [".ko", ".ko.xz", ".ko.zst", ".ko.gz"].contains { path.hasSuffix($0) }
    }

    /// Module contents, decompressed when the package ships .ko.xz/.ko.zst/.ko.gz.
    static func moduleBytes(_ path: String, _ bytes: [UInt8]) throws -> [UInt8] {
        path.hasSuffix(".ko") ? bytes : try RawDecompressor.decompressAll(bytes, context: path)
    }

    /// "linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb" → "6.1.192-2" (apt escapes ':' as %3a).
    static func versionFromFileName(_ path: String) -> String {
        let file = (path as NSString).lastPathComponent
        let parts = file.split(separator: "_")
        guard parts.count >= 3 else { return "unknown" }
        return parts[1].replacingOccurrences(of: "%3a", with: ":").replacingOccurrences(of: "%3A", with: ":")
    }

    /// Collects module metadata from one pass over data.tar, keeping module contents only
    /// for modules known to be needed at that point, since the package holds ~400 MB of them.
    /// A dependency often sits just before its user (drivers/net/net_failover.ko before
    /// drivers/net/virtio_net.ko), so the last few MB of other modules are kept too.
    struct ModuleScan {
        static let defaultRecentBudget = 32 << 20

        let roots: [String]
        let recentBudget: Int
        var infos: [String: ModuleInfo] = [:]
        var paths: [String: String] = [:]
        var data: [String: [UInt8]] = [:]
        private var wanted: Set<String>
        private var recent: [String: [UInt8]] = [:]
        private var recentOrder: [String] = []
        private var recentHead = 0
        private var recentBytes = 0

        init(roots: [String], recentBudget: Int) {
            self.roots = roots
            self.recentBudget = recentBudget
            self.wanted = Set(roots)
        }

        mutating func add(path: String, bytes: [UInt8]) throws {
            let contents = try KernelPackage.moduleBytes(path, bytes)
            let info = try ModuleInfo(moduleBytes: contents, fileName: (path as NSString).lastPathComponent)
            guard infos[info.name] == nil else { return } // first copy wins, deterministically
            infos[info.name] = info
            paths[info.name] = path
            if wanted.contains(info.name) {
                data[info.name] = contents
                for dep in info.depends + info.softdepPre { want(dep) }
            } else {
                remember(info.name, contents)
            }
        }

        /// Marks a module as needed; its own dependencies become needed too if we know them.
        private mutating func want(_ name: String) {
            guard wanted.insert(name).inserted, let info = infos[name] else { return }
            if let kept = recent.removeValue(forKey: name) {
                data[name] = kept
                recentBytes -= kept.count
            }
            for dep in info.depends + info.softdepPre { want(dep) }
        }

        /// Keeps a not-yet-needed module in a FIFO bounded by `recentBudget` bytes.
        private mutating func remember(_ name: String, _ contents: [UInt8]) {
            recent[name] = contents
            recentOrder.append(name)
            recentBytes += contents.count
            while recentBytes > recentBudget && recentHead < recentOrder.count {
                if let old = recent.removeValue(forKey: recentOrder[recentHead]) { recentBytes -= old.count }
                recentHead += 1
            }
            if recentHead > 4096 { // drop consumed names now and then
                recentOrder.removeFirst(recentHead)
                recentHead = 0
            }
        }
    }
}

// MARK: - Running apt

extension KernelPackage {
    static let aptMissingFix = "pen needs Debian's apt tools to fetch the kernel (or pass --kernel-deb FILE)"

    /// apt with its output in English (pen parses it).
    static func apt(_ tool: String, _ arguments: [String], in directory: String? = nil) throws(PenError) -> Subprocess.Result {
        try Subprocess.runTool(tool, arguments, directory: directory, environment: ["LC_ALL": "C"], missingFix: aptMissingFix)
    }

    /// The most telling line of apt's complaint ("E: …"), for a one-line error message.
    static func lastErrorLine(_ result: Subprocess.Result) -> String {
        let lines = result.stderr.split(separator: "\n").map(String.init)
        if let e = lines.last(where: { $0.hasPrefix("E:") }) { return e }
        return result.lastLine
    }
}
