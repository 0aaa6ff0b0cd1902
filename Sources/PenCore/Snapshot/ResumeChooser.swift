// Whether a boot resumes the VM's suspended machine: only one that fits this boot's machine
// exactly (images, QEMU, shape: the key recorded with it) and whose state still matches its
// recorded SHA-256. Anything else is said in one line and dropped: the disk, frozen clean before
// the save, boots on its own, and the processes are not kept.
import Foundation

public enum ResumeChooser {
    /// The resume for `vm`, or nil (nothing suspended, or dropped with a line said).
    public static func choose(vmName: String, store: SuspendStore, key: SnapshotKey, cold: Bool,
                              say: (String) -> Void) -> SnapshotChoice? {
        guard store.exists else { return nil }
        let lost = "booting its disk; its processes were not kept"
        guard let record = store.record() else {
            say("pen: the suspended machine of VM '\(vmName)' is incomplete; \(lost)")
            store.remove()
            return nil
        }
        guard !cold else {
            say("pen: --cold: the suspended machine of VM '\(vmName)' is dropped; \(lost)")
            store.remove()
            return nil
        }
        guard record.key == key.hash else {
            say("pen: VM '\(vmName)' was suspended by another pen, QEMU or machine shape; \(lost)")
            store.remove()
            return nil
        }
        do throws(ImageIntegrity.Problem) {
            // Read once, so hashed now and never stamped.
            let state = try ImageIntegrity.openChecked(store.statePath, sha256: record.sha256, stamped: false)
            return SnapshotChoice(boot: .resume(state: store.statePath), state: state, key: nil)
        } catch {
            say("pen: the suspended machine of VM '\(vmName)' is damaged (\(Self.reason(error))); \(lost)")
            store.remove()
            return nil
        }
    }

    static func reason(_ problem: ImageIntegrity.Problem) -> String {
        switch problem {
        case .mismatch: return "its state does not match its recorded SHA-256"
        case .symlink: return "its state is a symlink"
        case .unopenable, .notRegular, .unreadable: return "its state cannot be read"
        }
    }
}
