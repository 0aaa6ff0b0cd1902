import Testing
@testable import PenCore

@Suite struct ConsoleEscapeTests {
    @Test func ctrlBracketThenQStopsAndOtherwisePassesThrough() {
        var e = ConsoleEscape()
        var stops = 0
        #expect(e.filter(Array("ls\r".utf8), onStop: { stops += 1 }) == Array("ls\r".utf8))
        #expect(e.filter([0x1d, UInt8(ascii: "q")], onStop: { stops += 1 }) == [])
        #expect(stops == 1)
        #expect(e.filter([0x1d, 0x1d], onStop: { stops += 1 }) == [0x1d])
        #expect(e.filter([0x1d], onStop: { stops += 1 }) == [])
        #expect(e.filter([UInt8(ascii: "x")], onStop: { stops += 1 }) == [0x1d, UInt8(ascii: "x")])
        #expect(stops == 1)
    }

    /// A Ctrl-] held from one read comes out in front of the next: the client reads one byte less
    /// then, so what it sends never passes its credit (SessionClient.inputRoom).
    @Test func aHeldCtrlBracketIsCountedUntilReleased() {
        var e = ConsoleEscape()
        #expect(e.held == 0)
        #expect(e.filter([UInt8(ascii: "a"), 0x1d], onStop: {}) == [UInt8(ascii: "a")])
        #expect(e.held == 1)
        let next = Array("bcd".utf8)
        let out = e.filter(next, onStop: {})
        #expect(out == [0x1d] + next)
        #expect(out.count == next.count + 1)
        #expect(e.held == 0)
    }
}
