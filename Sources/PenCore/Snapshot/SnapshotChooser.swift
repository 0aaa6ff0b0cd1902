// Whether a VM restores its shape's boot snapshot or boots cold and saves one (a boot that is
// to stay cold — `--cold`, PEN_SNAPSHOT=0, a builder — never asks). Beside the store it reads.
import Foundation

/// The snapshot side of one boot.
public struct SnapshotChoice {
    public var boot: SnapshotBoot
    /// When restoring: the verified state's descriptor (the caller hands it to the supervisor and closes it).
    public var state: Int32?
    /// When saving: what the snapshot depends on, recorded beside it.
    public var key: SnapshotKey?

    public init(boot: SnapshotBoot, state: Int32? = nil, key: SnapshotKey? = nil) {
        self.boot = boot
        self.state = state
        self.key = key
    }
}

public struct SnapshotChooser {
    public let store: BootSnapshotStore
    let say: (String) -> Void

    public init(store: BootSnapshotStore, say: @escaping (String) -> Void) {
        self.store = store
        self.say = say
    }

    /// The choice for `spec` (its image paths filled, booting `.cold`), from the images' recorded
    /// SHA-256s and the QEMU that will run it: restore a snapshot whose state still matches its
    /// record, else boot cold and save one (a damaged one is said and removed first).
    public func choose(_ spec: VMSpec, kernelSHA256: String, initrdSHA256: String, rootImageSHA256: String,
                       qemu: QEMU) -> SnapshotChoice {
        let key = Self.key(spec, kernelSHA256: kernelSHA256, initrdSHA256: initrdSHA256, rootImageSHA256: rootImageSHA256, qemu: qemu)
        let hash = key.hash
        if let record = store.record(hash) {
            do throws(PenError) {
                let state = try ImageIntegrity.openVerified(store.statePath(hash), sha256: record.sha256,
                                                            rebuild: "pen shell --cold")
                return SnapshotChoice(boot: .restore(state: store.statePath(hash), key: hash), state: state, key: key)
            } catch {
                say("pen: the boot snapshot \(hash.prefix(12)) is damaged (\(error.message)); booting cold to save it again")
                store.remove(hash)
            }
        } else {
            say("pen: booting cold once to save a boot snapshot of this machine; later boots restore it")
        }
        return SnapshotChoice(boot: .save(key: hash), state: nil, key: key)
    }

    /// What a saved machine of `spec` depends on (a boot snapshot's key; a suspend's too).
    public static func key(_ spec: VMSpec, kernelSHA256: String, initrdSHA256: String, rootImageSHA256: String,
                           qemu: QEMU) -> SnapshotKey {
        SnapshotKey(kernelSHA256: kernelSHA256, initrdSHA256: initrdSHA256, rootImageSHA256: rootImageSHA256,
                    qemu: qemu.identity, hostCPU: spec.accelerator == .kvm ? hostCPU() : "tcg",
                    machine: QEMU.machineShape(spec), qemuUID: spec.qemuUser?.uid ?? geteuid())
    }

    /// Under KVM the guest sees the host's CPU (`-cpu host`): a snapshot is only good on the same one.
    static func hostCPU() -> String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let lines = info.split(separator: "\n").filter { $0.hasPrefix("model name") || $0.hasPrefix("flags") }
        return SHA256File.hex(bytes: Array(Set(lines).sorted().joined(separator: "\n").utf8))
    }
}
