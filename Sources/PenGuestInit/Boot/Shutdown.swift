// Stage 6: stop every process, leave the disk's ext4 clean, power off. PID 1 never exits.
import CGuestSys
import Glibc

enum Shutdown {
    static func run(signals: Int32) -> Never {
        kill(-1, SIGTERM)
        reapAll(signals: signals, forMillis: 1000)
        kill(-1, SIGKILL)
        reapAll(signals: signals, forMillis: 1000)
        finish()
    }

    /// Used after a fatal error: nothing is known to be running, so go straight to the end.
    static func finish() -> Never {
        sync()
        Workspace.unmount()
        // Freezing checkpoints the journal, so the filesystem is clean without an unmount
        // (the overlay above it cannot be unmounted while it is the root).
        if DiskHealth.isWatching, pen_freeze_fs(RootSwitch.diskMount) != 0 {
            Console.log("pen-init: shutdown: freeze \(RootSwitch.diskMount): errno \(pen_guest_errno())")
        }
        pen_power_off()
        while true { pause() }
    }

    /// Reaps children until none are left or the time is up.
    private static func reapAll(signals: Int32, forMillis millis: Int32) {
        let deadline = monotonicMicroseconds() + UInt64(millis) * 1000
        while true {
            var status: Int32 = 0
            while true {
                let pid = waitpid(-1, &status, WNOHANG)
                if pid == 0 { break }
                if pid < 0 { return }  // ECHILD: nobody left
            }
            let now = monotonicMicroseconds()
            if now >= deadline { return }
            var p = pollfd(fd: signals, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, 1, Int32((deadline - now) / 1000) + 1)
            while pen_read_signal(signals) != 0 {}
        }
    }
}
