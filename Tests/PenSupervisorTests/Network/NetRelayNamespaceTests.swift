import Foundation
import PenIO
import PenTestSupport
import PenWire
import Testing
@testable import PenCore
@testable import PenSupervisor

/// The relay where `public` and names need a public address: two network namespaces the test
/// makes, joined by a veth (no packet can leave them). The relay's side (198.18.1.1/24) reaches
/// the server's side (198.18.1.2, the gateway) on-link, and the server's 198.18.0.2 only through
/// that gateway, as the Internet is reached. The benchmarking range counts as public here.
@Suite(.serialized) struct NetRelayNamespaceTests {
    static let server: [UInt8] = [198, 18, 0, 2]
    static let onLink: [UInt8] = [198, 18, 1, 2]
    static let own: [UInt8] = [198, 18, 1, 1]
    static let testHost = PolicyHost(addresses: [], benchmarkingIsPublic: true)

    @Test(.enabled(if: getuid() == 0, "network namespaces need root"))
    func publicReachesAPublicAddressThroughAGatewayAndRefusesTheHostsOwnNetworks() throws {
        try Namespaces.with { spaces in
            let server = try #require(spaces.listen("198.18.0.2"))
            let relay = RelayHarness(NetworkPolicy(mode: .public), host: Self.testHost, route: HostRoute.refusal)
            spaces.startRelay(relay)
            relay.connect(1, Self.server, server.port)
            #expect(relay.nextNotAck(for: 1)?.kind == .netConnected)
            let upstream = try #require(server.accept())
            defer { close(upstream) }
            relay.send(Frame.netData(1, Array("ping".utf8)[...])[0])
            #expect(readSome(upstream) == Array("ping".utf8))
            #expect(writeAll(upstream, Array("pong".utf8)))
            #expect(relay.nextNotAck(for: 1)?.bodyText == "pong")

            relay.connect(2, Self.onLink, server.port)
            #expect(relay.next(for: 2)?.bodyText == "on the host's own network (on-link)")
            relay.connect(3, Self.own, server.port)
            #expect(relay.next(for: 3)?.bodyText == "the host's own address")
            #expect(server.accept(within: 0.3) == nil, "no refused stream reached a server")
        }
    }

    @Test(.enabled(if: getuid() == 0, "network namespaces need root"))
    func aNameResolvedByPensDNSAllowsItsAddressForThatSNIOnly() throws {
        try Namespaces.with { spaces in
            let server = try #require(spaces.listen("198.18.0.2"))
            let policy = NetworkPolicy(mode: .allow, rules: [try NetworkRule("example.test")])
            let relay = RelayHarness(policy, host: Self.testHost, answers: ["example.test": [IPAddress("198.18.0.2")!]],
                                     route: HostRoute.refusal)
            spaces.startRelay(relay)

            relay.connect(1, Self.server, server.port)
            #expect(relay.next(for: 1)?.bodyText == "not allowed (no allowed name resolved to it)", "no answer pinned it yet")

            relay.send(.dnsQuery(9, dnsQuery("example.test", type: DNSQuestion.a)[...]))
            let answer = try #require(relay.next(for: 9)).body
            #expect(answer[7] == 1 && Array(answer.suffix(4)) == Self.server)

            relay.connect(2, Self.server, server.port)
            #expect(relay.nextNotAck(for: 2)?.kind == .netConnected)
            let allowed = try #require(server.accept())
            defer { close(allowed) }
            let hello = tlsHello("example.test")
            relay.send(Frame.netData(2, hello[...])[0])
            var got: [UInt8] = []
            while got.count < hello.count, let more = readSome(allowed), !more.isEmpty { got += more }
            #expect(got == hello, "the hello naming the allowed name is passed on")

            relay.connect(3, Self.server, server.port)
            #expect(relay.nextNotAck(for: 3)?.kind == .netConnected)
            let refused = try #require(server.accept())
            defer { close(refused) }
            relay.send(Frame.netData(3, tlsHello("evil.test")[...])[0])
            #expect(relay.nextNotAck(for: 3)?.kind == .netReset)
            #expect(readSome(refused) == [], "the server saw none of the refused hello, only the close")
            #expect(relay.recorded.refusalLines.last?.contains("evil.test") == true)
        }
    }

    /// `allow example.test`, with pen's DNS having answered example.test → 198.18.0.2.
    private func pinnedRelay(_ spaces: Namespaces) throws -> RelayHarness {
        let policy = NetworkPolicy(mode: .allow, rules: [try NetworkRule("example.test")])
        let relay = RelayHarness(policy, host: Self.testHost, answers: ["example.test": [IPAddress("198.18.0.2")!]],
                                 route: HostRoute.refusal)
        spaces.startRelay(relay)
        relay.send(.dnsQuery(9, dnsQuery("example.test", type: DNSQuestion.a)[...]))
        _ = relay.next(for: 9)
        return relay
    }

    @Test(.enabled(if: getuid() == 0, "network namespaces need root"))
    func aCleartextConnectionCarriesOneRequestOnly() throws {
        try Namespaces.with { spaces in
            let server = try #require(spaces.listen("198.18.0.2"))
            let relay = try pinnedRelay(spaces)
            relay.connect(1, Self.server, server.port)
            #expect(relay.nextNotAck(for: 1)?.kind == .netConnected)
            let upstream = try #require(server.accept())
            defer { close(upstream) }
            let first = Array("POST /a HTTP/1.1\r\nHost: example.test\r\nContent-Length: 4\r\n\r\nbody".utf8)
            relay.send(Frame.netData(1, first[...])[0])
            var got: [UInt8] = []
            while got.count < first.count, let more = readSome(upstream), !more.isEmpty { got += more }
            #expect(got == first, "the first request and its body pass")
            #expect(writeAll(upstream, Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)))
            #expect(relay.nextNotAck(for: 1)?.kind == .netData)
            relay.send(Frame.netData(1, Array("GET /b HTTP/1.1\r\nHost: evil.test\r\n\r\n".utf8)[...])[0])
            #expect(relay.nextNotAck(for: 1)?.kind == .netReset)
            #expect(readSome(upstream) == [], "the second request never reached the server")

            relay.connect(2, Self.server, server.port)
            #expect(relay.nextNotAck(for: 2)?.kind == .netConnected)
            let upgraded = try #require(server.accept())
            defer { close(upgraded) }
            relay.send(Frame.netData(2, Array("GET / HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\n\r\n".utf8)[...])[0])
            #expect(relay.nextNotAck(for: 2)?.kind == .netReset)
            #expect(readSome(upgraded) == [], "an Upgrade is refused before any byte of it passes")
        }
    }

    @Test(.enabled(if: getuid() == 0, "network namespaces need root"))
    func aHelloThatNeverEndsIsRefusedAtTheDeadlineAndSilenceIsNot() throws {
        try Namespaces.with { spaces in
            let server = try #require(spaces.listen("198.18.0.2"))
            let relay = try pinnedRelay(spaces)
            relay.connect(1, Self.server, server.port)
            relay.connect(2, Self.server, server.port)
            #expect(relay.nextNotAck(for: 1)?.kind == .netConnected)
            #expect(relay.nextNotAck(for: 2)?.kind == .netConnected)
            let first = try #require(server.accept()), second = try #require(server.accept())
            defer { close(first); close(second) }
            let hello = tlsHello("example.test")
            relay.send(Frame.netData(1, hello.prefix(20))[0])  // then nothing: the rest would name the host
            let started = Date()
            let frame = relay.nextNotAck(for: 1, within: Inspection.deadline + 3)
            #expect(frame?.kind == .netReset)
            #expect(Date().timeIntervalSince(started) >= Inspection.deadline - 0.5)
            // Stream 2 sent nothing: a server that speaks first still reaches it.
            #expect(writeAll(second, Array("220 ready\r\n".utf8)))
            #expect(relay.nextNotAck(for: 2)?.bodyText == "220 ready\r\n")
            // Both connections are judged before any client byte reaches a server.
            for connection in [first, second] {
                var p = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
                if poll(&p, 1, 0) == 1 { #expect(readSome(connection) == [], "nothing but a close") }
            }
        }
    }
}

/// Two namespaces and a veth between them, made for one test and deleted after it.
struct Namespaces {
    let relaySide: String
    let serverSide: String

    static func with(_ body: (Namespaces) throws -> Void) throws {
        let spaces = Namespaces(relaySide: "pen-relay-\(getpid())", serverSide: "pen-server-\(getpid())")
        try ip("netns", "add", spaces.relaySide)
        defer { _ = try? ip("netns", "del", spaces.relaySide) }
        try ip("netns", "add", spaces.serverSide)
        defer { _ = try? ip("netns", "del", spaces.serverSide) }
        let (r, s) = (spaces.relaySide, spaces.serverSide)
        for args in [["-n", r, "link", "set", "lo", "up"], ["-n", s, "link", "set", "lo", "up"],
                     ["-n", r, "link", "add", "vr", "type", "veth", "peer", "name", "vs", "netns", s],
                     ["-n", r, "addr", "add", "198.18.1.1/24", "dev", "vr"], ["-n", r, "link", "set", "vr", "up"],
                     ["-n", s, "addr", "add", "198.18.1.2/24", "dev", "vs"], ["-n", s, "link", "set", "vs", "up"],
                     ["-n", s, "addr", "add", "198.18.0.2/32", "dev", "lo"],
                     ["-n", r, "route", "add", "198.18.0.0/24", "via", "198.18.1.2"]] {
            try ip(args)
        }
        try body(spaces)
    }

    /// A listener made inside the server's namespace (a socket stays in the namespace it was made in).
    func listen(_ address: String) -> TestServer? {
        let box = Box<TestServer>()
        inside(serverSide) { box.value = TestServer(address) }
        return box.value.flatMap { $0.port == 0 ? nil : $0 }
    }

    /// The relay's thread starts inside the relay's namespace (a thread inherits its creator's).
    func startRelay(_ relay: RelayHarness) {
        let relay = relay.relay
        inside(relaySide) { relay.start() }
    }

    private func inside(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            let fd = open("/run/netns/" + name, O_RDONLY | O_CLOEXEC)
            if fd >= 0 && enterNamespace(fd, 0x4000_0000) == 0 { body() }  // CLONE_NEWNET
            if fd >= 0 { close(fd) }
            done.signal()
        }
        thread.start()
        done.wait()
    }

    @discardableResult
    static func ip(_ args: String...) throws -> String { try ip(args) }

    @discardableResult
    static func ip(_ args: [String]) throws -> String {
        let result = try runProgram("/usr/sbin/ip", args)
        try #require(result.status == 0, "ip \(args.joined(separator: " ")): \(result.output)")
        return result.output
    }
}

private final class Box<T>: @unchecked Sendable { var value: T? }

@_silgen_name("setns") private func enterNamespace(_ fd: Int32, _ type: Int32) -> Int32
