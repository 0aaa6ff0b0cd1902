// The supervisor's state machine alone: every transition it takes, with its effects, and every
// one it refuses (nil, and nothing changed), without a VM, a guest or a socket.
import Foundation
import Testing
@testable import PenCore
@testable import PenSupervisor

@Suite struct SupervisorStateTests {
    static let failure = PenError("boom")
    static let restore = SnapshotBoot.restore(state: "/s", key: "k")

    /// A state walked through `events`, each of which must be taken.
    static func state(_ mode: SnapshotBoot = .cold, restartable: Bool = true, _ events: SupervisorEvent...) throws -> SupervisorState {
        var state = SupervisorState(mode: mode, restartable: restartable)
        for event in events { try #require(state.advance(event) != nil, "\(event) refused") }
        return state
    }

    /// `event` is refused and changes nothing.
    static func refuses(_ state: SupervisorState, _ event: SupervisorEvent) -> Bool {
        var after = state
        return after.advance(event) == nil && after.boot == state.boot && after.stop == state.stop
            && after.mode == state.mode && after.attempts == state.attempts && after.answered == state.answered
    }

    // MARK: boot

    @Test func aColdBootSpeaksThenIsConfiguredAtItsSnapshotPointThenReady() throws {
        var state = SupervisorState(mode: .cold, restartable: false)
        #expect(state.boot == .starting && state.initialEffects.isEmpty)
        #expect(state.advance(.guestSpoke) == [.recordFirstWord])
        #expect(state.boot == .booting)
        #expect(state.advance(.snapshotPoint) == [.sendConfig])
        #expect(state.boot == .configuring)
        #expect(state.advance(.guestReady) == [.reportReady, .openWaitingSessions])
        #expect(state.boot == .ready)
    }

    @Test func aRestoredGuestIsConfiguredAtOnceAndSkipsItsSnapshotPoint() throws {
        var state = SupervisorState(mode: Self.restore, restartable: false)
        #expect(state.boot == .restoring && state.initialEffects == [.sendConfig])
        #expect(state.advance(.guestSpoke) == [.recordFirstWord])
        #expect(state.boot == .configuring)
        #expect(Self.refuses(state, .snapshotPoint))
    }

    @Test func aResumedMachineIsLetRunAndToldNotConfigured() throws {
        var state = SupervisorState(mode: .resume(state: "/vms/box/suspended/state"), restartable: true)
        #expect(state.boot == .restoring && state.initialEffects == [.resumeGuest])
        #expect(state.advance(.guestSpoke) == [.recordFirstWord])
        #expect(state.advance(.guestReady) == [.reportReady, .openWaitingSessions])
        // A QEMU that could not load it: the disk boots cold instead.
        var failed = SupervisorState(mode: .resume(state: "/s"), restartable: true)
        #expect(failed.advance(.qemuExited) == [.bootColdInstead])
        #expect(failed.advance(.restarted(.cold)) == [])
    }

    @Test func aSavingBootSavesBeforeTheConfigurationAndFallsBackToColdWhenNothingWasSaved() throws {
        var state = try Self.state(.save(key: "k"), .guestSpoke)
        #expect(state.advance(.snapshotPoint) == [.saveSnapshot, .sendConfig])
        #expect(state.advance(.snapshotNotSaved) == [])
        #expect(state.mode == .cold)
        #expect(Self.refuses(state, .snapshotNotSaved))  // only a saving boot can fail to save
        #expect(Self.refuses(try Self.state(), .snapshotNotSaved))
    }

    @Test func theGuestSpeaksForTheFirstTimeOnlyOncePerBoot() throws {
        for events in [[SupervisorEvent.guestSpoke], [.guestSpoke, .snapshotPoint], [.guestSpoke, .guestReady],
                       [.bootFailed(Self.failure)]] {
            var state = SupervisorState(mode: .cold, restartable: true)
            for event in events { _ = state.advance(event) }
            #expect(Self.refuses(state, .guestSpoke))
        }
    }

    @Test func theSnapshotPointCountsOnlyOnTheWayToIt() throws {
        #expect(Self.refuses(try Self.state(), .snapshotPoint))  // the init has not spoken
        #expect(Self.refuses(try Self.state(.cold, .guestSpoke, .snapshotPoint), .snapshotPoint))  // configured already
        #expect(Self.refuses(try Self.state(.cold, .guestSpoke, .guestReady), .snapshotPoint))
        #expect(Self.refuses(try Self.state(.cold, .bootFailed(Self.failure)), .snapshotPoint))
    }

    @Test func readyIsTakenOncePerBootAndNeverBeforeTheGuestSpokeOrAfterAFailure() throws {
        var spoke = try Self.state(.cold, .guestSpoke)
        #expect(spoke.advance(.guestReady) != nil)  // as the guest says (configured or not)
        #expect(Self.refuses(try Self.state(), .guestReady))
        #expect(Self.refuses(try Self.state(Self.restore), .guestReady))
        #expect(Self.refuses(try Self.state(.cold, .guestSpoke, .guestReady), .guestReady))
        #expect(Self.refuses(try Self.state(.cold, .guestSpoke, .bootFailed(Self.failure)), .guestReady))
    }

    @Test func aBootFailsOnceAndOnlyWhileBooting() throws {
        for events in [[SupervisorEvent](), [.guestSpoke], [.guestSpoke, .snapshotPoint]] {
            var state = SupervisorState(mode: .cold, restartable: true)
            for event in events { _ = state.advance(event) }
            var timedOut = state
            #expect(state.advance(.bootFailed(Self.failure)) == [.reportBootFailure(Self.failure)])
            #expect(state.boot == .failed)
            #expect(timedOut.advance(.bootTimedOut(Self.failure)) == [.reportBootFailure(Self.failure), .kill])
            #expect(timedOut.boot == .failed)
            #expect(Self.refuses(state, .bootFailed(Self.failure)) && Self.refuses(state, .bootTimedOut(Self.failure)))
        }
        let ready = try Self.state(.cold, .guestSpoke, .guestReady)
        #expect(Self.refuses(ready, .bootFailed(Self.failure)) && Self.refuses(ready, .bootTimedOut(Self.failure)))
    }

    // MARK: stalls and restarts

    @Test func aStalledBootStartsAgainUntilItsAttemptsRunOut() throws {
        var state = SupervisorState(mode: .cold, restartable: true)
        for attempt in 1..<SupervisorState.maxBootAttempts {
            #expect(state.attempts == attempt)
            #expect(state.advance(.stalled) == [.restartStalled])
            #expect(state.advance(.restarted(.cold)) == [])
            #expect(state.boot == .starting)
        }
        #expect(state.advance(.stalled) == [.giveUpStalled, .kill])
        #expect(state.boot == .failed)
        #expect(Self.refuses(state, .stalled))  // judged once
    }

    @Test func aStallIsJudgedOnlyWhileTheInitIsSilentNoStopWasAskedAndQEMUCanStartAgain() throws {
        #expect(Self.refuses(try Self.state(.cold, .guestSpoke), .stalled))
        #expect(Self.refuses(try Self.state(.cold, .stopRequested), .stalled))
        var fixed = try Self.state(.cold, restartable: false)
        #expect(fixed.advance(.stalled) == [.giveUpStalled, .kill])
        var restoring = try Self.state(Self.restore)
        #expect(restoring.advance(.stalled) == [.restartStalled])
    }

    @Test func aRestoreQEMUCouldNotLoadBootsColdOnce() throws {
        var state = try Self.state(Self.restore, .guestWantsFresh)
        #expect(state.advance(.qemuExited) == [.bootColdInstead])
        #expect(state.advance(.restarted(.cold)) == [])
        #expect(state.boot == .starting && state.mode == .cold && state.attempts == 2 && state.answered.isEmpty)
        #expect(Self.refuses(state, .qemuExited))  // a cold boot that exits is down
    }

    @Test func aRestoreIsNotRetriedOnceTheGuestSpokeAStopWasAskedOrWithoutARestart() throws {
        #expect(Self.refuses(try Self.state(Self.restore, .guestSpoke), .qemuExited))
        #expect(Self.refuses(try Self.state(Self.restore, .stopRequested), .qemuExited))
        #expect(Self.refuses(try Self.state(Self.restore, restartable: false), .qemuExited))
        #expect(Self.refuses(try Self.state(Self.restore, .bootFailed(Self.failure)), .qemuExited))
    }

    @Test func aRestartedRestoreIsConfiguredAtOnceAndARestartNeedsASilentBoot() throws {
        var state = try Self.state()
        #expect(state.advance(.restarted(Self.restore)) == [.sendConfig])
        #expect(state.boot == .restoring)
        #expect(Self.refuses(try Self.state(.cold, .guestSpoke), .restarted(.cold)))
        #expect(Self.refuses(try Self.state(.cold, .bootFailed(Self.failure)), .restarted(.cold)))
    }

    // MARK: stop

    @Test func aStopOfAReadyGuestSendsTheShutdownThenASecondKills() throws {
        var state = try Self.state(.cold, .guestSpoke, .guestReady)
        let now = Date()
        #expect(state.advance(.stopRequested, now: now) == [.sendShutdown, .tellStopping])
        #expect(state.stop == .shutdownSent(at: now))
        #expect(state.isStopping)
        #expect(state.advance(.stopRequested) == [.kill, .tellStopping])
        #expect(state.stop == .killed)
        #expect(state.advance(.stopRequested) == [.kill, .tellStopping])  // however often it is asked
    }

    @Test func aStopWhileBootingWaitsForReadyAndTheShutdownIsSentOnce() throws {
        var state = try Self.state(.cold, .guestSpoke)
        #expect(state.advance(.stopRequested) == [.tellStopping])
        #expect(state.stop == .requested)
        #expect(Self.refuses(state, .shutdownDeadlinePassed))  // no shutdown sent yet
        let now = Date()
        #expect(state.advance(.guestReady, now: now) == [.reportReady, .openWaitingSessions, .sendShutdown])
        #expect(state.stop == .shutdownSent(at: now))
        #expect(Self.refuses(state, .guestReady))  // a guest repeating ready cannot move the deadline
    }

    @Test func theShutdownDeadlineKillsOnceAndOnlyAfterAShutdown() throws {
        var state = try Self.state(.cold, .guestSpoke, .guestReady, .stopRequested)
        #expect(state.advance(.shutdownDeadlinePassed) == [.kill])
        #expect(state.stop == .killed)
        #expect(Self.refuses(state, .shutdownDeadlinePassed))
        #expect(Self.refuses(try Self.state(.cold, .guestSpoke, .guestReady), .shutdownDeadlinePassed))
    }

    // MARK: once-only answers

    @Test func freshnessHaltAndFailureAreAnsweredOncePerBoot() throws {
        var state = try Self.state(.cold, .guestSpoke)
        #expect(state.advance(.guestWantsFresh) == [.sendFreshness])
        #expect(Self.refuses(state, .guestWantsFresh))
        #expect(state.advance(.guestHalted) == [.sendGoodbye])
        #expect(Self.refuses(state, .guestHalted))
        #expect(state.advance(.guestFailed(Array("disk\u{1b}[2J gone".utf8))) == [.sendGoodbye])
        #expect(state.guestFailure == GuestText.printable(Array("disk\u{1b}[2J gone".utf8)))
        #expect(Self.refuses(state, .guestFailed(Array("again".utf8))))
        #expect(state.guestFailure?.contains("again") == false)
    }
}
