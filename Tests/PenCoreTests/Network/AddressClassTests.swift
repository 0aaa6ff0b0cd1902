import Testing
@testable import PenCore

@Suite struct AddressClassTests {
    /// Every class the public policy refuses, at its edges, and public neighbours just outside.
    @Test(arguments: [
        ("0.0.0.0", AddressClass.thisNetwork), ("0.255.255.255", .thisNetwork),
        ("127.0.0.1", .loopback), ("127.255.255.254", .loopback),
        ("10.0.0.0", .privateNetwork), ("10.255.255.255", .privateNetwork),
        ("172.16.0.1", .privateNetwork), ("172.31.255.255", .privateNetwork),
        ("192.168.0.1", .privateNetwork), ("192.168.255.255", .privateNetwork),
        ("100.64.0.1", .shared), ("100.127.255.255", .shared), ("100.100.100.200", .shared),
        ("169.254.169.254", .metadata), ("169.254.170.2", .metadata),
        ("169.254.0.1", .linkLocal), ("169.254.255.255", .linkLocal),
        ("224.0.0.1", .multicast), ("239.255.255.250", .multicast),
        ("255.255.255.255", .broadcast), ("240.0.0.1", .reserved), ("255.255.255.254", .reserved),
        ("192.0.0.170", .reserved), ("168.63.129.16", .metadata), ("192.88.99.1", .reserved),
        ("2001:0:a00:1:8000:63bf:3fff:fdd2", .privateNetwork),  // Teredo whose server is 10.0.0.1 ("198.18.0.1", .benchmarking), ("198.19.255.255", .benchmarking),
        ("::", .thisNetwork), ("::1", .loopback),
        ("fd00:ec2::254", .metadata), ("fd12:3456::1", .privateNetwork), ("fc00::1", .privateNetwork),
        ("fe80::1", .linkLocal), ("febf::1", .linkLocal), ("ff02::1", .multicast),
        ("2001:2::1", .benchmarking), ("64:ff9b:1::1", .reserved),
        ("::ffff:10.0.0.1", .privateNetwork), ("::ffff:169.254.169.254", .metadata),
        ("64:ff9b::7f00:1", .loopback), ("2002:c0a8:101::1", .privateNetwork),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", .privateNetwork),  // Teredo, client 10.0.0.1 inverted
        ("::10.0.0.1", .reserved), ("100::1", .reserved), ("4000::1", .reserved),
    ])
    func notPublic(text: String, expected: AddressClass) throws {
        let address = try #require(IPAddress(text))
        #expect(AddressClass.of(address) == expected, "\(text)")
    }

    /// Public: including the documentation ranges this network uses as real addresses.
    @Test(arguments: ["1.1.1.1", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0", "169.253.255.255",
                      "169.255.0.0", "172.15.255.255", "172.32.0.0", "192.167.255.255", "192.169.0.0", "198.17.255.255",
                      "198.20.0.0", "223.255.255.255", "192.0.2.7", "198.51.100.1", "203.0.113.10", "8.8.8.8",
                      "2001:db8::1", "2a00:1450:4001::1", "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1"])
    func publicAddresses(text: String) throws {
        let address = try #require(IPAddress(text))
        #expect(AddressClass.of(address) == nil, "\(text) is \(String(describing: AddressClass.of(address)))")
    }

    @Test func benchmarkingIsPublicOnlyWhenATestSaysSo() throws {
        let address = try #require(IPAddress("198.18.0.10"))
        #expect(AddressClass.of(address) == .benchmarking)
        #expect(AddressClass.of(address, benchmarkingIsPublic: true) == nil)
        #expect(AddressClass.of(try #require(IPAddress("10.0.0.1")), benchmarkingIsPublic: true) == .privateNetwork)
    }

    /// Generated: for every /8 and a spread of addresses inside it, the class agrees with the
    /// RFC ranges written out as plain comparisons (a second, independent statement of the table).
    @Test func everyIPv4AddressAgreesWithTheRangesWrittenOut() {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<200_000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let n = UInt32(truncatingIfNeeded: seed >> 32)
            let (a, b) = (n >> 24, n >> 16 & 0xff)
            let expected: AddressClass? =
                a == 0 ? .thisNetwork : a == 127 ? .loopback : a == 10 || (a == 172 && (16...31).contains(b)) || (a == 192 && b == 168) ? .privateNetwork
                : a == 100 && (64...127).contains(b) ? .shared
                : n == 0xA9FE_A9FE || n == 0xA9FE_AA02 ? .metadata : a == 169 && b == 254 ? .linkLocal
                : n == 0xA83F_8110 ? .metadata
                : a == 192 && b == 0 && (n >> 8 & 0xff) == 0 ? .reserved : a == 192 && b == 88 && (n >> 8 & 0xff) == 99 ? .reserved
                : a == 198 && (b == 18 || b == 19) ? .benchmarking
                : (224...239).contains(a) ? .multicast : n == 0xFFFF_FFFF ? .broadcast : a >= 240 ? .reserved : nil
            #expect(AddressClass.of(.v4(n)) == expected, "\(IPAddress.v4(n))")
        }
    }
}
