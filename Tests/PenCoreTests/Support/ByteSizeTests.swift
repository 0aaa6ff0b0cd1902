import Testing
@testable import PenCore

@Suite struct ByteSizeTests {
    @Test func parsesSizes() throws {
        #expect(try ByteSize.parse("10G") == 10 << 30)
        #expect(try ByteSize.parse("512M") == 512 << 20)
        #expect(try ByteSize.parse("512MiB") == 512 << 20)
        #expect(try ByteSize.parse("1t") == 1 << 40)
        #expect(try ByteSize.parse("4096") == 4096)
        #expect(try ByteSize.parse("2048K") == 2 << 20)
    }

    @Test(arguments: ["10X", "0", "", "G", "-5G", "1.5G", "ten", "99999999999T", "10 G"])
    func rejectsBadSizes(_ raw: String) {
        #expect {
            try ByteSize.parse(raw, what: "--disk-size")
        } throws: { error in
            (error as? PenError)?.message.hasPrefix("invalid --disk-size") == true
        }
    }

    @Test func formatsSizes() {
        #expect(ByteSize.format(10 << 30) == "10G")
        #expect(ByteSize.format(1536 << 20) == "1.5G")
        #expect(ByteSize.format(100) == "100B")
    }

    @Test func shortSizes() {
        #expect(ByteSize.short(0) == "0B")
        #expect(ByteSize.short(512) == "512B")
        #expect(ByteSize.short(23 << 20) == "23M")
        #expect(ByteSize.short(23 * 1_048_576 + 400_000) == "23M")
        #expect(ByteSize.short(10 << 30) == "10G")
        #expect(ByteSize.short(3 << 29) == "1.5G")
        #expect(ByteSize.short(1 << 30 + 1 << 20) == "1G")
        #expect(ByteSize.short(2048 << 20) == "2G")
    }
}
