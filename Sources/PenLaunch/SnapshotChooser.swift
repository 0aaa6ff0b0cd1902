// Whether a VM boots cold, restores its shape's boot snapshot, or boots cold and saves one.
import Foundation
import PenCore
import ProfileBuilder

struct SnapshotChooser {
    let paths: PenPaths
    let environment: [String: String]
    let say: (String) -> Void

    /// The mode for `spec` (built with `.cold`), the verified state's descriptor when restoring
    /// (the caller hands it to the supervisor and closes it), and, when saving, what the snapshot
    /// depends on. `--cold` or PEN_SNAPSHOT=0: cold, nothing restored or saved.
    func choose(_ spec: VMSpec, image: BootImage, qemu: QEMU, cold: Bool) -> (SnapshotBoot, Int32?, SnapshotKey?) {
        if cold || environment["PEN_SNAPSHOT"] == "0" { return (.cold, nil, nil) }
        let key = SnapshotKey(kernelSHA256: image.kernelSHA256, initrdSHA256: image.initrdSHA256,
                              rootImageSHA256: image.rootImageSHA256, qemu: qemu.identity,
                              hostCPU: spec.accelerator == .kvm ? Self.hostCPU() : "tcg",
                              machine: QEMU.machineShape(spec), qemuUID: spec.qemuUser?.uid ?? geteuid())
        let store = BootSnapshotStore(paths: paths)
        let hash = key.hash
        if let record = store.record(hash) {
            do throws(PenError) {
                let state = try ImageIntegrity.openVerified(store.statePath(hash), sha256: record.sha256,
                                                            rebuild: "pen shell --cold")
                return (.restore(state: store.statePath(hash), key: hash), state, key)
            } catch {
                say("pen: the boot snapshot \(hash.prefix(12)) is damaged (\(error.message)); booting cold to save it again")
                store.remove(hash)
            }
        } else {
            say("pen: booting cold once to save a boot snapshot of this machine; later boots restore it")
        }
        return (.save(key: hash), nil, key)
    }

    /// Under KVM the guest sees the host's CPU (`-cpu host`): a snapshot is only good on the same one.
    static func hostCPU() -> String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let lines = info.split(separator: "\n").filter { $0.hasPrefix("model name") || $0.hasPrefix("flags") }
        return SHA256File.hex(bytes: Array(Set(lines).sorted().joined(separator: "\n").utf8))
    }
}
