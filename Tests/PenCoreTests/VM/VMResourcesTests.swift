import Testing
@testable import PenCore

@Suite struct VMResourcesTests {
    @Test func memoryIsWholeMiBWithinTheRange() throws {
        #expect(try VMResources.memoryMiB("2G") == 2048)
        #expect(try VMResources.memoryMiB("256M") == 256)
        #expect(try VMResources.memoryMiB("1T") == 1 << 20)
        for bad in ["255M", "2T", "1000K", "1.5G", "x", ""] {
            #expect { try VMResources.memoryMiB(bad) } throws: {
                ($0 as? PenError)?.message.hasPrefix("invalid --memory") == true
            }
        }
    }

    @Test func cpusFromOneToSixtyFour() throws {
        try VMResources.validate(cpus: 1)
        try VMResources.validate(cpus: 64)
        for bad in [0, -1, 65] {
            #expect { try VMResources.validate(cpus: bad) } throws: { ($0 as? PenError)?.message.hasPrefix("invalid --cpus") == true }
        }
    }
}
