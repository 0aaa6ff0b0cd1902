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
        if let monitor = vm.monitor, let store = plan.snapshotStore, let key = plan.snapshotKey {
            let started = Date()
            if let seconds = SnapshotSaver.save(monitor: monitor, store: BootSnapshotStore(root: store), key: key, log: log) {
                log("pen: saved the boot snapshot \(key.hash.prefix(12)) in \(String(format: "%.1f", seconds)) s")
            } else {
                advance(.snapshotNotSaved)  // another VM saves it, or it failed: a plain cold boot
            }
            // The save is not the guest's boot time: its deadline moves by what the save took.
            bootClockStart = bootClockStart.addingTimeInterval(Date().timeIntervalSince(started))
        }
        // QEMU's monitor is for the save only: closed now, nothing of it stays for the VM's life.
        if let monitor = vm.monitor {
            if let held = vm.held { held.close(monitor) } else { close(monitor) }
            vm.monitor = nil
        }
    }

    /// The wall clock and fresh entropy, as the guest asks for them after its configuration.
    func sendFreshness() {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var generator = SystemRandomNumberGenerator()
        let entropy = (0..<Freshness.entropyBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
        guest.send(.fresh(Freshness(seconds: Int64(now.tv_sec), nanoseconds: Int32(now.tv_nsec), entropy: entropy)))
        guest.flush()
    }

    /// QEMU exited while restoring (before the guest said a word, no stop asked for): the
    /// snapshot goes and the VM boots cold.
    func bootColdInstead() {
        let why = lastLines(of: plan.spec.qemuLogPath, count: 2)
        log("pen: VM '\(plan.spec.name)' could not be restored from its boot snapshot\(why.isEmpty ? "" : " (\(why))"); booting it cold")
        if case .restore(_, let key) = state.mode, let store = plan.snapshotStore { BootSnapshotStore(root: store).remove(key) }
        do {
            try startAgain(.cold)
        } catch {
            advance(.bootFailed(error))
        }
    }
}
