import Foundation
import Glibc
import PenIO
import PenWire
import Testing
@testable import PenGuestInit

/// The guest's half of the network policy, for real: a program's connection goes through the
/// redirect to the relay, which carries it over `pen.net` (a socketpair; the test is the host).
@Suite(.serialized, .enabled(if: getuid() == 0, "a network namespace needs root"))
struct NetRelayTests {
    @Test func aConnectionCarriesItsDestinationAndDataBothWaysAndHalfCloses() {
        let failures = RelayHarness.run("stream") { h in
            guard let client = h.connectClient("203.0.113.7", 443) else { return }
            defer { close(client) }
            let open = h.next(.netConnect)
            let (id, body) = try h.need(try open?.sessionBody())
            h.check(id < inboundStreamBase, "a guest id: \(id)")
            h.check((try? body.netDestination()) == NetDestination(address: [203, 0, 113, 7], port: 443), "the original destination")
            // Bytes sent before the host answered go at once (the host reads a TLS or HTTP name from them).
            h.write(client, "GET / HTTP/1.1\r\n")
            let early = h.next(.netData)
            h.check(early.map { Array($0.payload[4...]) } == Array("GET / HTTP/1.1\r\n".utf8), "the first bytes before netConnected")
            h.send(.netConnected(id))
            h.send(Frame.netData(id, Array("HTTP/1.1 200 OK\r\n".utf8)[...]))
            h.check(h.readBytes(client, 17).bytes == Array("HTTP/1.1 200 OK\r\n".utf8), "the host's bytes reach the program")
            let ack = h.next(.netAck)
            h.check((try? ack?.sessionBody().body.count()) == 17, "what the socket took is acknowledged")
            shutdown(client, Int32(SHUT_WR))
            h.check(h.next(.netClose).flatMap { try? $0.sessionID() } == id, "the program's end of stream is a netClose")
            h.send(.netClose(id))
            let end = h.readBytes(client, 1)
            h.check(end.bytes.isEmpty && end.errno == 0, "the host's close is the program's end of stream")
        }
        #expect(failures == [])
    }

    @Test func anIPv6ConnectionGoesThroughTheRedirectToo() {
        let failures = RelayHarness.run("ipv6") { h in
            guard let client = h.connectClient("2001:db8::7", 8443) else { return }
            defer { close(client) }
            let body = try h.need(try h.next(.netConnect)?.sessionBody().body)
            let expected = NetDestination(address: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [7], port: 8443)
            h.check((try? body.netDestination()) == expected, "the IPv6 original destination: \(String(describing: try? body.netDestination()))")
        }
        #expect(failures == [])
    }

    @Test func aRefusedConnectionAndOneToTheListenerItselfAreResetAtOnce() {
        let failures = RelayHarness.run("refused") { h in
            guard let client = h.connectClient("203.0.113.9", 22) else { return }
            defer { close(client) }
            let id = try h.need(try h.next(.netConnect)?.sessionID())
            h.send(.netRefused(id, "not allowed"))
            let read = h.readBytes(client, 1)
            h.check(read.errno == ECONNRESET, "the program sees ECONNRESET (errno \(read.errno))")

            guard let direct = h.connectClient("127.0.0.1", GuestContract.Network.policyTCPPort) else { return }
            defer { close(direct) }
            h.check(h.readBytes(direct, 1).errno == ECONNRESET, "a connection to the listener itself is reset")
            h.check(h.drain().allSatisfy { $0.kind != .netConnect }, "and never told to the host")
        }
        #expect(failures == [])
    }

    @Test func aResetCrossesEitherWay() {
        let failures = RelayHarness.run("reset") { h in
            guard let first = h.connectClient("203.0.113.7", 443), let second = h.connectClient("203.0.113.8", 443) else { return }
            defer { close(second) }
            let one = try h.need(try h.next(.netConnect)?.sessionID())
            let two = try h.need(try h.next(.netConnect)?.sessionID())
            h.check(one != two, "each connection its own stream")
            h.send(.netConnected(one), .netConnected(two))
            NetSockets.closeWithReset(first)
            h.check(h.next(.netReset).flatMap { try? $0.sessionID() } == one, "the program's reset is the host's netReset")
            h.send(.netReset(two))
            h.check(h.readBytes(second, 1).errno == ECONNRESET, "the host's netReset is the program's ECONNRESET")
        }
        #expect(failures == [])
    }

    @Test func theRelayNeverHasMoreThanAWindowUnacknowledged() {
        let failures = RelayHarness.run("window") { h in
            guard let client = h.connectClient("203.0.113.7", 80) else { return }
            let id = try h.need(try h.next(.netConnect)?.sessionID())
            h.send(.netConnected(id))
            let total = 3 * netWindow + 12345
            let pattern = (0..<total).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 11) }
            let writer = Thread { _ = writeAll(client, pattern); shutdown(client, Int32(SHUT_WR)) }
            writer.start()
            var received: [UInt8] = []
            var closed = false
            var rounds = 0
            while !closed && rounds < 20 {
                rounds += 1
                let frames = h.drain()
                var unacknowledged = 0
                for frame in frames where (try? frame.sessionID()) == id {
                    if frame.kind == .netData { received += frame.payload[4...]; unacknowledged += frame.payload.count - 4 }
                    if frame.kind == .netClose { closed = true }
                }
                h.check(unacknowledged <= netWindow, "round \(rounds): \(unacknowledged) bytes unacknowledged, the window is \(netWindow)")
                // While the program has more to send, the relay fills the window, and stops there.
                if !closed { h.check(unacknowledged == netWindow, "round \(rounds): \(unacknowledged) bytes, not a full window") }
                h.send(.netAck(id, UInt64(unacknowledged)))
            }
            h.check(closed, "the end of stream came")
            h.check(received == pattern, "every byte, in order (\(received.count) of \(total))")
            close(client)
        }
        #expect(failures == [])
    }

    @Test func aDNSQueryIsAnsweredFromTheResolversAddress() {
        let failures = RelayHarness.run("dns") { h in
            for (resolver, family) in [("10.0.2.3", AF_INET), ("2001:db8::53", AF_INET6)] {
                let fd = socket(family, Int32(SOCK_DGRAM.rawValue), 0)
                defer { close(fd) }
                h.setTimeouts(fd)
                var storage = sockaddr_storage()
                let length = address(resolver, 53, family, &storage)
                let query: [UInt8] = [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0] + Array(resolver.utf8)
                _ = NetSockets.withSockaddr(&storage) { p, _ in sendto(fd, query, query.count, 0, p, length) }
                let asked = try h.need(try h.next(.dnsQuery)?.sessionBody())
                h.check(asked.body.payload == query, "the query as the program sent it")
                let answer: [UInt8] = [0x12, 0x34, 0x81, 0x80] + [UInt8](repeating: 0, count: 8)
                h.send(.dnsAnswer(asked.id, answer))
                var from = sockaddr_storage()
                var fromLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
                var reply = [UInt8](repeating: 0, count: 512)
                let n = withUnsafeMutablePointer(to: &from) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &reply, reply.count, 0, $0, &fromLength) }
                }
                h.check(n == answer.count && Array(reply[0..<max(0, n)]) == answer, "the answer reaches the program (\(n) bytes)")
                h.check(NetSockets.destination(of: from)?.text == (family == AF_INET ? "10.0.2.3:53" : "[2001:db8::53]:53"),
                        "the answer comes from the resolver's address: \(NetSockets.destination(of: from)?.text ?? "?")")
            }
        }
        #expect(failures == [])
    }

    @Test func atMost256QueriesWaitAndAnOversizedOneIsDropped() {
        let failures = RelayHarness.run("dnslimit") { h in
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(fd) }
            var storage = sockaddr_storage()
            let length = address("10.0.2.3", 53, AF_INET, &storage)
            func ask(_ query: [UInt8]) { _ = NetSockets.withSockaddr(&storage) { p, _ in sendto(fd, query, query.count, 0, p, length) } }
            func query(_ i: Int) -> [UInt8] { [UInt8(i >> 8), UInt8(i & 0xff)] + [UInt8](repeating: 0, count: 10) }
            ask([UInt8](repeating: 7, count: maxDNSMessage + 1))
            var ids: [UInt32] = []
            for i in 0..<DNSQueries.limit {
                ask(query(i))
                let asked = try h.need(try h.next(.dnsQuery)?.sessionBody())
                h.check(asked.body.payload == query(i), "query \(i) sent on as it came (the oversized one never is)")
                ids.append(asked.id)
            }
            for i in 0..<10 { ask(query(1000 + i)) }
            h.check(h.drain().allSatisfy { $0.kind != .dnsQuery }, "with \(DNSQueries.limit) waiting, more are dropped")
            h.send(.dnsAnswer(ids[0], [0x00, 0x00, 0x81, 0x80] + [UInt8](repeating: 0, count: 8)))
            ask(query(2000))
            h.check((try? h.next(.dnsQuery)?.sessionBody().body.payload) == query(2000), "an answer makes room for the next query")
        }
        #expect(failures == [])
    }

    @Test func anInboundStreamReachesTheGuestsServerAndAClosedPortIsRefused() {
        let failures = RelayHarness.run("inbound") { h in
            let server = try h.need(try? NetSockets.loopback(SOCK_STREAM, family: AF_INET, port: 8080))
            defer { close(server) }
            let id = inboundStreamBase + 1
            h.send(.netInbound(id, port: 8080))
            h.check(h.next(.netConnected).flatMap { try? $0.sessionID() } == id, "connected to the guest's server")
            var p = pollfd(fd: server, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, 1, 5000)
            let accepted = accept(server, nil, nil)
            defer { close(accepted) }
            h.setTimeouts(accepted)
            h.send(Frame.netData(id, Array("ping".utf8)[...]))
            h.check(h.readBytes(accepted, 4).bytes == Array("ping".utf8), "the host's bytes reach the server")
            h.write(accepted, "pong")
            h.check(h.next(.netData).map { Array($0.payload[4...]) } == Array("pong".utf8), "the server's bytes reach the host")

            h.send(.netInbound(id + 1, port: 8081))
            let refused = h.next(.netRefused)
            h.check(refused.flatMap { try? $0.sessionID() } == id + 1, "nobody listens on 8081: refused")
        }
        #expect(failures == [])
    }

    @Test func connectionsPastTheLimitAreReset() {
        let failures = RelayHarness.run("limit") { h in
            var clients: [Int32] = []
            defer { clients.forEach { close($0) } }
            for _ in 0..<maxNetStreams {
                guard let fd = h.connectClient("203.0.113.7", 443) else { return }
                clients.append(fd)
            }
            var opened = 0
            while opened < maxNetStreams, h.next(.netConnect) != nil { opened += 1 }
            h.check(opened == maxNetStreams, "\(opened) streams opened")
            guard let extra = h.connectClient("203.0.113.7", 443) else { return }
            clients.append(extra)
            h.check(h.readBytes(extra, 1).errno == ECONNRESET, "one more is reset")
            h.check(h.drain().allSatisfy { $0.kind != .netConnect }, "and never told to the host")

        }
        #expect(failures == [])
    }
}

private func address(_ text: String, _ port: UInt16, _ family: Int32, _ storage: inout sockaddr_storage) -> socklen_t {
    withUnsafeMutableBytes(of: &storage) { raw in
        if family == AF_INET {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            inet_pton(AF_INET, text, &a.sin_addr)
            raw.storeBytes(of: a, as: sockaddr_in.self)
            return socklen_t(MemoryLayout<sockaddr_in>.size)
        }
        var a = sockaddr_in6()
        a.sin6_family = sa_family_t(AF_INET6)
        a.sin6_port = port.bigEndian
        inet_pton(AF_INET6, text, &a.sin6_addr)
        raw.storeBytes(of: a, as: sockaddr_in6.self)
        return socklen_t(MemoryLayout<sockaddr_in6>.size)
    }
}
