import Glibc
import PenIO
import Testing
@testable import PenWire

/// What a guest drops after a resume: the frames queued after the pause, never the rest of one
/// it had begun to write (the next supervisor's framing would break).
@Suite struct FrameLinkDropTests {
    /// Reads what the peer end holds now (non-blocking).
    func drain(_ peer: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(peer, &chunk, chunk.count, Int32(MSG_DONTWAIT))
            guard n > 0 else { return bytes }
            bytes += chunk[0..<n]
        }
    }

    func decode(_ bytes: [UInt8]) throws -> [Frame] {
        var decoder = FrameDecoder()
        decoder.feed(bytes)
        var out: [Frame] = []
        while let frame = try decoder.next() { out.append(frame) }
        return out
    }

    @Test func framesQueuedAfterTheBoundaryGoAndABegunOneIsFinished() throws {
        var fds: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer { close(fds[1]) }
        var small: Int32 = 4096
        setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        let link = FrameLink(fd: fds[0])
        let big = Frame(.stdoutData, [UInt8](repeating: 7, count: 300_000))
        link.send(big)
        link.flush()  // only part of it fits in the socket now
        #expect(link.wantsWrite)
        let boundary = link.queuedTotal
        link.send(Frame(.exitStatus, text: "1 0"))
        link.send(Frame(.notice, text: "queued while paused"))
        link.dropQueued(after: boundary)
        var received = drain(fds[1])
        while link.wantsWrite {
            link.flush()
            received += drain(fds[1])
        }
        received += drain(fds[1])
        #expect(try decode(received) == [big])
        // A boundary at the end of what was written drops everything after it.
        let now = link.queuedTotal
        link.send(Frame(.notice, text: "dropped"))
        link.dropQueued(after: now)
        #expect(!link.wantsWrite)
        link.send(Frame(.ready))
        link.flush()
        #expect(try decode(drain(fds[1])) == [Frame(.ready)])
    }
}
