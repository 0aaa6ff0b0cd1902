import Glibc
import PenWire
import Testing
@testable import PenGuestInit

/// A signal for a session whose child has not made its own session yet (between fork and its
/// setsid): it must still reach the child. A `sleep` spawned in this test's own process group
/// stands for that child: no process group has its pid.
@Suite struct GuestSessionSignalTests {
    @Test func aSignalReachesAChildThatHasNoProcessGroupOfItsOwnYet() throws {
        var child: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("30"), nil]
        defer { argv.forEach { free($0) } }
        // Default dispositions and no blocked signals, as pen_spawn_child gives its child (the
        // test runner's own may ignore or block SIGTERM).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t(), none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        try #require(posix_spawn(&child, "/bin/sleep", nil, &attributes, argv, environ) == 0)
        #expect(getpgid(child) != child)  // the situation: its group is not its own

        let session = GuestSession(id: 9, request: SessionRequest(kind: .command, arguments: ["sleep", "30"]))
        session.started(SpawnedProcess(pid: child, input: -1, outputs: []))
        session.signal(SIGTERM)

        // Reaped within a bound (never a wait that could hang the test if the signal was lost).
        var status: Int32 = 0
        var reaped: pid_t = 0
        for _ in 0..<500 where reaped == 0 {
            reaped = waitpid(child, &status, WNOHANG)
            if reaped == 0 { usleep(10_000) }
        }
        if reaped == 0 { kill(child, SIGKILL); _ = waitpid(child, &status, 0) }
        #expect(reaped == child, "the signal was lost: the child was still running")
        #expect(status & 0x7f == SIGTERM)
    }
}
