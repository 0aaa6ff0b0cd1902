// Build mode: the finished root leaves the builder VM as a tar on its own port. init
// relays tar's output itself so it can count the bytes and tell the host where the
// stream ends (a virtio-serial port has no end-of-file).
import Glibc
import PenIO
import PenWire

enum RootArchive {
    static let stage = "archive"

    /// Paths inside the root that are not part of the image (relative to /, tar syntax).
    static let excluded = ["./init", "./ramroot", "./tmp/*", "./var/tmp/*", "./run/*", "./root/.bash_history"]

    /// Streams `tar` of / to the archive port; returns tar's status and the bytes sent.
    static func stream(session: Session) throws(InitFailure) -> (status: Int32, bytes: UInt64) {
        let port = try Devices.virtioPort(named: GuestContract.archivePort, stage: stage)
        let out = open(port, O_WRONLY | O_CLOEXEC | O_NOCTTY)
        if out < 0 { throw .sys(stage, "open \(port)") }
        defer { close(out) }
        // --one-file-system leaves out the API mounts (proc, sys, dev, run) but keeps their directories.
        let argv = ["tar", "--create", "--file=-", "--one-file-system", "--numeric-owner", "--sort=name",
                    "--directory=/"] + excluded.map { "--exclude=\($0)" } + ["."]
        var bytes: UInt64 = 0
        let status = try session.runPiped(argv, stdoutKind: .stdoutData, stderrKind: .stderrData, forwardStdin: false) { chunk in
            bytes += UInt64(chunk.count)
            return writeAll(out, chunk)
        }
        return (status, bytes)
    }
}
