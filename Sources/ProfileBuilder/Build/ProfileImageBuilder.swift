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
    /// The most a profile's root may hold (PEN_MAX_ROOT_SIZE, as for the stream the builder VM sends).
    public let rootLimit: UInt64
    let builderVM: BuilderVM
    let say: (String) -> Void

    public init(paths: PenPaths, initBinary: String, buildTimeout: Double,
                rootLimit: UInt64 = RootTree.defaultMaxBytes, builderVM: @escaping BuilderVM, say: @escaping (String) -> Void) {
        self.paths = paths
        images = ProfileImages(paths: paths)
        base = BaseImage(paths: paths)
        self.initBinary = initBinary
        self.buildTimeout = buildTimeout
        self.rootLimit = rootLimit
        self.builderVM = builderVM
        self.say = say
    }

    /// The image to boot for this profile, building it first when missing, stale or forced.
    public func ensure(_ profile: Profile, force: Bool = false) throws(PenError) -> BootImage {
        try converting { try ensureImage(profile, force: force) }
    }

    private func ensureImage(_ profile: Profile, force: Bool) throws -> BootImage {
        let manifest = try base.ensure(initBinary: initBinary, progress: say)
        let hash = ImageHash.compute(profile: profile, baseIdentity: try base.identity())
        if profile.usesBaseImage {
            return BootImage(kernelPath: base.kernelPath, initrdPath: base.initrdPath, rootImagePath: base.rootImagePath,
                             kernelSHA256: manifest.kernelSHA256, initrdSHA256: manifest.initrdSHA256,
                             rootImageSHA256: manifest.root.sha256, hash: hash, isBase: true)
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
                try build(profile, hash: hash)
            }
        }
        guard let record = images.record(profile.name, hash: hash) else {
            throw PenError("profile '\(profile.name)' image \(images.imageDirectory(profile.name, hash: hash)) is incomplete",
                           fix: "rebuild it with `pen profile build \(profile.name) --force`")
        }
        let rootImage = images.rootImagePath(profile.name, hash: hash)
        try ImageIntegrity.verifyOnce(rootImage, sha256: record.root.sha256, rebuild: "pen profile build \(profile.name) --force")
        // The profile adds nothing before its root is mounted: it boots the base kernel and initrd.
        return BootImage(kernelPath: base.kernelPath, initrdPath: base.initrdPath, rootImagePath: rootImage,
                         kernelSHA256: manifest.kernelSHA256, initrdSHA256: manifest.initrdSHA256,
                         rootImageSHA256: record.root.sha256, hash: hash, isBase: false)
    }

    private func build(_ profile: Profile, hash: String) throws {
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

        progress.enter("writing the root image")
        let archive = work.path + "/root.tar"
        // The files' contents are spooled in the work directory; what they expand to is bounded like the stream.
        let tree = try RootTree.readTar(consuming: archive, spoolDirectory: work.path, maxBytes: rootLimit)
        unlink(archive)
        let root = try ErofsWriter.write(tree, to: work.path + "/" + ProfileImages.rootImageName)
        var phaseSeconds: [String: Double] = [:]
        for (name, seconds) in progress.phases { phaseSeconds[name, default: 0] += (seconds * 100).rounded() / 100 }
        for leftover in ["build.log", "boot.log", "qemu.log", "passt.log", "passt.log.out", "network.log"] { unlink(work.path + "/" + leftover) }
        let record = ProfileImageRecord(
            profile: profile.name, hash: hash,
            inputs: .init(packages: profile.normalizedPackages, build: profile.build,
                          baseIdentity: try base.identity(), builderVersion: ImageHash.builderVersion),
            root: RootImageRecord(root), buildSeconds: (Date().timeIntervalSince(started) * 10).rounded() / 10,
            phaseSeconds: phaseSeconds, createdAt: Date())
        try record.save(to: work.path + "/" + ProfileImages.recordName)
        try publish(work.path, profile: profile.name, hash: hash)
        progress.finish()
        say("pen: profile '\(profile.name)' image ready: \(ByteSize.format(record.root.bytes)) root image (\(ByteSize.format(record.root.unpackedBytes)) of files), built in \(Int(record.buildSeconds)) s")
    }

    private func runBuilderVM(_ profile: Profile, work: String, progress: BuildProgress) throws(PenError) -> SessionOutcome {
        try builderVM(BuilderVMRequest(
            profile: profile.name, kernelPath: base.kernelPath, initrdPath: base.initrdPath,
            rootImagePath: base.rootImagePath, script: BuilderScript.compose(packages: profile.normalizedPackages, build: profile.build),
            allow: profile.buildAllow.map { $0 + BaseImage.aptSourceRules },
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
        for other in images.imageHashes(profile) where other != hash {
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
        // What the build connected to, and what its policy refused (one JSON line each).
        if let connections = try? String(contentsOfFile: work + "/network.log", encoding: .utf8), !connections.isEmpty {
            log += "\n--- builder VM connections (network.log)\n" + connections
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
