import Glibc
import PenIO
import Testing
@testable import PenWire

/// A link on one end of a socketpair; the test writes raw bytes into the other end.
private final class Pair {
    let link: FrameLink
    var peer: Int32
    var buffer = [UInt8](repeating: 0, count: 1 << 16)

    init() {
        var fds: [Int32] = [-1, -1]
        precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        link = FrameLink(fd: fds[0])
        peer = fds[1]
    }

    deinit { if peer >= 0 { close(peer) } }

    func write(_ bytes: [UInt8]) { precondition(writeAll(peer, bytes)) }
    func hangUp() { close(peer); peer = -1 }
    func receive() throws(WireError) -> [Frame]? { try link.receive(&buffer) }
}

@Suite struct FrameLinkTests {
    let stage = Frame.stage(StageTiming(.modules, 409))
    let output = Frame.session(.stdoutData, 7, Array("hello\n".utf8))

    @Test func aFrameSplitAcrossReadsArrivesWholeOnce() throws {
        let pair = Pair()
        let bytes = output.encoded()
        pair.write(Array(bytes[..<3]))  // part of the header
        #expect(try pair.receive() == [])
        pair.write(Array(bytes[3..<8]))  // the header and part of the payload
        #expect(try pair.receive() == [])
        pair.write(Array(bytes[8...]))
        #expect(try pair.receive() == [output])
        #expect(!pair.link.closed)
    }

    @Test func twoFramesInOneReadBothArriveInOrder() throws {
        let pair = Pair()
        pair.write(stage.encoded() + output.encoded())
        #expect(try pair.receive() == [stage, output])
    }

    @Test func aReadBufferSmallerThanTheFrameStillYieldsIt() throws {
        let pair = Pair()
        pair.buffer = [UInt8](repeating: 0, count: 4)
        pair.write(output.encoded())
        var got: [Frame] = []
        for _ in 0..<10 where got.isEmpty { got += try pair.receive() ?? [] }
        #expect(got == [output])
    }

    @Test func anOversizedLengthIsRefusedAndTheLinkClosed() throws {
        let pair = Pair()
        let n = UInt32(maxFramePayload + 1)
        pair.write([FrameKind.stdoutData.rawValue, UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)])
        #expect(throws: WireError.oversized(maxFramePayload + 1)) { try pair.receive() }
        #expect(pair.link.closed)
        pair.write(stage.encoded())  // nothing after the refusal is read
        #expect(try pair.receive() == nil)
        pair.link.send(stage)
        #expect(!pair.link.wantsWrite)
    }

    @Test func endOfStreamMidFrameClosesWithoutAFrame() throws {
        let pair = Pair()
        pair.write(Array(output.encoded().dropLast()))
        pair.hangUp()
        #expect(try pair.receive() == [])
        #expect(try pair.receive() == nil)
        #expect(pair.link.closed)
        #expect(pair.link.readError == nil)
    }

    @Test func nothingToReadIsNoFramesAndTheLinkStaysOpen() throws {
        let pair = Pair()
        #expect(try pair.receive() == [])
        #expect(!pair.link.closed)
        pair.write(stage.encoded())
        #expect(try pair.receive() == [stage])
    }

    @Test func nextKeepsTheFramesAfterTheFirstAndTellsAnEndFromATimeout() throws {
        let pair = Pair()
        pair.write(stage.encoded() + output.encoded())
        #expect(try pair.link.next(within: 1000, &pair.buffer) == stage)
        #expect(try pair.link.next(within: 0, &pair.buffer) == output)
        #expect(try pair.link.next(within: 10, &pair.buffer) == nil)
        #expect(!pair.link.closed)
        pair.hangUp()
        #expect(try pair.link.next(within: 1000, &pair.buffer) == nil)
        #expect(pair.link.closed)
    }

    @Test func flushReportsTheSessionOutputThePeerTook() throws {
        let pair = Pair()
        pair.link.send(stage)
        pair.link.send(output, output: 3, bytes: 6)
        #expect(pair.link.wantsWrite)
        #expect(pair.link.flush() == [3: 6])
        #expect(!pair.link.wantsWrite)
        var peerBuffer = [UInt8](repeating: 0, count: 256)
        let n = read(pair.peer, &peerBuffer, peerBuffer.count)
        #expect(Array(peerBuffer[..<max(0, n)]) == stage.encoded() + output.encoded())
    }
}
