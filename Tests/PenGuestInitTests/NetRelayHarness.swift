import Foundation
import Glibc
import PenIO
import PenWire
@testable import PenGuestInit

/// A guest's network with the policy, for real, in a network namespace the test makes: its
/// dummy0 (a veth here: this host's kernel has no dummy module) configured by the init's own
/// `Network.configurePolicyInterface` (addresses, routes, the redirect), the relay's listeners
/// and the relay on its thread; the test plays the host over a socketpair standing in for
/// `pen.net`. Nothing can leave the namespace. Everything runs on a thread inside it; what the
/// test observed comes back as `failures`.
final class RelayHarness: @unchecked Sendable {
    let host: FrameLink
    private let relayFinished = DispatchSemaphore(value: 0)
    private var buffer = [UInt8](repeating: 0, count: 65536)
    /// Frames read while waiting for another kind, in order.
    private(set) var passed: [Frame] = []
    private(set) var failures: [String] = []

    /// Sets up the namespace, runs `body` inside it, tears everything down; the failures seen.
    static func run(_ name: String, _ body: @escaping @Sendable (RelayHarness) throws -> Void) -> [String] {
        let namespace = "pen-relay-\(getpid())-\(name)"
        var failures: [String] = []
        do {
            try ip("netns", "add", namespace)
            defer { _ = try? ip("netns", "del", namespace) }
            for args in [["link", "set", "lo", "up"], ["link", "add", "dummy0", "type", "veth", "peer", "name", "v1"],
                         ["link", "set", "v1", "up"]] {
                try ip(["-n", namespace] + args)
            }
            let box = FailuresBox(), done = DispatchSemaphore(value: 0)
            let thread = Thread {
                let fd = open("/run/netns/" + namespace, O_RDONLY | O_CLOEXEC)
                defer { if fd >= 0 { close(fd) }; done.signal() }
                guard fd >= 0, enterNamespace(fd, 0x4000_0000) == 0 else { box.value = ["setns: errno \(errno)"]; return }  // CLONE_NEWNET
                box.value = inside(body)
            }
            thread.start()
            done.wait()
            failures = box.value
        } catch {
            failures = ["namespace: \(error)"]
        }
        return failures
    }

    private static func inside(_ body: (RelayHarness) throws -> Void) -> [String] {
        signal(SIGPIPE, SIG_IGN)
        do throws(InitFailure) { try Network.configurePolicyInterface() } catch { return ["configure: \(error.line)"] }
        let net = GuestContract.Network.self
        var pair: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else { return ["socketpair"] }
        let relay: NetRelay
        do throws(InitFailure) {
            relay = NetRelay(link: pair[0],
                             listeners: [try NetSockets.loopback(SOCK_STREAM, family: AF_INET, port: net.policyTCPPort),
                                         try NetSockets.loopback(SOCK_STREAM, family: AF_INET6, port: net.policyTCPPort)],
                             dnsSockets: [try NetSockets.loopback(SOCK_DGRAM, family: AF_INET, port: net.policyDNSPort),
                                          try NetSockets.loopback(SOCK_DGRAM, family: AF_INET6, port: net.policyDNSPort)])
        } catch { return ["listeners: \(error.line)"] }
        let harness = RelayHarness(host: FrameLink(fd: pair[1]))
        let started = Threads.detach { [harness] in relay.run(); harness.relayFinished.signal() }
        guard started else { return ["relay thread"] }
        do { try body(harness) } catch { harness.check(false, "\(error)") }
        // The host goes away: the relay ends, its streams reset and its sockets closed.
        harness.host.markClosed()
        shutdown(harness.host.fd, Int32(SHUT_RDWR))
        harness.check(harness.relayFinished.wait(timeout: .now() + 5) == .success, "the relay ends when pen.net closes")
        return harness.failures
    }

    private init(host: FrameLink) { self.host = host }

    func check(_ condition: Bool, _ what: @autoclosure () -> String, line: Int = #line) {
        if !condition { failures.append("line \(line): \(what())") }
    }

    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    /// The value, or a failure that ends the scenario.
    func need<T>(_ value: T?, line: Int = #line) throws -> T {
        guard let value else { throw Missing(description: "line \(line): a value the scenario needs is missing") }
        return value
    }

    // MARK: playing the host

    /// Sends frames, waiting (bounded) until the socketpair took them all.
    func send(_ frames: Frame...) { send(frames) }

    func send(_ frames: [Frame]) {
        host.send(frames)
        let deadline = Date().addingTimeInterval(5)
        while host.wantsWrite && Date() < deadline {
            var p = pollfd(fd: host.fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&p, 1, 100)
            host.flush()
        }
        check(!host.wantsWrite, "the relay took the host's frames")
    }

    /// The next frame of `kind` (others are kept in `passed`), waiting at most `millis`.
    func next(_ kind: FrameKind, within millis: Int = 5000, line: Int = #line) -> Frame? {
        let deadline = Date().addingTimeInterval(Double(millis) / 1000)
        while Date() < deadline {
            let left = Int(deadline.timeIntervalSinceNow * 1000)
            guard let frame = try? host.next(within: max(1, left), &buffer) else { break }
            if frame.kind == kind { return frame }
            passed.append(frame)
        }
        check(false, "no \(kind) within \(millis) ms (passed: \(passed.map(\.kind)))", line: line)
        return nil
    }

    /// Every frame that comes until nothing has for `quietMillis`.
    func drain(quietMillis: Int = 300) -> [Frame] {
        var frames: [Frame] = []
        while let frame = try? host.next(within: quietMillis, &buffer) { frames.append(frame) }
        return frames
    }

    // MARK: playing the guest's programs

    /// A TCP client connected (through the redirect) to `address`:`port`; blocking, with 5 s timeouts.
    func connectClient(_ address: String, _ port: UInt16) -> Int32? {
        let v6 = address.contains(":")
        let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        setTimeouts(fd)
        let rc: Int32
        if v6 {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = port.bigEndian
            inet_pton(AF_INET6, address, &a.sin6_addr)
            rc = NetSockets.withSockaddr(&a) { connect(fd, $0, $1) }
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            inet_pton(AF_INET, address, &a.sin_addr)
            rc = NetSockets.withSockaddr(&a) { connect(fd, $0, $1) }
        }
        guard rc == 0 else { check(false, "connect \(address):\(port): errno \(errno)"); close(fd); return nil }
        return fd
    }

    func setTimeouts(_ fd: Int32, seconds: Int = 5) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Reads until `count` bytes came, the end of the stream, or an error (its errno).
    func readBytes(_ fd: Int32, _ count: Int) -> (bytes: [UInt8], errno: Int32) {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while out.count < count {
            let n = recv(fd, &chunk, min(chunk.count, count - out.count), 0)
            if n < 0 { return (out, errno) }
            if n == 0 { break }
            out += chunk[0..<n]
        }
        return (out, 0)
    }

    func write(_ fd: Int32, _ text: String) {
        check(writeAll(fd, Array(text.utf8)), "write \(text)")
    }
}

private final class FailuresBox: @unchecked Sendable {
    var value: [String] = []
}

@_silgen_name("setns") private func enterNamespace(_ fd: Int32, _ type: Int32) -> Int32

