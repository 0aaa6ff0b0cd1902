// The supervisor acting on its state: every change of the boot's or the stop's phase goes
// through `advance`, which hands the event to SupervisorState and performs what the transition
// asks for, in order. A refused transition does nothing.
import Foundation
import PenCore
import PenWire

extension Supervisor {
    /// Hands `event` to the state and performs the transition's effects; whether it was taken.
    @discardableResult
    func advance(_ event: SupervisorEvent) -> Bool {
        guard let effects = state.advance(event, now: Date()) else { return false }
        effects.forEach(perform)
        return true
    }

    func perform(_ effect: SupervisorEffect) {
        switch effect {
        case .recordFirstWord:
            // QEMU's start until the guest's first word: a cold kernel's boot, or a restore.
            stages[BootStage.qemuToGuest.rawValue] = UInt64(max(0, Date().timeIntervalSince(vmStartedAt)) * 1_000_000)
        case .saveSnapshot: saveBootSnapshot()
        case .sendConfig:
            for frame in plan.boot.frames() { guest.send(frame) }
            guest.flush()
        case .reportReady: reportBoot(nil)
        case .openWaitingSessions:
            for client in sessions.clients { if let session = client.session, !session.ended { openInGuest(session) } }
        case .sendShutdown:
            // Its deadline counts from now, whatever the guest sends meanwhile.
            guest.send(.status(.shutdown, SIGTERM))
            guest.flush()
        case .tellStopping:
            for client in sessions.inSession { client.link.send(Frame(.stopping)) }
        case .kill: vm.process.kill()
        case .reportBootFailure(let error): reportBoot(error)
        case .restartStalled: restartStalled()
        case .giveUpStalled:
            reportBoot(PenError("VM '\(plan.spec.name)' stalled in its kernel before the init started (\(state.attempts) attempts)",
                                fix: "boot log: \(plan.spec.bootLogPath)"))
        case .bootColdInstead: bootColdInstead()
        case .sendFreshness: sendFreshness()
        case .sendGoodbye: guest.send(Frame(.goodbye))
        case .resumeGuest: resumeGuest()
        }
    }

    /// Shutdown asked for (by a signal, a client, the last session's end, the idle timer). First
    /// request: the guest ends every session and powers off (once it is ready: a booting init
    /// could not take it). Second: pull the plug.
    func requestStop() {
        advance(.stopRequested)
    }

    /// `onBoot` is told once: nil when the guest is ready, else why the boot failed.
    private func reportBoot(_ error: PenError?) {
        onBoot?(error)
        onBoot = nil
    }
}
