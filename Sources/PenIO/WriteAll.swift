// Writing a whole buffer to a descriptor, shared by pen and the guest init (Glibc only, so
// the static init links nothing more than it did).
import Glibc

/// Writes every byte, retrying short writes and EINTR; on a non-blocking descriptor that is
/// full it waits (at most a second per wait) until the peer drains it. False on any other error.
@discardableResult
public func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { writeAll(fd, $0) }
}

@discardableResult
public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    guard let base = bytes.baseAddress else { return true }
    var done = 0
    while done < bytes.count {
        let n = write(fd, base + done, bytes.count - done)
        if n < 0 {
            if errno == EINTR { continue }
            if errno == EAGAIN {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&p, 1, 1000)
                continue
            }
            return false
        }
        done += n
    }
    return true
}

/// Writes every byte at `offset` (pwrite: the descriptor's position is untouched), retrying short
/// writes and EINTR. False on any error (errno says which).
public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64) -> Bool {
    guard let base = bytes.baseAddress else { return true }
    var done = 0
    while done < bytes.count {
        let n = pwrite(fd, base + done, bytes.count - done, off_t(offset) + off_t(done))
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return false }
        done += n
    }
    return true
}
