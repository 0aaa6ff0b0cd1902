// The relay under test: a real NetRelay on its thread, the guest played by the test over a real
// socketpair speaking pen.net's frames, servers on the test's own addresses (loopback, or a
// network namespace the test made).
import Foundation
import PenIO
import PenTestSupport
import PenWire
import Testing
@testable import PenCore
@testable import PenSupervisor

final class Recorded: @unchecked Sendable {
    private let lock = NSLock()
    private var refusals: [String] = []
    private var fatals: [String] = []
    private var lookups: [String] = []

    func refused(_ s: String) { lock.withLock { refusals.append(s) } }
    func fatal(_ s: String) { lock.withLock { fatals.append(s) } }
    func looked(_ s: String) { lock.withLock { lookups.append(s) } }
    var refusalLines: [String] { lock.withLock { refusals } }
    var fatalLines: [String] { lock.withLock { fatals } }
    var lookedUp: [String] { lock.withLock { lookups } }
}

final class RelayHarness: @unchecked Sendable {
    let guest: FrameReader
    let relay: NetRelay
    let recorded: Recorded
    let directory = TemporaryDirectory.fresh("pen-netrelay")
    var logPath: String { directory.file("network.log") }

    /// `answers`: what the host's resolver says per name (others: no such name); lookups are recorded.
    init(_ policy: NetworkPolicy, host: PolicyHost = PolicyHost(addresses: []), answers: [String: [IPAddress]] = [:],
         lookupTakes seconds: Double = 0, route: @escaping @Sendable (IPAddress) -> String? = { _ in nil },
         published: [PublishedListener] = []) {
        let (relayEnd, guestEnd) = socketPair()
        guest = FrameReader(guestEnd)
        let recorded = Recorded()
        self.recorded = recorded
        var configuration = NetRelay.Configuration(policy: policy, host: host, logPath: directory.file("network.log"))
        configuration.published = published
        relay = NetRelay(port: relayEnd, configuration: configuration,
                         onRefusal: recorded.refused, onFatal: recorded.fatal,
                         resolve: { name, type in
                             let text = String(decoding: name, as: UTF8.self)
                             recorded.looked(text)
                             if seconds > 0 { usleep(UInt32(seconds * 1_000_000)) }
                             guard let found = answers[text] else { return .noSuchName }
                             return .addresses(found.filter { $0.isIPv4 == (type == DNSQuestion.a) }, ttl: 30)
                         },
                         routeRefusal: route)
    }

    deinit {
        relay.stop()
        close(guest.fd)
    }

    func start() -> Self { relay.start(); return self }

    func send(_ frames: Frame...) { frames.forEach { guest.send($0) } }

    /// Frames read while waiting for another stream's, in order.
    private var pending: [Frame] = []

    /// The next frame for stream `id` (other streams' frames kept for their turn).
    func next(for id: UInt32, within seconds: Double = 5) -> Frame? {
        if let i = pending.firstIndex(where: { (try? $0.sessionID()) == id }) { return pending.remove(at: i) }
        let deadline = Date().addingTimeInterval(seconds)
        while let frame = guest.next(within: max(0.01, deadline.timeIntervalSinceNow)) {
            if (try? frame.sessionID()) == id { return frame }
            if pending.count < 100_000 { pending.append(frame) }
        }
        return nil
    }

    /// The next frame for stream `id` that is not an ack of its data.
    func nextNotAck(for id: UInt32, within seconds: Double = 5) -> Frame? {
        let deadline = Date().addingTimeInterval(seconds)
        while let frame = next(for: id, within: max(0.01, deadline.timeIntervalSinceNow)) {
            if frame.kind != .netAck { return frame }
        }
        return nil
    }

    func connect(_ id: UInt32, _ address: [UInt8], _ port: UInt16) {
        send(.netConnect(id, NetDestination(address: address, port: port)!))
    }

    func logLines() -> [[String: Any]] {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }
}

extension Frame {
    /// A stream frame's body after its id.
    var body: [UInt8] { Array(payload.dropFirst(4)) }
    var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A TCP listener of the test's own on `address`, port chosen by the kernel.
final class TestServer {
    let fd: Int32
    let port: UInt16

    init(_ address: String = "127.0.0.1", backlog: Int32 = 16, receiveBuffer: Int32? = nil) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.fd = fd
        if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, address, &a.sin_addr)
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(fd, backlog)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        port = UInt16(bigEndian: a.sin_port)
    }

    deinit { close(fd) }

    /// The next connection, within `seconds`.
    func accept(within seconds: Double = 5) -> Int32? {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(seconds * 1000)) == 1 else { return nil }
        let connection = Glibc.accept(fd, nil, nil)
        return connection >= 0 ? connection : nil
    }
}

/// What `fd` gives within `seconds`: bytes, [] at EOF, nil when nothing came.
func readSome(_ fd: Int32, within seconds: Double = 5) -> [UInt8]? {
    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&p, 1, Int32(seconds * 1000)) == 1 else { return nil }
    var buffer = [UInt8](repeating: 0, count: 65536)
    let n = read(fd, &buffer, buffer.count)
    return n >= 0 ? Array(buffer[0..<n]) : nil
}

/// A DNS query of one question.
func dnsQuery(_ name: String, type: UInt16, id: UInt16 = 0x1234) -> [UInt8] {
    let labels = name.split(separator: ".").flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
    return [UInt8(id >> 8), UInt8(id & 0xff), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0] + labels + [0, UInt8(type >> 8), UInt8(type & 0xff), 0, 1]
}

/// A TLS record holding a ClientHello that names `name`.
func tlsHello(_ name: String) -> [UInt8] {
    func u16(_ n: Int) -> [UInt8] { [UInt8(n >> 8), UInt8(n & 0xff)] }
    let list: [UInt8] = [0] + u16(name.utf8.count) + Array(name.utf8)
    let sni = u16(list.count) + list
    let extensions = u16(0) + u16(sni.count) + sni
    var body: [UInt8] = [3, 3] + [UInt8](repeating: 7, count: 32) + [0] + u16(2) + [0x13, 0x01] + [1, 0]
    body += u16(extensions.count) + extensions
    let handshake = [1, UInt8(body.count >> 16), UInt8(body.count >> 8 & 0xff), UInt8(body.count & 0xff)] + body
    return [0x16, 3, 1] + u16(handshake.count) + handshake
}

let gatewayBytes: [UInt8] = [10, 0, 2, 2]
