import Foundation
import PenIO
import PenTestSupport
import PenWire
import Testing
@testable import PenCore
@testable import PenSupervisor

/// The relay with servers on loopback, reached at the guest's gateway address through an `allow`
/// range rule (the one way a user opens the host's own services to a VM).
@Suite struct NetRelayTests {
    static func allowing(_ rules: String...) throws -> NetworkPolicy {
        NetworkPolicy(mode: .allow, rules: try rules.map { try NetworkRule($0) })
    }

    @Test func anAllowedStreamCarriesDataBothWaysAndClosesEachSide() throws {
        let server = TestServer()
        let relay = RelayHarness(try Self.allowing("127.0.0.1:\(server.port)")).start()
        relay.connect(1, gatewayBytes, server.port)
        #expect(relay.nextNotAck(for: 1)?.kind == .netConnected)
        let upstream = try #require(server.accept())
        defer { close(upstream) }

        relay.send(.netData(1, Array("hello".utf8)[...])[0])
        #expect(readSome(upstream) == Array("hello".utf8))
        let ack = try #require(relay.next(for: 1))
        #expect(ack.kind == .netAck && ack.bodyText == "5", "guest data is acknowledged once written upstream")

        #expect(writeAll(upstream, Array("world".utf8)))
        let data = try #require(relay.next(for: 1))
        #expect(data.kind == .netData && data.bodyText == "world")
        relay.send(.netAck(1, 5))

        shutdown(upstream, Int32(SHUT_WR))
        #expect(relay.next(for: 1)?.kind == .netClose, "the server's close reaches the guest")
        relay.send(.netClose(1))
        #expect(readSome(upstream) == [], "the guest's close reaches the server")

        let deadline = Date().addingTimeInterval(5)
        while relay.logLines().isEmpty && Date() < deadline { usleep(20_000) }
        let line = try #require(relay.logLines().first)
        #expect(line["verdict"] as? String == "allowed")
        #expect(line["destination"] as? String == "127.0.0.1")
        #expect(line["bytesUp"] as? Int == 5 && line["bytesDown"] as? Int == 5)
    }

    @Test func theGatewayIsRefusedWithoutARangeRuleAndNothingConnects() throws {
        let server = TestServer()
        let relay = RelayHarness(try Self.allowing("example.org")).start()
        relay.connect(1, gatewayBytes, server.port)
        let refused = try #require(relay.next(for: 1))
        #expect(refused.kind == .netRefused && refused.bodyText == "loopback address")
        #expect(server.accept(within: 0.3) == nil)
        #expect(relay.recorded.refusalLines.first?.contains("refused 127.0.0.1:\(server.port)") == true)
    }

    @Test func publicRefusesPrivateMetadataAndTheHostsOwnAddressesBeforeAnyPacket() throws {
        let asked = Recorded()
        let relay = RelayHarness(NetworkPolicy(mode: .public), host: PolicyHost(addresses: [IPAddress("203.0.113.9")!]),
                                 route: { asked.looked($0.description); return nil }).start()
        let cases: [([UInt8], String)] = [([10, 1, 2, 3], "private address"), ([169, 254, 169, 254], "metadata address"),
                                          ([203, 0, 113, 9], "the host's own address"), ([127, 0, 0, 1], "loopback address"),
                                          ([192, 168, 1, 1], "private address"),
                                          ([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3], "private address")]
        for (i, (address, reason)) in cases.enumerated() {
            relay.connect(UInt32(i + 1), address, 80)
            let frame = try #require(relay.next(for: UInt32(i + 1)))
            #expect(frame.kind == .netRefused && frame.bodyText == reason, "\(address)")
        }
        #expect(asked.lookedUp.isEmpty, "refused by class before the route was even asked")
        #expect(relay.recorded.refusalLines.count == cases.count)
    }

    @Test func aDestinationOnTheHostsOwnNetworkIsRefusedByItsRoute() throws {
        let relay = RelayHarness(NetworkPolicy(mode: .public), route: { _ in "on the host's own network (on-link)" }).start()
        relay.connect(1, [203, 0, 113, 50], 443)
        let frame = try #require(relay.next(for: 1))
        #expect(frame.kind == .netRefused && frame.bodyText == "on the host's own network (on-link)")
    }

    @Test func anIPv4MappedAddressIsJudgedAndRoutedAsItsIPv4Address() throws {
        let asked = Recorded()
        let relay = RelayHarness(NetworkPolicy(mode: .public), route: { asked.looked($0.description); return "on-link" }).start()
        relay.connect(1, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 77], 443)
        #expect(relay.next(for: 1)?.bodyText == "on-link")
        #expect(asked.lookedUp == ["203.0.113.77"], "the route asked is the IPv4 one")
    }

    @Test func theKernelSaysLoopbackIsTheHostsOwn() {
        #expect(HostRoute.refusal(for: IPAddress("127.0.0.1")!) == "the host's own address")
        #expect(HostRoute.refusal(for: IPAddress("::1")!) == "the host's own address")
    }

    @Test func noneRefusesEverything() throws {
        let relay = RelayHarness(NetworkPolicy(mode: .none)).start()
        relay.connect(1, [203, 0, 113, 7], 443)
        #expect(relay.next(for: 1)?.bodyText == "no network")
    }

    @Test func theHostReadsNoMoreThanTheGuestsWindow() throws {
        let server = TestServer()
        let relay = RelayHarness(try Self.allowing("127.0.0.1")).start()
        relay.connect(1, gatewayBytes, server.port)
        #expect(relay.nextNotAck(for: 1)?.kind == .netConnected)
        let upstream = try #require(server.accept())
        defer { close(upstream) }
        setNonBlocking(upstream)
        let chunk = [UInt8](repeating: 0x61, count: 1 << 20)
        var offered = 0
        offered += max(0, chunk.withUnsafeBytes { write(upstream, $0.baseAddress!, $0.count) })

        func received(within seconds: Double) -> Int {
            var total = 0
            let deadline = Date().addingTimeInterval(seconds)
            while let frame = relay.next(for: 1, within: max(0.01, deadline.timeIntervalSinceNow)) {
                if frame.kind == .netData { total += frame.body.count }
            }
            return total
        }
        #expect(offered > netWindow)
        #expect(received(within: 1.5) == netWindow, "exactly one window without acks")
        relay.send(.netAck(1, 100_000))
        #expect(received(within: 1) == 100_000, "an ack reopens the window by what it acknowledged")
    }

    @Test func aGuestSendingPastItsWindowIsReset() throws {
        let server = TestServer(receiveBuffer: 4096)
        let relay = RelayHarness(try Self.allowing("127.0.0.1")).start()
        relay.connect(1, gatewayBytes, server.port)
        #expect(relay.nextNotAck(for: 1)?.kind == .netConnected)
        let upstream = try #require(server.accept())  // never read: only the kernel's buffers take bytes
        defer { close(upstream) }
        // Acks ignored: the guest keeps sending far past any window the relay could have reopened.
        let piece = Frame.netData(1, [UInt8](repeating: 0x62, count: 65536)[...])[0]
        var reset = false
        for _ in 0..<160 where !reset {
            relay.send(piece)
            while let frame = relay.next(for: 1, within: 0.001) {
                if frame.kind == .netReset { reset = true }
            }
        }
        if !reset { reset = relay.nextNotAck(for: 1)?.kind == .netReset }
        #expect(reset, "the relay reset the stream")
        #expect(relay.recorded.fatalLines.isEmpty, "one stream's fault does not stop the relay")
    }

    @Test func streamsBeyondTheLimitAreRefused() throws {
        let server = TestServer(backlog: 512)
        let relay = RelayHarness(try Self.allowing("127.0.0.1")).start()
        for id in 1...UInt32(maxNetStreams) { relay.connect(id, gatewayBytes, server.port) }
        var connected = 0
        while connected < maxNetStreams, let frame = relay.guest.next(within: 5) {
            if frame.kind == .netConnected { connected += 1 }
        }
        #expect(connected == maxNetStreams)
        relay.connect(9999, gatewayBytes, server.port)
        let refused = try #require(relay.next(for: 9999))
        #expect(refused.kind == .netRefused && refused.bodyText == "more than \(maxNetStreams) streams open")
    }

    @Test func framesForUnknownStreamsAreAnsweredWithAReset() throws {
        let relay = RelayHarness(NetworkPolicy(mode: .public)).start()
        relay.send(.netData(77, [1, 2, 3])[0])
        #expect(relay.next(for: 77)?.kind == .netReset)
        relay.send(.netClose(78))
        #expect(relay.next(for: 78)?.kind == .netReset)
        relay.send(.netConnected(79))
        #expect(relay.next(for: 79)?.kind == .netReset, "a frame only the host sends resets its stream")
        #expect(relay.recorded.fatalLines.isEmpty)
    }

    @Test func brokenFramingStopsTheRelayAndIsReported() throws {
        let relay = RelayHarness(NetworkPolicy(mode: .public)).start()
        _ = writeAll(relay.guest.fd, [0xEE, 0, 0, 0, 1, 0])
        let deadline = Date().addingTimeInterval(5)
        while relay.recorded.fatalLines.isEmpty && Date() < deadline { usleep(10_000) }
        #expect(relay.recorded.fatalLines.first?.contains("unknown frame kind 238") == true)
    }

    @Test func allowAnswersAnUnlistedNameWithNXDOMAINWithoutALookup() throws {
        let relay = RelayHarness(try Self.allowing("example.org"), answers: ["example.org": [IPAddress("198.18.0.2")!]]).start()
        relay.send(.dnsQuery(5, dnsQuery("evil.example", type: DNSQuestion.a)[...]))
        let answer = try #require(relay.next(for: 5)).body
        #expect(answer[3] & 0x0f == 3, "NXDOMAIN")
        #expect(relay.recorded.lookedUp.isEmpty, "a refused name is never asked upstream")

        relay.send(.dnsQuery(6, dnsQuery("Example.ORG", type: DNSQuestion.a)[...]))
        let allowed = try #require(relay.next(for: 6)).body
        #expect(allowed[3] & 0x0f == 0 && allowed[7] == 1, "one A record")
        #expect(Array(allowed.suffix(4)) == [198, 18, 0, 2])
        #expect(relay.recorded.lookedUp == ["example.org"])
    }

    @Test func otherRecordTypesGetAnEmptyAnswerAndUnreadableQueriesNone() throws {
        let relay = RelayHarness(NetworkPolicy(mode: .public)).start()
        relay.send(.dnsQuery(1, dnsQuery("example.org", type: 16)[...]))  // TXT
        let answer = try #require(relay.next(for: 1)).body
        #expect(answer[3] & 0x0f == 0 && answer[7] == 0)
        relay.send(.dnsQuery(2, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]))
        #expect(relay.next(for: 2, within: 0.5) == nil)
        #expect(relay.recorded.lookedUp.isEmpty)
    }

    @Test func aStreamToPort53IsPensDNSOverTCP() throws {
        let relay = RelayHarness(try Self.allowing("example.org"), answers: ["example.org": [IPAddress("198.18.0.2")!]]).start()
        relay.connect(1, [10, 0, 2, 3], 53)
        #expect(relay.next(for: 1)?.kind == .netConnected, "answered by pen: no upstream")
        func framed(_ m: [UInt8]) -> [UInt8] { [UInt8(m.count >> 8), UInt8(m.count & 0xff)] + m }
        let queries = framed(dnsQuery("example.org", type: DNSQuestion.a, id: 1)) + framed(dnsQuery("evil.example", type: DNSQuestion.a, id: 2))
        relay.send(Frame.netData(1, queries.prefix(7))[0], Frame.netData(1, queries.dropFirst(7))[0])
        var answers: [UInt8] = [], acked = 0
        let deadline = Date().addingTimeInterval(5)
        while split(answers).count < 2 || acked < queries.count,
              let frame = relay.next(for: 1, within: max(0.01, deadline.timeIntervalSinceNow)) {
            if frame.kind == .netData { answers += frame.body }
            if frame.kind == .netAck { acked += Int(frame.bodyText) ?? 0 }
        }
        #expect(acked == queries.count, "the queries' bytes are acknowledged as read")
        let messages = split(answers)
        #expect(messages.count == 2)
        let byID = Dictionary(uniqueKeysWithValues: messages.map { (Int($0[1]), $0) })
        #expect(byID[1].map { $0[3] & 0x0f == 0 && $0[7] == 1 } == true, "example.org: one A record")
        #expect(byID[2].map { $0[3] & 0x0f == 3 } == true, "evil.example: NXDOMAIN")
        #expect(relay.recorded.lookedUp == ["example.org"])
        relay.send(Frame.netAck(1, UInt64(answers.count)), .netClose(1))
        #expect(relay.nextNotAck(for: 1)?.kind == .netClose)
    }

    @Test func lookupsPastTheLimitGetSERVFAILAtOnce() throws {
        let relay = RelayHarness(NetworkPolicy(mode: .public), answers: ["example.org": [IPAddress("198.18.0.2")!]], lookupTakes: 1).start()
        let extra = 6
        for id in 1...UInt32(DNSResolverPool.maxUnfinished + extra) {
            relay.send(.dnsQuery(id, dnsQuery("example.org", type: DNSQuestion.a)[...]))
        }
        var failedAtOnce = 0
        while let frame = relay.guest.next(within: 0.5) {
            if frame.kind == .dnsAnswer, frame.body[3] & 0x0f == 2 { failedAtOnce += 1 }
        }
        #expect(failedAtOnce == extra, "only the queries past the limit failed before any lookup ended")
        #expect(relay.recorded.lookedUp.count <= DNSResolverPool.workers, "the pool runs a few lookups at a time")
    }

    @Test func stoppingTheRelayClosesEveryStream() throws {
        let server = TestServer()
        let relay = RelayHarness(try Self.allowing("127.0.0.1")).start()
        relay.connect(1, gatewayBytes, server.port)
        #expect(relay.nextNotAck(for: 1)?.kind == .netConnected)
        let upstream = try #require(server.accept())
        defer { close(upstream) }
        let started = Date()
        relay.relay.stop()
        #expect(Date().timeIntervalSince(started) < 1)
        #expect(readSome(upstream, within: 2) == [], "the upstream connection was closed")
    }

    private func split(_ bytes: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = [], at = 0
        while at + 2 <= bytes.count {
            let n = Int(bytes[at]) << 8 | Int(bytes[at + 1])
            guard at + 2 + n <= bytes.count else { break }
            out.append(Array(bytes[(at + 2)..<(at + 2 + n)]))
            at += 2 + n
        }
        return out
    }
}
