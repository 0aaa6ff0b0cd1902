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
        do throws(PenError) {
            let state = try ImageIntegrity.openVerified(store.statePath, sha256: record.sha256, rebuild: "pen vm start \(vmName)")
            return SnapshotChoice(boot: .resume(state: store.statePath), state: state, key: nil)
        } catch {
            say("pen: the suspended machine of VM '\(vmName)' is damaged (\(Self.reason(error))); \(lost)")
            store.remove()
            return nil
        }
    }

    /// ImageIntegrity speaks of image files and how to rebuild them; here only what is wrong counts.
    static func reason(_ error: PenError) -> String {
        if error.message.contains("SHA-256") { return "its state does not match its recorded SHA-256" }
        if error.message.contains("symlink") { return "its state is a symlink" }
        return "its state cannot be read"
    }
}
