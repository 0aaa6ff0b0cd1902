// A boot that stalls in the guest kernel. Under TCG, about one boot in a hundred on a loaded
// host spins forever late in the kernel's start-up (both vCPUs busy, the console silent, before
// init runs: see plans/07-running-sandboxes.md). Nothing of the VM exists yet at that point —
// the init has not mounted the disk — so the supervisor starts QEMU again. A stall is judged by
// the CPU QEMU has burnt without a word from the init, not by wall time, so a slow boot on a
// crowded host is never mistaken for one.
import Foundation
import PenCore
import Glibc

extension Supervisor {
    /// CPU seconds QEMU may use before the init greets it (a TCG boot to init uses about 5).
    static let stallCPUSeconds = 60.0
    static let stallCheckInterval = 1.0
    static let maxBootAttempts = 3

    func checkForStall() {
        guard !halted, stopRequests == 0, let used = vm.process.cpuSeconds, used > Self.stallCPUSeconds else { return }
        let name = plan.spec.name
        guard bootAttempts < Self.maxBootAttempts, restartVM != nil else {
            bootFailed(PenError("VM '\(name)' stalled in its kernel before the init started (\(bootAttempts) attempts)",
                                fix: "boot log: \(plan.spec.bootLogPath)"))
            vm.process.kill()
            guestHeard = true  // judged once
            return
        }
        log("pen: VM '\(name)' stalled in its kernel before the init started (QEMU used \(Int(used)) s of CPU); starting it again")
        vm.process.kill()
        _ = vm.process.wait(seconds: 10)
        vm.held?.closeAll()  // the old control link closes as it is replaced below
        do {
            try startAgain(bootMode)
        } catch {
            bootFailed(error)
            return  // the old QEMU's exit ends the loop
        }
    }

    /// A new QEMU in place of the one that is gone, and a new control link to it.
    func startAgain(_ mode: SnapshotBoot) throws(PenError) {
        guard let restartVM else { throw PenError("VM '\(plan.spec.name)' cannot be started again") }
        vm.passt = nil  // the old boot's passt goes first (killed, reaped): the new one binds the same ports
        vm = try restartVM(mode)
        vmStartedAt = Date()
        bootAttempts += 1
        bootMode = mode
        configSent = false
        freshnessSent = false
        guest = Self.link(to: vm)
        if case .restore = mode { sendConfig() }
    }
}
