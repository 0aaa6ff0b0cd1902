import Testing
@testable import PenCore

@Suite struct NameAndSizeTests {
    @Test(arguments: ["t", "dev", "my-vm_2", "A.b", String(repeating: "x", count: 63)])
    func acceptsGoodNames(_ raw: String) throws {
        #expect(try VMName(raw).value == raw)
    }

    @Test(arguments: ["", "../x", "a/b", "-rf", ".hidden", "_x", String(repeating: "x", count: 64), "a b", "é", "x\n", "..", "a\0b"])
    func rejectsBadNamesWithAMessage(_ raw: String) {
        #expect {
            try VMName(raw)
        } throws: { error in
            (error as? PenError)?.message.contains("invalid VM name") == true
        }
    }

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
}
