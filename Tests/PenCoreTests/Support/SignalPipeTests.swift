import CHostSys
import Foundation
import Testing
@testable import PenCore

// The only suite that touches this process's signal dispositions (serialized, so the checks
// see no other test's pipe).
@Suite(.serialized) struct SignalPipeTests {
    @Test func releaseGivesEveryStopSignalItsDefaultActionBack() throws {
        let fd = try SignalPipe.shared()
        for signal in [SIGINT, SIGTERM, SIGHUP] { #expect(pen_signal_is_default(signal) == 0) }
        // A signal caught while installed is read from the pipe, not acted on.
        kill(getpid(), SIGWINCH)
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        #expect(poll(&p, 1, 5000) == 1)
        SignalPipe.release()
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGWINCH] { #expect(pen_signal_is_default(signal) == 1) }
        #expect(SignalPipe.current == nil)
        #expect(fcntl(fd, F_GETFD) == -1)  // the read end is closed
        // And it can be installed again for the next session.
        _ = try SignalPipe.shared()
        #expect(pen_signal_is_default(SIGINT) == 0)
        SignalPipe.release()
    }
}
