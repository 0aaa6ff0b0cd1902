// Where one VM's boot and stop stand, and the one place they change. The supervisor tells its
// state what happened (an event: the guest spoke, QEMU exited, a stop was asked for); `advance`
// takes the transition that event allows from where things stand, or refuses it (nil), and
// returns what the supervisor must do about it (effects, in order). Nothing here does I/O, so
// every transition and every refusal is a unit test (SupervisorStateTests).
import Foundation
import PenCore

/// How far the guest got in this boot.
enum BootPhase: Equatable, Sendable {
    /// QEMU is starting a kernel; the guest's init has not said a word yet.
    case starting
    /// QEMU is loading a boot snapshot; the configuration went at once (the restored guest waits
    /// for it at its snapshot point); the guest has not said a word yet.
    case restoring
    /// The init spoke and is on its way to its snapshot point (a cold guest).
    case booting
    /// The configuration went to the guest, which finishes its boot.
    case configuring
    case ready
    /// Given up (timed out, stalled for good, QEMU gone while booting): nothing starts again.
    case failed

    /// QEMU runs but the init has not spoken (a stall is judged only then).
    var isSilent: Bool { self == .starting || self == .restoring }
    /// Still on its way to ready (the boot timeout counts).
    var isBooting: Bool { self != .ready && self != .failed }
}

/// How far a stop got.
enum StopPhase: Equatable, Sendable {
    case running
    /// Asked for while the guest was booting: the shutdown goes once it is ready.
    case requested
    /// The guest was told to power off then (its deadline counts from there).
    case shutdownSent(at: Date)
    /// A second request, or the shutdown's deadline passed: QEMU was killed.
    case killed
}

/// What the guest is answered once per boot only (a guest repeating the question gets nothing).
struct GuestAnswers: OptionSet, Sendable {
    let rawValue: UInt8
    /// The wall clock and entropy (a guest asking again and again would have the host queue
    /// 16 bytes for each 1 it sends).
    static let freshness = GuestAnswers(rawValue: 1 << 0)
    /// The goodbye to its halt.
    static let halted = GuestAnswers(rawValue: 1 << 1)
    /// The goodbye to its init's failure (the init fails once per boot).
    static let failed = GuestAnswers(rawValue: 1 << 2)
}

/// What happened, as the supervisor tells it.
enum SupervisorEvent: Equatable, Sendable {
    /// The guest's first frames of this boot arrived.
    case guestSpoke
    case snapshotPoint
    /// The boot snapshot that was to be saved was not (another VM saves it, or it failed).
    case snapshotNotSaved
    case guestReady
    case bootFailed(PenError)
    /// The boot's deadline passed: failed, and QEMU killed.
    case bootTimedOut(PenError)
    /// QEMU burnt its CPU budget without a word from the init.
    case stalled
    case qemuExited
    /// A new QEMU runs in place of the last one, started in this mode.
    case restarted(SnapshotBoot)
    case stopRequested
    case shutdownDeadlinePassed
    case guestWantsFresh
    /// A resumed machine was let run (its saved state is gone): no longer silent, never restarted.
    case machineRunning
    case guestHalted
    /// The guest's init failed, saying this (its frame's payload, made printable only when
    /// taken: a guest repeating it costs the host nothing).
    case guestFailed([UInt8])
}

/// What the supervisor does about a transition.
enum SupervisorEffect: Equatable, Sendable {
    /// Records how long QEMU took until the guest's first word.
    case recordFirstWord
    case saveSnapshot
    case sendConfig
    case reportReady
    case openWaitingSessions
    case sendShutdown
    /// Every client in a session learns the VM is stopping.
    case tellStopping
    case kill
    case reportBootFailure(PenError)
    /// Kills the stalled QEMU and starts it again as before.
    case restartStalled
    /// Says the stall is final and why (the boot failure is reported with it).
    case giveUpStalled
    /// Drops the snapshot QEMU could not restore and boots cold.
    case bootColdInstead
    case sendFreshness
    case sendGoodbye
    /// A resumed machine: let it run and tell the guest (its configuration it has).
    case resumeGuest
}

struct SupervisorState: Sendable {
    /// Boots of one VM the supervisor starts at most (the first and two after stalls).
    static let maxBootAttempts = 3

    private(set) var boot: BootPhase
    private(set) var stop: StopPhase = .running
    /// How the running QEMU started (a failed restore falls back to cold; a snapshot that was
    /// not saved leaves a plain cold boot).
    private(set) var mode: SnapshotBoot
    private(set) var attempts = 1
    private(set) var answered: GuestAnswers = []
    /// What the guest's init said when it failed: the first one only.
    private(set) var guestFailure: String?
    /// Whether QEMU can be started again at all.
    let restartable: Bool

    init(mode: SnapshotBoot, restartable: Bool) {
        self.mode = mode
        self.restartable = restartable
        boot = mode.isRestore ? .restoring : .starting
    }

    /// Effects the supervisor performs right after it starts QEMU the first time.
    var initialEffects: [SupervisorEffect] {
        guard boot == .restoring else { return [] }
        return mode.isResume ? [.resumeGuest] : [.sendConfig]
    }

    var isStopping: Bool { stop != .running }

    /// Takes the transition `event` allows from here: its effects, or nil when it is refused.
    mutating func advance(_ event: SupervisorEvent, now: Date = Date()) -> [SupervisorEffect]? {
        switch (event, boot) {
        case (.guestSpoke, .starting):
            boot = .booting
            return [.recordFirstWord]
        case (.guestSpoke, .restoring):
            boot = .configuring
            return [.recordFirstWord]
        case (.guestSpoke, _):
            return nil

        case (.snapshotPoint, .booting):
            boot = .configuring
            if case .save = mode { return [.saveSnapshot, .sendConfig] }
            return [.sendConfig]
        case (.snapshotPoint, _):
            return nil  // configured already (or a guest that is no longer booting)

        case (.machineRunning, .restoring):
            boot = .configuring
            return []
        case (.machineRunning, _):
            return nil

        case (.snapshotNotSaved, _):
            guard case .save = mode else { return nil }
            mode = .cold
            return []

        case (.guestReady, .booting), (.guestReady, .configuring):
            boot = .ready
            var effects: [SupervisorEffect] = [.reportReady, .openWaitingSessions]
            if stop == .requested {  // asked for while the guest was booting
                stop = .shutdownSent(at: now)
                effects.append(.sendShutdown)
            }
            return effects
        case (.guestReady, _):
            return nil  // once per boot: a guest repeating it changes nothing

        case (.bootFailed(let error), let phase) where phase.isBooting:
            boot = .failed
            return [.reportBootFailure(error)]
        case (.bootTimedOut(let error), let phase) where phase.isBooting:
            boot = .failed
            return [.reportBootFailure(error), .kill]
        case (.bootFailed, _), (.bootTimedOut, _):
            return nil

        case (.stalled, let phase) where phase.isSilent && stop == .running:
            guard attempts < Self.maxBootAttempts, restartable else {
                boot = .failed  // judged once
                return [.giveUpStalled, .kill]
            }
            return [.restartStalled]
        case (.stalled, _):
            return nil

        case (.qemuExited, .restoring) where stop == .running && restartable:
            return [.bootColdInstead]
        case (.qemuExited, _):
            return nil  // the VM is down

        case (.restarted(let newMode), let phase) where phase.isSilent:
            mode = newMode
            attempts += 1
            answered = []
            boot = newMode.isRestore ? .restoring : .starting
            return newMode.isRestore ? (newMode.isResume ? [.resumeGuest] : [.sendConfig]) : []
        case (.restarted, _):
            return nil

        case (.stopRequested, _), (.shutdownDeadlinePassed, _):
            return advanceStop(event, now: now)

        case (.guestWantsFresh, _):
            return answerOnce(.freshness, [.sendFreshness])
        case (.guestHalted, _):
            return answerOnce(.halted, [.sendGoodbye])
        case (.guestFailed(let said), _):
            guard let effects = answerOnce(.failed, [.sendGoodbye]) else { return nil }
            guestFailure = GuestText.printable(said)
            return effects
        }
    }

    /// The stop's transitions: the first request tells a ready guest to power off (a booting
    /// init could not take it: it is told once ready); the second, or the deadline, kills QEMU.
    private mutating func advanceStop(_ event: SupervisorEvent, now: Date) -> [SupervisorEffect]? {
        switch (event, stop) {
        case (.stopRequested, .running):
            guard boot == .ready else {
                stop = .requested
                return [.tellStopping]
            }
            stop = .shutdownSent(at: now)
            return [.sendShutdown, .tellStopping]
        case (.stopRequested, _):
            stop = .killed  // pull the plug
            return [.kill, .tellStopping]
        case (.shutdownDeadlinePassed, .shutdownSent):
            stop = .killed  // the guest cannot move its deadline
            return [.kill]
        default:
            return nil
        }
    }

    private mutating func answerOnce(_ answer: GuestAnswers, _ effects: [SupervisorEffect]) -> [SupervisorEffect]? {
        guard !answered.contains(answer) else { return nil }
        answered.insert(answer)
        return effects
    }
}
