// A builder VM's root leaves as a tar on its own port: the archive session's stdout is copied
// there (counted, so the host knows where the stream ends: a virtio-serial port has no EOF).
import Glibc
import PenIO
import PenWire

final class ArchiveSink {
    static let stage = "archive"

    /// Paths inside the root that are not part of the image (relative to /, tar syntax).
    static let excluded = ["./init", "./ramroot", "./tmp/*", "./var/tmp/*", "./run/*", "./root/.bash_history"]

    /// tar of the whole root: --one-file-system leaves out the API mounts (proc, sys, dev,
    /// run) but keeps their directories.
    static let command = ["tar", "--create", "--file=-", "--one-file-system", "--numeric-owner", "--sort=name",
                          "--directory=/"] + excluded.map { "--exclude=\($0)" } + ["."]

    let port: Int32
    /// The archive session's stdout (-1 once it ended).
    var source: Int32 = -1
    private var queue = OutputQueue()
    private(set) var bytes: UInt64 = 0
    private var failed = false

    init() throws(InitFailure) {
        let path = try Devices.virtioPort(named: GuestContract.archivePort, stage: Self.stage)
        port = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        if port < 0 { throw .sys(Self.stage, "open \(path)") }
    }

    /// Reads from the source only while little waits for the port.
    var wantsInput: Bool { source >= 0 && queue.count < 1 << 20 }
    var wantsWrite: Bool { !queue.isEmpty && !failed }

    func take(_ chunk: ArraySlice<UInt8>) {
        bytes += UInt64(chunk.count)
        queue.append(chunk)
        flush()
    }

    func flush() {
        if !queue.flush(to: port) { failed = true }
    }

    func sourceEnded() { source = -1 }

    /// Every byte the source produced is on the port.
    var isComplete: Bool { source < 0 && (queue.isEmpty || failed) }

    func close() {
        if source >= 0 { Glibc.close(source) }
        Glibc.close(port)
    }
}
