// Saving a suspended machine: stopped first (a busy guest's memory would not converge under a
// live migration, and the saved stream then restores paused: its supervisor lets it run), then
// migrated into a file pen created and passed to QEMU over QMP, synced, hashed and published
// with its record in one rename. And, on resume, waiting until QEMU has loaded it.
import Foundation
import PenCore
import Glibc

enum SuspendSaver {
    struct Saved {
        var bytes: UInt64
        var seconds: Double
    }

    static func save(_ qmp: QMPClient, store: SuspendStore, key: String, deadline: Date) throws(PenError) -> Saved {
        ScratchDirectory.sweep(in: store.vmPath, prefixes: [".suspend-", ".old-suspended-"])
        let scratch = try ScratchDirectory(in: store.vmPath, prefix: ".suspend-")
        let path = scratch.path + "/" + SuspendStore.stateName
        let file: Int32
        do throws(PenError) {
            file = try SafeFiles.openNoFollow(path, O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
        } catch {
            scratch.remove()
            throw error
        }
        defer { close(file) }
        let started = Date()
        do throws(PenError) {
            try qmp.execute("stop", deadline: deadline)
            try SnapshotSaver.migrate(qmp, into: file, deadline: deadline)
            guard fsync(file) == 0 else { throw PenError.system("cannot sync the suspended state") }
            let seconds = Date().timeIntervalSince(started)
            let bytes = SnapshotSaver.fileSize(path)
            let record = SuspendRecord(key: key, sha256: try SHA256File.hex(path: path), bytes: bytes,
                                       saveSeconds: (seconds * 100).rounded() / 100, createdAt: Date())
            try SafeFiles.writeAtomically(Array(try converting { try PenJSON.encode(record) }) + [0x0a],
                                          to: scratch.path + "/" + SuspendStore.recordName, mode: 0o600)
            try store.publish(scratch.path)
            return Saved(bytes: bytes, seconds: seconds)
        } catch {
            SnapshotSaver.abandon(qmp)  // cancels a migration under way; the machine runs again
            scratch.remove()
            throw error
        }
    }

    /// Until QEMU has loaded the incoming machine (it then waits, paused, as it was saved).
    static func awaitLoaded(_ qmp: QMPClient, deadline: Date) throws(PenError) {
        while true {
            let status = (try qmp.execute("query-status", deadline: deadline) as? [String: Any])?["status"] as? String
            switch status {
            case "inmigrate": break
            case "paused", "postmigrate", "prelaunch", "running": return
            default: throw PenError("QEMU could not load the suspended machine (status \(status ?? "unknown"))")
            }
            guard Date() < deadline else { throw PenError("QEMU did not load the suspended machine in time") }
            usleep(20_000)
        }
    }
}
