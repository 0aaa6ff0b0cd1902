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
}
