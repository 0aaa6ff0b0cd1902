// Bytes waiting to be written to a non-blocking descriptor. Nobody ever blocks writing to a
// peer that may itself be blocked writing back: what does not fit now waits here, and the
// poll loop asks for POLLOUT while anything does.
import Glibc

public struct OutputQueue {
    private var buffer: [UInt8] = []
    private var offset = 0

    public init() {}

    public var isEmpty: Bool { offset == buffer.count }
    public var count: Int { buffer.count - offset }

    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        buffer.append(contentsOf: bytes)
    }

    /// Keeps only the first `count` bytes still waiting (the rest is dropped).
    public mutating func keepFirst(_ count: Int) {
        guard count < self.count else { return }
        buffer.removeSubrange((offset + max(0, count))...)
    }

    /// Writes as much as the descriptor takes now. Returns false when the peer is gone (EPIPE,
    /// ECONNRESET, …): the caller stops using it; what was queued is dropped.
    /// With `limit`, one write of at most that many bytes (for a descriptor that may block).
    @discardableResult
    public mutating func flush(to fd: Int32, limit: Int? = nil) -> Bool {
        var attempts = limit == nil ? Int.max : 1
        while offset < buffer.count && attempts > 0 {
            attempts -= 1
            let size = min(buffer.count - offset, limit ?? Int.max)
            let n = buffer.withUnsafeBytes { write(fd, $0.baseAddress! + offset, size) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { break }
                buffer = []
                offset = 0
                return false
            }
            offset += n
        }
        if offset == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            offset = 0
        } else if offset > 1 << 16 && offset >= buffer.count - offset {
            // Compacted only once what was written outweighs what is left: each byte is moved
            // at most about once, so a flush costs what it wrote, not the whole queue.
            buffer.removeFirst(offset)
            offset = 0
        }
        return true
    }
}

/// Sets O_NONBLOCK on a descriptor.
public func setNonBlocking(_ fd: Int32) {
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
}
