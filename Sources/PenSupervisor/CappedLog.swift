// The supervisor's log (supervisor.log) lives as long as its VM, and a guest can make it write
// (a notice, a failure): it takes at most `limit` bytes, then says once that it stopped.
import Foundation
import PenCore


final class CappedLog {
    private let limit: UInt64
    private let sink: (String) -> Void
    private var written: UInt64 = 0
    private var capped = false

    init(limit: UInt64, write sink: @escaping (String) -> Void) {
        self.limit = limit
        self.sink = sink
    }

    /// It took its limit: nothing more is written (callers skip making the line).
    var isFull: Bool { capped }

    func write(_ line: String) {
        guard !capped else { return }
        let size = UInt64(line.utf8.count) + 1
        guard written + size <= limit else {
            capped = true
            sink("pen: this log reached \(ByteSize.format(limit)); nothing more is written to it")
            return
        }
        written += size
        sink(line)
    }
}
