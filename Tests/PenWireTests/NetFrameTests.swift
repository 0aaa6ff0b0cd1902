import Testing
@testable import PenWire

/// The `pen.net` frames: what one side encodes the other reads back, and what it refuses.
@Suite struct NetFrameTests {
    @Test func aDestinationRoundTripsForBothFamilies() throws {
        for address in [[203, 0, 113, 7], Array(repeating: 0x20, count: 16)] as [[UInt8]] {
            let destination = try #require(NetDestination(address: address, port: 443))
            let frame = Frame.netConnect(9, destination)
            let (id, body) = try frame.sessionBody()
            #expect(id == 9)
            #expect(try body.netDestination() == destination)
        }
    }

    @Test func aDestinationOfTheWrongShapeIsRefused() {
        #expect(NetDestination(address: [1, 2, 3], port: 1) == nil)
        for bytes in [[], [5, 1, 2, 3, 4, 0, 80], [4, 1, 2, 3, 4, 0], [6, 1, 2, 3, 4, 0, 80], [4, 1, 2, 3, 4, 0, 80, 0]] as [[UInt8]] {
            #expect(throws: WireError.self) { try Frame(.netConnect, bytes).netDestination() }
        }
    }

    @Test func aRefusalsReasonIsBounded() throws {
        let (_, body) = try Frame.netRefused(1, String(repeating: "x", count: 5000)).sessionBody()
        #expect(body.payload.count == maxRefusalReason)
    }

    @Test func dnsMessagesAreBounded() throws {
        #expect(try Frame.dnsQuery(3, [1, 2, 3][...]).sessionBody().body.dnsMessage() == [1, 2, 3])
        #expect(throws: WireError.self) { try Frame(.dnsAnswer, []).dnsMessage() }
        #expect(throws: WireError.self) { try Frame(.dnsAnswer, Array(repeating: 0, count: maxDNSMessage + 1)).dnsMessage() }
    }

    @Test func anInboundPortIsOneTo65535() throws {
        #expect(try Frame.netInbound(inboundStreamBase, port: 8080).sessionBody().body.inboundPort() == 8080)
        for text in ["0", "65536", "", "-1", " 80"] {
            #expect(throws: WireError.self) { try Frame(.netInbound, text: text).inboundPort() }
        }
    }

    @Test func theNetworkPolicyIsPartOfTheBootConfiguration() throws {
        var assembler = BootConfigAssembler()
        var started = false
        for frame in BootConfig(hostname: "n", networkPolicy: true).frames() { started = try assembler.apply(frame) }
        #expect(started)
        #expect(assembler.config.networkPolicy)
        #expect(!BootConfig(hostname: "n").frames().contains { $0.kind == .networkPolicy })
    }
}
