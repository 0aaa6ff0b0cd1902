import Glibc
import PenWire
import Testing
@testable import PenGuestInit

/// What a session does with its output after its process exited, with a real pipe whose write
/// end stays open (as when a background process holds it).
@Suite struct GuestSessionDrainTests {
    func exitedSession(stdout: Int32) -> GuestSession {
        let session = GuestSession(id: 7, request: SessionRequest(kind: .command, arguments: ["true"]))
        session.started(SpawnedProcess(pid: 4_000_000, input: -1, outputs: [(stdout, .stdoutData)]))
        session.exited(3)
        return session
    }

    func pipeEnds() throws -> (read: Int32, write: Int32) {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        _ = fcntl(ends[0], F_SETFL, O_NONBLOCK)
        return (ends[0], ends[1])
    }

    @Test func outputWrittenBeforeTheExitIsNotClosedUnreadHoweverLateTheLoopComesBack() throws {
        let ends = try pipeEnds()
        defer { close(ends.write) }
        let session = exitedSession(stdout: ends.read)
        #expect(write(ends.write, "out-11\n", 7) == 7)
        session.closeIdleOutputs(now: monotonicMicroseconds() + 10 * GuestSession.drainAfterExit)
        #expect(session.outputs.map(\.fd) == [ends.read])
        #expect(!session.isFinished)
        #expect(session.drainDeadline(now: monotonicMicroseconds()) != nil)
        session.closeAll()
    }

    @Test func anIdleOutputHeldOpenByABackgroundProcessIsClosedAfterTheDrainTime() throws {
        let ends = try pipeEnds()
        defer { close(ends.write) }
        let session = exitedSession(stdout: ends.read)
        session.closeIdleOutputs(now: monotonicMicroseconds())
        #expect(session.outputs.count == 1)  // not idle long enough yet
        session.closeIdleOutputs(now: monotonicMicroseconds() + 10 * GuestSession.drainAfterExit)
        #expect(session.outputs.isEmpty)
        #expect(session.isFinished)
    }
}
