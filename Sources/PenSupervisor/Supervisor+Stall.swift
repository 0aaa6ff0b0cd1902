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

    /// While the init is silent: a QEMU past its CPU budget stalled (SupervisorState decides
    /// whether it starts again or the boot fails).
    func checkForStall() {
        guard let used = vm.process.cpuSeconds, used > Self.stallCPUSeconds else { return }
        advance(.stalled)
    }

    func restartStalled() {
        log("pen: VM '\(plan.spec.name)' stalled in its kernel before the init started (QEMU used \(Int(vm.process.cpuSeconds ?? 0)) s of CPU); starting it again")
        vm.process.kill()
        _ = vm.process.wait(seconds: 10)
        vm.held?.closeAll()  // the old control link closes as it is replaced below
        do {
            try startAgain(state.mode)
        } catch {
            advance(.bootFailed(error))  // the old QEMU's exit ends the loop
        }
    }

    /// A new QEMU in place of the one that is gone, and a new control link to it.
    func startAgain(_ mode: SnapshotBoot) throws(PenError) {
        guard let restartVM else { throw PenError("VM '\(plan.spec.name)' cannot be started again") }
        vm.passt = nil  // the old boot's passt goes first (killed, reaped): the new one binds the same ports
        stopRelay()
        closeRelayPort()
        vm = try restartVM(mode)
        vmStartedAt = Date()
        guest = Self.link(to: vm)
        if !mode.isResume { startRelay() }
        advance(.restarted(mode))  // a restored guest gets its configuration at once
    }
}
