import Foundation
import PenIO
import PenWire
import Testing
@testable import PenCore
@testable import PenSupervisor

/// Published ports under the policy: a connection to the host's listener becomes an inbound
/// stream the guest connects; nothing is read from the host's side until the guest said so.
@Suite struct NetRelayInboundTests {
    /// A published port on a free host port, and that port.
    func listener(guest: UInt16) throws -> (PublishedListener, UInt16) {
        let published = try PublishedListener.bind(PublishedPort(host: 0, guest: guest))
        var a = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(published.fd, $0, &length) } }
        return (published, UInt16(bigEndian: a.sin_port))
    }

    func dial(_ port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        try #require(rc == 0)
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// The next frame of any stream.
    func nextFrame(_ relay: RelayHarness) -> Frame? { relay.guest.next(within: 5) }

    @Test func aConnectionToAPublishedPortIsCarriedToTheGuestsPort() throws {
        let (published, port) = try listener(guest: 8000)
        defer { close(published.fd) }
        let relay = RelayHarness(NetworkPolicy(mode: .public), published: [published]).start()
        let client = try dial(port)
        defer { close(client) }
        let inbound = try #require(nextFrame(relay))
        let id = try inbound.sessionID()
        #expect(inbound.kind == .netInbound && id >= inboundStreamBase && inbound.bodyText == "8000")

        #expect(writeAll(client, Array("ping".utf8)))
        relay.send(.netConnected(id))
        let data = try #require(relay.next(for: id))
        #expect(data.kind == .netData && data.bodyText == "ping", "what the client sent waits for the guest's connection")
        relay.send(.netData(id, Array("pong".utf8)[...])[0])
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect(read(client, &buffer, 16) == 4 && Array(buffer[0..<4]) == Array("pong".utf8))
    }

    @Test func aGuestThatRefusesClosesTheHostsConnection() throws {
        let (published, port) = try listener(guest: 8001)
        defer { close(published.fd) }
        let relay = RelayHarness(NetworkPolicy(mode: .public), published: [published]).start()
        let client = try dial(port)
        defer { close(client) }
        let id = try #require(nextFrame(relay)).sessionID()
        relay.send(.netRefused(id, "Connection refused"))
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect(read(client, &buffer, 16) == 0, "the client sees the connection end")
        // A second answer for the same stream is a guest out of turn: the stream is gone, it is reset.
        relay.send(.netConnected(id))
        #expect(relay.next(for: id)?.kind == .netReset)
    }
}
