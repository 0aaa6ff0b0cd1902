// Saving a boot snapshot: at the guest's snapshot point the supervisor has QEMU migrate the
// machine into a file pen created (passed over QMP, never a path QEMU opens), lets the machine
// run on, then checksums the file and publishes it with its record. Under a lock per
// key: a second VM of the same shape saving at the same moment just boots on.
import Foundation
import PenCore
import Glibc

enum SnapshotSaver {
    /// The whole migration may take this long (a 2 GiB guest's used pages, written locally,
    /// take about a second here).
    static let migrationTimeout = 30.0

    /// Saves; returns how long the migration took, or nil when nothing was saved (and why, logged).
    static func save(monitor: () throws(PenError) -> QMPClient, store: BootSnapshotStore, key: SnapshotKey,
                     log: (String) -> Void) -> Double? {
        let hash = key.hash
        do throws(PenError) {
            try SafeFiles.makeDirectories(store.root)
        } catch {
            log("pen: cannot save a boot snapshot: \(error.message)")
            return nil
        }
        guard let lock = BuildLock.attempt(path: store.lockPath(hash)) else { return nil }  // another VM saves it
        defer { withExtendedLifetime(lock) {} }
        if store.record(hash) != nil { return nil }
        ScratchDirectory.sweep(in: store.root, prefixes: [".save-", ".old-"])
        let scratch: ScratchDirectory
        let file: Int32
        do throws(PenError) {
            scratch = try ScratchDirectory(in: store.root, prefix: ".save-")
            file = try SafeFiles.openNoFollow(scratch.path + "/" + BootSnapshotStore.stateName,
                                              O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
        } catch {
            log("pen: cannot save a boot snapshot: \(error.message)")
            return nil
        }
        defer { close(file) }
        let started = Date()
        let qmp: QMPClient
        do throws(PenError) {
            qmp = try monitor()
            try migrate(qmp, into: file, deadline: started.addingTimeInterval(migrationTimeout))
            try qmp.execute("cont", deadline: started.addingTimeInterval(migrationTimeout))
        } catch {
            if let client = try? monitor() { abandon(client) }
            log("pen: the boot snapshot was not saved: \(error.message)")
            scratch.remove()
            return nil
        }
        let seconds = Date().timeIntervalSince(started)
        do throws(PenError) {
            guard fsync(file) == 0 else { throw PenError.system("cannot sync the boot snapshot") }
            let path = scratch.path + "/" + BootSnapshotStore.stateName
            let record = BootSnapshotRecord(key: hash, inputs: key, sha256: try SHA256File.hex(path: path),
                                            bytes: fileSize(path), saveSeconds: (seconds * 100).rounded() / 100,
                                            createdAt: Date())
            try SafeFiles.writeAtomically(Array(try converting { try PenJSON.encode(record) }) + [0x0a],
                                          to: scratch.path + "/" + BootSnapshotStore.recordName)
            try store.publish(scratch.path, key: hash)
        } catch {
            log("pen: the boot snapshot was not saved: \(error.message)")
            scratch.remove()
            return nil
        }
        return seconds
    }

    /// Migrates the machine into `file` until QEMU says it completed. A boot snapshot's machine is
    /// not stopped first (the caller lets it run on after): its stream then restores running, so
    /// every VM started from it runs without a word to its monitor; the guest sits idle at its
    /// snapshot point, so the few pages it dirties converge at once. A suspend stops it first.
    static func migrate(_ qmp: QMPClient, into file: Int32, deadline: Date) throws(PenError) {
        try qmp.execute("getfd", ["fdname": "snapshot"], passing: file, deadline: deadline)
        try qmp.execute("migrate", ["uri": "fd:snapshot"], deadline: deadline)
        while true {
            let state = try qmp.execute("query-migrate", deadline: deadline) as? [String: Any]
            switch state?["status"] as? String {
            case "completed":
                return
            case "failed", "cancelled":
                throw PenError("QEMU's migration \(state?["status"] as? String ?? "failed")",
                               cause: state?["error-desc"] as? String)
            default:
                guard Date() < deadline else { throw PenError("QEMU's migration did not finish in time") }
                usleep(20_000)
            }
        }
    }

    /// A migration that failed or ran out of time: cancelled (a `cont` during an active one does
    /// nothing, and a completing one would leave the machine paused), then the machine runs on.
    static func abandon(_ qmp: QMPClient) {
        let deadline = Date().addingTimeInterval(10)
        _ = try? qmp.execute("migrate_cancel", deadline: deadline)
        while Date() < deadline {
            let state = (try? qmp.execute("query-migrate", deadline: deadline)) as? [String: Any]
            let status = state?["status"] as? String ?? "none"
            if !["active", "setup", "cancelling", "pre-switchover", "device"].contains(status) { break }
            usleep(20_000)
        }
        _ = try? qmp.execute("cont", deadline: deadline)
    }

    static func fileSize(_ path: String) -> UInt64 {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_size) : 0
    }
}
