// Makes a profile's image exist: boots the base image as a builder VM (network, no disk),
// installs the packages and runs the build script there, streams the root back, repacks it
// deterministically and publishes it atomically, under a per-profile build lock.
import Foundation
import PenCore

public struct ProfileImageBuilder {
    public let paths: PenPaths
    public let images: ProfileImages
    public let base: BaseImage
    public let initBinary: String
    /// Seconds a build may take (PEN_BUILD_TIMEOUT, else 30 minutes).
    public let buildTimeout: Double
    let builderVM: BuilderVM
    let say: (String) -> Void

    public init(paths: PenPaths, initBinary: String, buildTimeout: Double, builderVM: @escaping BuilderVM,
                say: @escaping (String) -> Void) {
        self.paths = paths
        images = ProfileImages(paths: paths)
        base = BaseImage(paths: paths)
        self.initBinary = initBinary
        self.buildTimeout = buildTimeout
        self.builderVM = builderVM
        self.say = say
    }

    /// The image to boot for this profile, building it first when missing, stale or forced.
    public func ensure(_ profile: Profile, force: Bool = false) throws(PenError) -> BootImage {
        try converting { try ensureImage(profile, force: force) }
    }

    private func ensureImage(_ profile: Profile, force: Bool) throws -> BootImage {
        // The base's manifest records the SHA-256 of the init binary it was made for (this one):
        // the init layers below use it instead of hashing the 7 MB binary again.
        let initSHA = try base.ensure(initBinary: initBinary, progress: say).initSHA256
        let hash = ImageHash.compute(profile: profile, baseIdentity: try base.identity())
        if profile.usesBaseImage {
            return BootImage(kernelPath: base.kernelPath, initrdPath: base.initrdPath, hash: hash, isBase: true)
        }
        try SafeFiles.makeDirectories(images.directory(profile.name))
        let status = images.status(of: profile, hash: hash)
        if force || status != .fresh {
            let lock = try BuildLock(path: images.directory(profile.name) + "/.lock", waiting: {
                say("pen: waiting for another pen that is building profile '\(profile.name)'")
            })
            defer { _ = lock }
            // Whoever held the lock may have built exactly this image meanwhile.
            if force || images.record(profile.name, hash: hash) == nil {
                if !force {
                    say(status == .stale
                        ? "pen: profile '\(profile.name)' changed since its image was built; rebuilding it"
                        : "pen: profile '\(profile.name)' has no image yet; building it")
                }
                try build(profile, hash: hash, initSHA: initSHA)
            }
        }
        return try refreshInitLayer(profile, hash: hash, initSHA: initSHA)
    }

    /// A newer init only needs its layer re-appended, not a new builder VM.
    private func refreshInitLayer(_ profile: Profile, hash: String, initSHA: String) throws -> BootImage {
        let dir = images.imageDirectory(profile.name, hash: hash)
        guard var record = images.record(profile.name, hash: hash) else {
            throw PenError("profile '\(profile.name)' image \(dir) is incomplete; rebuild it with `pen profile build \(profile.name) --force`")
        }
        let initrd = dir + "/initrd.img"
        if record.initSHA256 != initSHA || !FileManager.default.fileExists(atPath: initrd) {
            let lock = try BuildLock(path: images.directory(profile.name) + "/.lock", waiting: {})
            defer { _ = lock }
            try ImageIntegrity.verifyOnce(dir + "/rootfs.cpio.zst", sha256: record.rootfsSHA256,
                                          rebuild: "pen profile build \(profile.name) --force")
            try assembleInitrd(in: dir, record: &record, initSHA: initSHA)
            try record.save(to: dir + "/build.json")
        }
        try ImageIntegrity.verifyOnce(initrd, sha256: record.initrdSHA256,
                                      rebuild: "pen profile build \(profile.name) --force")
        return BootImage(kernelPath: base.kernelPath, initrdPath: initrd, hash: hash, isBase: false)
    }

    private func assembleInitrd(in dir: String, record: inout ProfileImageRecord, initSHA: String) throws {
        let initrd = try InitrdAssembly.assemble(root: dir + "/rootfs.cpio.zst", initBinary: initBinary, in: dir)
        record.initSHA256 = initSHA
        record.initrdSHA256 = initrd.sha256
        record.initrdBytes = initrd.bytes
    }

    private func build(_ profile: Profile, hash: String, initSHA: String) throws {
        let started = Date()
        let profileDir = images.directory(profile.name)
        ScratchDirectory.sweep(in: profileDir, prefixes: [".build-", Self.replacedPrefix])
        let work = try ScratchDirectory(in: profileDir, prefix: ".build-")
        defer { work.remove() }
        let progress = try BuildProgress(logPath: work.path + "/build.log", profile: profile.name)
        let outcome: SessionOutcome
        do {
            outcome = try runBuilderVM(profile, work: work.path, progress: progress)
        } catch {
            progress.finish()
            keepLog(work.path, profile: profile.name)
            throw PenError("profile '\(profile.name)' build failed", cause: error.message,
                           fix: "full log: \(images.lastLogPath(profile.name))")
        }
        progress.finish()
        keepLog(work.path, profile: profile.name)
        guard outcome.exitStatus == 0 else {
            let cause = Self.failureCause(lines: progress.lastLines, status: outcome.exitStatus, phase: progress.phase)
            throw PenError("profile '\(profile.name)' build failed", cause: cause + "; no image was published",
                           details: ["last lines of the log:"] + progress.lastLines.suffix(5).map { "  " + $0 }
                               + ["full log: \(images.lastLogPath(profile.name))"])
        }

        progress.enter("packing the image")
        let archive = work.path + "/root.tar"
        let tree = try RootTree.readTar(path: archive)
        unlink(archive)
        let packed = try InitrdPacker.pack(tree, to: work.path + "/rootfs.cpio.zst", zstdLevel: 3)
        var phaseSeconds: [String: Double] = [:]
        for (name, seconds) in progress.phases { phaseSeconds[name, default: 0] += (seconds * 100).rounded() / 100 }
        var record = ProfileImageRecord(
            profile: profile.name, hash: hash,
            inputs: .init(packages: profile.normalizedPackages, build: profile.build,
                          baseIdentity: try base.identity(), builderVersion: ImageHash.builderVersion),
            rootfsSHA256: packed.sha256, rootfsBytes: packed.compressedBytes, unpackedBytes: packed.unpackedBytes,
            entryCount: packed.entryCount, initSHA256: "", initrdSHA256: "", initrdBytes: 0,
            buildSeconds: 0, phaseSeconds: phaseSeconds, createdAt: Date())
        try assembleInitrd(in: work.path, record: &record, initSHA: initSHA)
        for leftover in ["build.log", "boot.log", "qemu.log", "passt.log", "passt.log.out"] { unlink(work.path + "/" + leftover) }
        record.buildSeconds = (Date().timeIntervalSince(started) * 10).rounded() / 10
        try record.save(to: work.path + "/build.json")
        try publish(work.path, profile: profile.name, hash: hash)
        progress.finish()
        say("pen: profile '\(profile.name)' image ready: \(ByteSize.format(record.initrdBytes)) (\(ByteSize.format(record.unpackedBytes)) unpacked), built in \(Int(record.buildSeconds)) s")
    }

    private func runBuilderVM(_ profile: Profile, work: String, progress: BuildProgress) throws(PenError) -> SessionOutcome {
        try builderVM(BuilderVMRequest(
            profile: profile.name, kernelPath: base.kernelPath, initrdPath: base.initrdPath,
            script: BuilderScript.compose(packages: profile.normalizedPackages, build: profile.build),
            workDirectory: work, archivePath: work + "/root.tar",
            memoryMiB: max(4096, 2 * (profile.memoryMiB ?? 0)), timeout: buildTimeout,
            output: { bytes in progress.receive(bytes) }))
    }

    static let replacedPrefix = ".old-"

    /// Moves the finished work directory into place as HASH/, then drops older images.
    private func publish(_ work: String, profile: String, hash: String) throws {
        let final = images.imageDirectory(profile, hash: hash)
        try SafeFiles.refuseSymlink(final)
        if SafeFiles.exists(final) {
            // Hidden, so an interrupted replace is never listed as a built image.
            let old = images.directory(profile) + "/" + ScratchDirectory.name(prefix: Self.replacedPrefix, rest: hash)
            guard rename(final, old) == 0 else { throw PenError.system("cannot replace \(final)") }
            try? FileManager.default.removeItem(atPath: old)
        }
        guard rename(work, final) == 0 else { throw PenError.system("cannot publish \(final)") }
        SafeFiles.syncDirectory(images.directory(profile))
        for other in images.builtHashes(profile) where other != hash {
            try? FileManager.default.removeItem(atPath: images.imageDirectory(profile, hash: other))
        }
    }

    private func keepLog(_ work: String, profile: String) {
        let target = images.lastLogPath(profile)
        unlink(target)
        var log = (try? String(contentsOfFile: work + "/build.log", encoding: .utf8)) ?? ""
        if let boot = try? String(contentsOfFile: work + "/boot.log", encoding: .utf8), !boot.isEmpty {
            log += "\n--- builder VM boot log\n" + boot
        }
        try? SafeFiles.writeAtomically(log, to: target)
    }

    /// A one-line cause from the end of the log.
    static func failureCause(lines: [String], status: Int32, phase: String) -> String {
        for line in lines.reversed() {
            if let r = line.range(of: "Unable to locate package ") {
                return "unknown package '\(line[r.upperBound...].trimmingCharacters(in: .whitespaces))'"
            }
            if line.hasPrefix(BuilderScript.buildFailedPrefix) {
                return "the build script exited with status \(line.dropFirst(BuilderScript.buildFailedPrefix.count))"
            }
        }
        return "\(phase) failed with status \(status)"
    }
}
