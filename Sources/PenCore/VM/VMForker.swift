// `pen vm fork SRC NEW` of a stopped (or suspended) VM: NEW gets a copy of SRC's disk (a reflink,
// or its allocated extents: the cost follows what SRC wrote) and SRC's record under its own name,
// so it boots as its own machine (its hostname is its name). A suspended SRC's disk is clean (frozen
// before the save); its saved machine stays SRC's. Forking a running VM is not built yet.
import Foundation
import Glibc

public struct ForkOutcome: Sendable {
    public var copy: DiskCopy.Outcome
    public var seconds: Double
    /// SRC was suspended: its processes were not forked (NEW boots its disk).
    public var sourceSuspended: Bool
}

public enum VMForker {
    public static func fork(_ source: VMDirectory, into target: VMDirectory) throws(PenError) -> ForkOutcome {
        let started = Date()
        try source.refuseLinks()
        try target.refuseLinks()
        guard source.exists else { throw PenError("no VM named '\(source.name)'", fix: "see `pen vm ls`") }
        guard !SafeFiles.exists(target.path) else {
            throw PenError("VM '\(target.name)' exists already", fix: "choose another name, or remove it with `pen vm rm \(target.name)`")
        }
        let sourceLock: VMLock
        do { sourceLock = try VMLock.stopped(source) } catch {
            throw PenError("VM '\(source.name)' is running; forking a running VM is not built yet",
                           fix: "stop it (`pen vm stop \(source.name)`) or suspend it (`pen vm suspend \(source.name)`) first")
        }
        defer { withExtendedLifetime(sourceLock) {} }
        let record = try source.load()
        try SafeFiles.refuseSymlink(source.diskPath)

        guard mkdir(target.path, 0o700) == 0 else {
            if errno == EEXIST { throw PenError("VM '\(target.name)' exists already", fix: "choose another name") }
            throw PenError.system("cannot create directory \(target.path)")
        }
        do throws(PenError) {
            let targetLock = try VMLock(path: target.lockPath, vmName: target.name)
            defer { withExtendedLifetime(targetLock) {} }
            let (copy, _) = try DiskCopy.copyFile(source.diskPath, to: target.diskPath, what: "the disk of VM '\(target.name)'")
            var forked = VMRecord(name: target.name.value, diskSize: record.diskSize, profile: record.profile,
                                  setupHash: record.setupHash, cpus: record.cpus, memoryMiB: record.memoryMiB)
            forked.network = record.network
            forked.allow = record.allow
            try target.save(forked)  // last: a record exists only for a complete VM
            return ForkOutcome(copy: copy, seconds: Date().timeIntervalSince(started),
                               sourceSuspended: SuspendStore(vmPath: source.path).exists)
        } catch {
            try? FileManager.default.removeItem(atPath: target.path)
            throw error
        }
    }
}
