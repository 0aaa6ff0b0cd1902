import Testing
@testable import PenCore

@Suite struct GuestTextTests {
    @Test func printableTextIsKeptAsItIs() {
        #expect(GuestText.printable("src/a b/été/日本.txt") == "src/a b/été/日本.txt")
    }

    @Test func controlsAndEscapeSequencesBecomeHexEscapes() {
        #expect(GuestText.printable("a\u{1B}]0;owned\u{07}b") == "a\\x1b]0;owned\\x07b")
        #expect(GuestText.printable("x\ny\r\t\u{7F}") == "x\\x0ay\\x0d\\x09\\x7f")
        // C1 CSI (U+009B) as UTF-8, and a right-to-left override.
        #expect(GuestText.printable("a\u{9B}2Jb\u{202E}c") == "a\\xc2\\x9b2Jb\\xe2\\x80\\xaec")
    }

    @Test func bytesThatAreNotUTF8AreEscapedOneByOne() {
        #expect(GuestText.printable([0x61, 0xFF, 0xC3, 0x62, 0x9B, 0xE2, 0x82]) == "a\\xff\\xc3b\\x9b\\xe2\\x82")
        // An overlong '/' (C0 AF) is not a slash.
        #expect(GuestText.printable([0xC0, 0xAF]) == "\\xc0\\xaf")
    }

    @Test func longTextIsClippedToTheLimit() {
        let clipped = GuestText.printable(String(repeating: "a", count: 100_000), limit: 50)
        #expect(clipped == String(repeating: "a", count: 50) + "…")
        let escapes = GuestText.printable([UInt8](repeating: 0x1B, count: 10_000), limit: 40)
        #expect(escapes.utf8.count <= 40 + "…".utf8.count && escapes.hasSuffix("…"))
    }
}
