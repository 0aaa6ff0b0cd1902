import Testing
@testable import PenCore

@Suite struct NamesTests {
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
}
