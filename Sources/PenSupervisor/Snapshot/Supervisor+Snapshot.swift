// The supervisor's side of boot snapshots: at a cold guest's snapshot point it saves the
// machine (when asked to), then sends the configuration; a restored guest gets it at once.
// A restore QEMU could not load (a snapshot from another QEMU build, a damaged file that
// slipped past its checksum) is not fatal: the snapshot goes, and the VM boots cold.
import Foundation
import PenCore
import PenWire

extension Supervisor {
    /// At a cold guest's snapshot point, before its configuration goes (SupervisorState: the
    /// transition to `configuring` when the boot is to save one).
    func saveBootSnapshot() {
        if vm.monitor != nil, let store = plan.snapshotStore, let key = plan.snapshotKey {
            let started = Date()
            let deadline = started.addingTimeInterval(SnapshotSaver.migrationTimeout)
            if let seconds = SnapshotSaver.save(monitor: { () throws(PenError) in try monitor(deadline: deadline) },
                                                store: BootSnapshotStore(root: store), key: key, log: log) {
                log("pen: saved the boot snapshot \(key.hash.prefix(12)) in \(String(format: "%.1f", seconds)) s")
            } else {
                advance(.snapshotNotSaved)  // another VM saves it, or it failed: a plain cold boot
            }
            // The save is not the guest's boot time: its deadline moves by what the save took.
            bootClockStart = bootClockStart.addingTimeInterval(Date().timeIntervalSince(started))
        }
        // The monitor stays for the VM's life: a suspend saves the machine through it too.
    }

    /// The wall clock and fresh entropy, as the guest asks for them after its configuration.
    func sendFreshness() {
        guest.send(.fresh(Self.freshness()))
        guest.flush()
    }

    /// QEMU exited while restoring (before the guest said a word, no stop asked for): the
    /// snapshot goes and the VM boots cold.
    func bootColdInstead() {
        let why = lastLines(of: plan.spec.qemuLogPath, count: 2)
        if state.mode.isResume {
            // The disk was frozen clean before the save: it boots on its own; the processes are gone.
            let line = "VM '\(plan.spec.name)' could not be resumed\(why.isEmpty ? "" : " (\(why))"); booting its disk, its processes were not kept"
            log("pen: " + line)
            bootNotices.append(Frame(.notice, text: line))
            if let store = plan.suspendStore { SuspendStore(vmPath: store).remove() }
        } else {
            log("pen: VM '\(plan.spec.name)' could not be restored from its boot snapshot\(why.isEmpty ? "" : " (\(why))"); booting it cold")
        }
        if case .restore(_, let key) = state.mode, let store = plan.snapshotStore { BootSnapshotStore(root: store).remove(key) }
        do {
            try startAgain(.cold)
        } catch {
            advance(.bootFailed(error))
        }
    }
}
