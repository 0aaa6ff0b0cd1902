import Testing
@testable import ProfileBuilder

@Suite struct ModuleSignatureTests {
    func signed(_ body: [UInt8], signature: [UInt8]) -> [UInt8] {
        let n = UInt32(signature.count)
        let info: [UInt8] = [0, 0, 2, 0, 0, 0, 0, 0, UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)]
        return body + signature + info + ModuleSignature.marker
    }

    @Test func stripsAnAppendedSignature() {
        let body: [UInt8] = [0x7f, 0x45, 0x4c, 0x46] + [UInt8](repeating: 9, count: 100)
        #expect(ModuleSignature.strip(signed(body, signature: [UInt8](repeating: 0xaa, count: 512))) == body)
    }

    @Test func leavesUnsignedOrMalformedModulesAlone() {
        let body: [UInt8] = [0x7f, 0x45, 0x4c, 0x46, 1, 2, 3]
        #expect(ModuleSignature.strip(body) == body)
        var bogus = signed(body, signature: [1, 2, 3])
        bogus[bogus.count - ModuleSignature.marker.count - 1] = 0xff  // a length past the start
        #expect(ModuleSignature.strip(bogus) == bogus)
    }
}
