// What makes this VM its own when it was restored from a snapshot other VMs share: the wall
// clock, and the kernel's RNG reseeded from host entropy. Asked for after the configuration,
// so both are as fresh as the moment the guest runs again, and applied before any user code.
import CGuestSys
import Glibc
import PenWire

enum FreshStart {
    static let stage = "fresh"

    /// Asks the host; returns the frames that arrived before the answer.
    static func apply(over channel: ControlChannel) throws(InitFailure) -> [Frame] {
        let (reply, earlier) = try channel.ask(Frame(.wantFresh), for: .fresh, timeoutMillis: 10_000)
        let fresh: Freshness
        do { fresh = try reply.freshness() } catch { throw InitFailure(stage, error.description) }
        try set(fresh)
        return earlier
    }

    /// The host's wall clock and entropy, taken (at boot, and again on resume).
    static func set(_ fresh: Freshness) throws(InitFailure) {
        var now = timespec(tv_sec: Int(fresh.seconds), tv_nsec: Int(fresh.nanoseconds))
        try sys(clock_settime(CLOCK_REALTIME, &now), stage, "set the clock")
        try sys(fresh.entropy.withUnsafeBufferPointer { pen_add_entropy($0.baseAddress, Int32($0.count)) },
                stage, "reseed the RNG")
    }
}
