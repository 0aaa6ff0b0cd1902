import Testing
@testable import PenCore

@Suite struct IPAddressTests {
    func ip(_ text: String) throws -> IPAddress { try #require(IPAddress(text)) }

    @Test(arguments: ["010.0.0.1", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4", "1..2.3", "+1.2.3.4",
                      "1.2.3.4/8", "fe80::1%eth0", "::g", "1:2:3:4:5:6:7:8:9", "", "١.٢.٣.٤", "0x7f.0.0.1"])
    func malformedTextIsNoAddress(text: String) {
        #expect(IPAddress(text) == nil, "\(text)")
    }

    @Test func addressesPrintAsTheyParse() throws {
        for text in ["0.0.0.0", "192.0.2.7", "255.255.255.255", "::", "::1", "2001:db8::1", "fd00:ec2::254"] {
            #expect(try ip(text).description == text)
        }
        #expect(try ip("::ffff:10.0.0.1") == IPAddress(ipv6: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]))
    }

    @Test func rangesHoldWhatTheirPrefixSaysAndNothingElse() throws {
        let range = try #require(AddressRange(try ip("10.1.2.0"), prefixLength: 24))
        #expect(range.contains(try ip("10.1.2.255")))
        #expect(!range.contains(try ip("10.1.3.0")))
        #expect(!range.contains(try ip("::ffff:10.1.2.1")), "an IPv6 address is never in an IPv4 range")
        #expect(AddressRange(try ip("10.1.2.5"), prefixLength: 24) == nil, "host bits set")
        #expect(AddressRange(try ip("10.1.2.0"), prefixLength: 33) == nil)
        let all = try #require(AddressRange(try ip("::"), prefixLength: 0))
        #expect(all.contains(try ip("2001:db8::1")))
        // Generated: every prefix length of v6, the masked address is inside, one bit flipped inside the prefix is not.
        let address = try ip("2001:db8:1234:5678:9abc:def0:1357:2468")
        for length in 1...128 {
            let base = AddressRange.masked(address, length)
            let range = try #require(AddressRange(base, prefixLength: length))
            #expect(range.contains(address))
            guard case .v6(let hi, let lo) = address else { return }
            let bit = length - 1
            let flipped: IPAddress = bit < 64 ? .v6(hi ^ (1 << (63 - UInt64(bit))), lo) : .v6(hi, lo ^ (1 << (127 - UInt64(bit))))
            #expect(!range.contains(flipped), "/\(length)")
        }
    }
}
