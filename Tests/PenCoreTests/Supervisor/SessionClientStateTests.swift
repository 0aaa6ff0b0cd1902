// A session client's state machine alone: every transition with the frames it asks for, and
// every refusal (nil, nothing changed), without a socket or a terminal.
import Foundation
import PenWire
import Testing
@testable import PenCore

@Suite struct SessionClientStateTests {
    typealias State = SessionClientState
    static let boom = PenError("boom"), other = PenError("other")

    static func state(forwardInput: Bool = true, _ events: State.Event...) throws -> State {
        var state = State(vmName: "t", forwardInput: forwardInput)
        for event in events { try #require(state.advance(event) != nil, "\(event) refused") }
        return state
    }

    static func refuses(_ state: State, _ event: State.Event) -> Bool {
        var after = state
        return after.advance(event) == nil && after.input == state.input && after.interrupt == state.interrupt
            && after.end == state.end && after.credit == state.credit
    }

    @Test func aCommandWithoutInputSaysSoFirstAndNeverReadsIt() throws {
        let state = try Self.state(forwardInput: false)
        #expect(state.initialEffects == [.sendStdinClosed])
        #expect(!state.readsInput)
        #expect(Self.refuses(state, .inputEnded) && Self.refuses(state, .escape) && Self.refuses(state, .inputSent(1)))
        #expect(try Self.state().initialEffects.isEmpty)
    }

    @Test func inputIsSentWithinTheWindowAndAcknowledgedBack() throws {
        var state = try Self.state()
        #expect(state.advance(.inputSent(sessionWindow - 10)) == [])
        #expect(state.credit == 10 && state.readsInput)
        #expect(Self.refuses(state, .inputSent(11)))  // more than the window
        #expect(state.advance(.inputSent(10)) == [])
        #expect(!state.readsInput)  // the window is full
        #expect(state.advance(.inputAcknowledged(UInt64(sessionWindow))) == [])
        #expect(state.credit == sessionWindow)
    }

    @Test func anAcknowledgementOfInputNeverSentEndsTheSessionWithAnError() throws {
        var state = try Self.state(.inputSent(5))
        #expect(state.advance(.inputAcknowledged(6)) == [.closeLink])
        #expect(state.failure?.message.contains("acknowledged more input than it was sent") == true)
        #expect(state.endedAt != nil)
    }

    @Test func theInputEndsOnceAndCtrlBracketQLeavesOnce() throws {
        var ended = try Self.state()
        #expect(ended.advance(.inputEnded) == [.sendStdinClosed])
        #expect(ended.input == .ended && !ended.readsInput)
        #expect(Self.refuses(ended, .inputEnded) && Self.refuses(ended, .escape))
        var left = try Self.state()
        #expect(left.advance(.escape) == [.sendHangup])
        #expect(left.input == .left)
        #expect(Self.refuses(left, .escape) && Self.refuses(left, .inputEnded) && Self.refuses(left, .inputSent(1)))
    }

    @Test func theFirstStopSignalGoesToTheSessionLaterOnesLeaveIt() throws {
        var state = try Self.state()
        #expect(state.advance(.stopSignal) == [.sendSignal])
        #expect(state.interrupt == .signalled)
        #expect(state.advance(.stopSignal) == [.sendHangup])
        #expect(state.advance(.stopSignal) == [.sendHangup])
        #expect(state.interrupt == .hungUp)
    }

    @Test func anExitStatusEndsTheSessionAndStopsTheInput() throws {
        var state = try Self.state()
        let now = Date(timeIntervalSince1970: 1000)
        #expect(state.advance(.exitStatus(3), now: now) == [])
        #expect(state.exitStatus == 3 && state.endedAt == now && !state.readsInput)
        #expect(state.advance(.exitStatus(4), now: now.addingTimeInterval(5)) == [])  // the last one counts
        #expect(state.exitStatus == 4 && state.endedAt == now)
    }

    @Test func aFailureWinsOverAnExitStatusAndTheFirstFatalIsKept() throws {
        var state = try Self.state(.exitStatus(0))
        #expect(state.advance(.fatal(Self.boom)) == [])
        #expect(state.failure == Self.boom && state.exitStatus == nil)
        #expect(Self.refuses(state, .fatal(Self.other)))
        #expect(Self.refuses(state, .exitStatus(0)))
        #expect(state.advance(.openFailed(Self.other)) == [])  // the session could not start: that is the cause
        #expect(state.failure == Self.other)
        #expect(state.advance(.malformedFrame(Self.boom)) == [.closeLink])
        #expect(state.failure == Self.boom)
    }

    @Test func stoppingAndDiskErrorsAreRecorded() throws {
        var state = try Self.state()
        #expect(state.advance(.vmStopping) == [] && state.vmStopping)
        #expect(state.advance(.diskError("first")) == [] && state.advance(.diskError("last")) == [])
        #expect(state.diskError == "last")
        #expect(state.end == .running)
    }
}
