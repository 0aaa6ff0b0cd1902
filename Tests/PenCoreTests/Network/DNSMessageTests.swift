import Foundation
import Testing
@testable import PenCore

@Suite struct DNSMessageTests {
    /// A query as a resolver library writes it: id, RD, one question, optionally an EDNS record.
    static func query(_ name: String, type: UInt16 = DNSQuestion.a, id: UInt16 = 0x1234, edns: Bool = false) -> [UInt8] {
        let labels = name.split(separator: ".").flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
        var bytes: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, edns ? 1 : 0]
        bytes += labels + [0, UInt8(type >> 8), UInt8(type & 0xff), 0, 1]
        if edns { bytes += [0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0] }
        return bytes
    }

    @Test func aQueryIsReadAndAnsweredWithTheAddressesOfItsType() throws {
        let question = try #require(DNSQuestion(query: Self.query("Deb.Debian.org", edns: true)))
        #expect(question.name == Array("deb.debian.org".utf8))
        #expect(question.type == DNSQuestion.a && question.id == 0x1234 && question.recursionDesired)
        let response = question.response(.addresses([IPAddress("203.0.113.5")!, IPAddress("2001:db8::5")!], ttl: 300))
        #expect(Array(response[0..<2]) == [0x12, 0x34])
        #expect(response[3] & 0x0f == 0, "NOERROR")
        #expect(Array(response[6..<8]) == [0, 1], "only the A record: the AAAA one is not of the question's type")
        #expect(Array(response.suffix(4)) == [203, 0, 113, 5])
        // The question is echoed as parsed (lower-cased), not as the guest sent it.
        #expect(response.count == 12 + 16 + 4 + 16)
        #expect(Array(response[12..<28]) == [3] + Array("deb".utf8) + [6] + Array("debian".utf8) + [3] + Array("org".utf8) + [0])
    }

    @Test func refusedAndFailedNamesGetTheirCodes() throws {
        let question = try #require(DNSQuestion(query: Self.query("evil.example", type: DNSQuestion.aaaa)))
        #expect(question.response(.noSuchName)[3] & 0x0f == 3)
        #expect(question.response(.failure)[3] & 0x0f == 2)
        let answer = question.response(.addresses([IPAddress("2001:db8::5")!], ttl: 60))
        #expect(Array(answer.suffix(16)) == [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [5])
    }

    @Test func malformedOrHostileQueriesAreNotRead() {
        var compressed = Self.query("a.example")
        compressed[12] = 0xc0  // a pointer where a label belongs
        var twoQuestions = Self.query("a.example")
        twoQuestions[5] = 2
        var response = Self.query("a.example")
        response[2] |= 0x80
        var wrongClass = Self.query("a.example")
        wrongClass[wrongClass.count - 1] = 3  // CHAOS
        var dotInLabel = Self.query("ab.example")
        dotInLabel[14] = UInt8(ascii: ".")  // one label "a.", not two
        var badByte = Self.query("a.example")
        badByte[13] = 0x1b
        let longName = (0..<5).map { _ in String(repeating: "a", count: 60) }.joined(separator: ".")
        for (what, bytes) in [("compression", compressed), ("two questions", twoQuestions), ("a response", response),
                              ("class CHAOS", wrongClass), ("an escape byte", badByte), ("a dot inside a label", dotInLabel), ("a name over 253 bytes", Self.query(longName)),
                              ("truncated", Array(Self.query("a.example").dropLast(3))), ("empty", [])] {
            #expect(DNSQuestion(query: bytes) == nil, "\(what)")
        }
    }

    /// Generated: random queries never crash the reader, and what it reads answers back to a
    /// message of the declared length.
    @Test func randomBytesAreReadSafely() {
        var seed: UInt64 = 99
        for _ in 0..<20_000 {
            var bytes = Self.query("x.example")
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            bytes[Int(seed >> 40) % bytes.count] = UInt8(truncatingIfNeeded: seed >> 20)
            if let question = DNSQuestion(query: bytes) { _ = question.response(.noSuchName) }
        }
    }

    @Test func pinsTieAddressesToNamesForAtLeastTheMinimumAndStayBounded() throws {
        var pins = DNSPins()
        let now = Date(timeIntervalSince1970: 1_000_000)
        let address = try #require(IPAddress("203.0.113.5"))
        pins.remember(Array("deb.debian.org".utf8), [address], ttl: 5, now: now)
        pins.remember(Array("mirror.example".utf8), [address], ttl: 5, now: now)
        #expect(pins.names(for: address, now: now.addingTimeInterval(60)) == [Array("deb.debian.org".utf8), Array("mirror.example".utf8)])
        #expect(pins.names(for: address, now: now.addingTimeInterval(DNSPins.minimumSeconds + 1)).isEmpty)
        for i in 0..<(DNSPins.capacity + 10) {
            pins.remember(Array("n\(i).example".utf8), [.v4(UInt32(i))], ttl: 60, now: now)
        }
        #expect(pins.count == DNSPins.capacity)
        #expect(pins.names(for: address, now: now).isEmpty, "the oldest answers went first")
    }

    @Test func anAddressRemembersItsLatestNamesOnlySoNoConnectionScansThousands() throws {
        var pins = DNSPins()
        let now = Date(timeIntervalSince1970: 1_000_000)
        let shared = try #require(IPAddress("10.0.0.1"))
        pins.remember(Array("allowed.example".utf8), [shared], ttl: 60, now: now)
        for i in 0..<4000 { pins.remember(Array("junk\(i).example".utf8), [shared], ttl: 60, now: now) }
        let names = pins.names(for: shared, now: now)
        #expect(names.count == DNSPins.namesPerAddress)
        #expect(names.contains(Array("junk3999.example".utf8)))
        #expect(!names.contains(Array("allowed.example".utf8)), "pushed out: fails closed (not pinned), never open")
        // A name's later answer adds its addresses to the index as well.
        pins.remember(Array("junk3999.example".utf8), [.v4(7)], ttl: 60, now: now)
        #expect(pins.names(for: .v4(7), now: now) == [Array("junk3999.example".utf8)])
        #expect(pins.names(for: shared, now: now).contains(Array("junk3999.example".utf8)))
    }
}
