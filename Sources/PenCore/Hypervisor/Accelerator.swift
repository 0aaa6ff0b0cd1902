// KVM when it can boot an ordinary kernel here, TCG otherwise.
import Foundation

public enum Accelerator: String, Sendable, Codable {
    case kvm, tcg
}

public enum AcceleratorChoice: String, Sendable, CaseIterable {
    case auto, kvm, tcg
}

public struct KVMProbe: Sendable {
    public let usable: Bool
    /// Why KVM cannot be used (empty when it can).
    public let reason: String

    /// Checks /dev/kvm, the CPU's virtualisation flags, and for a PVM host (whose KVM
    /// cannot boot an ordinary kernel: QEMU asserts or hangs).
    public static func run(devicePath: String = "/dev/kvm", cpuinfo: String? = nil,
                           pvmModulePath: String = "/sys/module/kvm_pvm") -> KVMProbe {
        guard FileManager.default.fileExists(atPath: devicePath) else {
            return KVMProbe(usable: false, reason: "\(devicePath) does not exist (load kvm_intel or kvm_amd, or enable virtualisation)")
        }
        let fd = open(devicePath, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            let why = String(cString: strerror(errno))
            return KVMProbe(usable: false, reason: "cannot open \(devicePath): \(why) (add your user to the kvm group)")
        }
        close(fd)
        if FileManager.default.fileExists(atPath: pvmModulePath) {
            return KVMProbe(usable: false, reason: "this host's KVM is the PVM flavour, which cannot boot an ordinary kernel")
        }
        let info = cpuinfo ?? (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let flags = info.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ") ?? []
        guard flags.contains("vmx") || flags.contains("svm") else {
            return KVMProbe(usable: false, reason: "the CPU offers neither vmx nor svm")
        }
        return KVMProbe(usable: true, reason: "")
    }

    public init(usable: Bool, reason: String) {
        self.usable = usable
        self.reason = reason
    }
}

extension Accelerator {
    /// Resolves a choice; `notice` receives the one-line fallback message.
    public static func resolve(_ choice: AcceleratorChoice, probe: () -> KVMProbe = { KVMProbe.run() },
                               notice: (String) -> Void) throws(PenError) -> Accelerator {
        switch choice {
        case .tcg: return .tcg
        case .kvm:
            let p = probe()
            guard p.usable else { throw PenError("--accel kvm: KVM is not usable: \(p.reason); use --accel tcg") }
            return .kvm
        case .auto:
            let p = probe()
            if p.usable { return .kvm }
            notice("pen: KVM not usable (\(p.reason)); using TCG software emulation (slower)")
            return .tcg
        }
    }
}

/// The host's TSC frequency in kHz, passed to a TCG guest so its TSC calibration cannot hang.
public func hostTSCKilohertz(cpuinfo: String? = nil) -> Int? {
    let info = cpuinfo ?? (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    guard let line = info.split(separator: "\n").first(where: { $0.hasPrefix("cpu MHz") }),
          let value = line.split(separator: ":").last.flatMap({ Double($0.trimmingCharacters(in: " ")) }) else { return nil }
    return Int(value * 1000)
}
