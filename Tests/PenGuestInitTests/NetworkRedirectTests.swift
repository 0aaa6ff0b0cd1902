import Foundation
import Glibc
import Testing
@testable import PenGuestInit

/// The guest's nftables table, installed for real in a network namespace the test makes (lo and a
/// veth pair; no packet can leave it): TCP to any address reaches the init's listener with its
/// original destination, DNS reaches the DNS listener, other UDP is dropped, loopback is untouched.
@Suite(.serialized) struct NetworkRedirectTests {
    struct Observed: Sendable {
        var installError: Int32?
        var originalDestination: String?
        var dnsQuery: String?
        var otherUDPErrno: Int32 = 0
        var loopbackErrno: Int32 = 0
        var gone = false
    }

    @Test(.enabled(if: getuid() == 0, "a network namespace needs root"))
    func anInterfaceIsDeletedByNameAndAMissingOneIsNoError() throws {
        let namespace = "pen-dellink-\(getpid())"
        try ip("netns", "add", namespace)
        defer { _ = try? ip("netns", "del", namespace) }
        try ip("-n", namespace, "link", "add", "pdel0", "type", "veth", "peer", "name", "pdel1")
        let seen = inNamespace(namespace) {
            var observed = Observed()
            observed.installError = InterfaceLink.delete("pdel0")
            observed.gone = if_nametoindex("pdel0") == 0 && if_nametoindex("pdel1") == 0
            if let again = InterfaceLink.delete("pdel0") { observed.installError = again }
            return observed
        }
        #expect(seen.installError == nil)
        #expect(seen.gone)
    }

    @Test(.enabled(if: getuid() == 0, "a network namespace needs root"))
    func tcpAndDNSReachTheInitWithTheirDestinationAndOtherUDPIsDropped() throws {
        let namespace = "pen-redirect-\(getpid())"
        try ip("netns", "add", namespace)
        defer { _ = try? ip("netns", "del", namespace) }
        for args in [["link", "set", "lo", "up"], ["link", "add", "v0", "type", "veth", "peer", "name", "v1"],
                     ["addr", "add", "10.0.2.15/24", "dev", "v0"], ["link", "set", "v0", "up"], ["link", "set", "v1", "up"],
                     ["route", "add", "default", "via", "10.0.2.2", "dev", "v0"]] {
            try ip(["-n", namespace] + args)
        }
        #expect(try ip("-n", namespace, "route", "show").contains("default via 10.0.2.2 dev v0"))

        let observed = inNamespace(namespace) { () -> Observed in
            var seen = Observed()
            if let failure = NetworkRedirect.install(tcpPort: 7001, dnsPort: 7053) { seen.installError = failure.errno; return seen }
            let listener = bound(SOCK_STREAM, port: 7001)
            listen(listener, 4)
            let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var quick = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &quick, socklen_t(MemoryLayout<timeval>.size))
            var target = address("203.0.113.7", 443)
            guard connectTo(client, &target) == 0 else { return seen }
            let accepted = accept(listener, nil, nil)
            var original = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            if getsockopt(accepted, SOL_IP, 80, &original, &length) == 0 {  // SO_ORIGINAL_DST
                var text = [CChar](repeating: 0, count: 16)
                inet_ntop(AF_INET, &original.sin_addr, &text, 16)
                let host = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                seen.originalDestination = host + ":\(UInt16(bigEndian: original.sin_port))"
            }
            [accepted, client, listener].forEach { close($0) }

            let dns = bound(SOCK_DGRAM, port: 7053)
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(dns, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let query = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            var resolver = address("10.0.2.3", 53)
            _ = sendTo(query, Array("where is deb.debian.org".utf8), &resolver)
            var buffer = [UInt8](repeating: 0, count: 512)
            let n = recv(dns, &buffer, buffer.count, 0)
            if n > 0 { seen.dnsQuery = String(decoding: buffer[0..<n], as: UTF8.self) }
            var ntp = address("203.0.113.7", 123)
            if sendTo(query, [1, 2, 3], &ntp) < 0 { seen.otherUDPErrno = errno }
            [dns, query].forEach { close($0) }

            let local = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var nobody = address("127.0.0.1", 7999)
            if connectTo(local, &nobody) < 0 { seen.loopbackErrno = errno }
            close(local)
            return seen
        }
        #expect(observed.installError == nil, "the kernel refused the table: errno \(observed.installError ?? 0)")
        #expect(observed.originalDestination == "203.0.113.7:443")
        #expect(observed.dnsQuery == "where is deb.debian.org")
        #expect(observed.otherUDPErrno == EPERM, "other UDP is dropped on its way out")
        #expect(observed.loopbackErrno == ECONNREFUSED, "loopback is not redirected")
    }

    @Test func theBatchIsFramedAsTheKernelReadsIt() {
        let (bytes, count) = NetworkRedirect.batch(tcpPort: 7001, dnsPort: 7053)
        #expect(count == 6)  // the table, its chain, four rules
        // Every message's length field walks exactly to the end: begin, the messages, end.
        var offset = 0, messages = 0
        while offset < bytes.count {
            let length = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2]) << 16
            #expect(length >= 20 && length % 4 == 0)
            offset += length
            messages += 1
        }
        #expect(offset == bytes.count)
        #expect(messages == count + 2)
    }

    // MARK: - helpers

    /// Runs `body` on a thread of its own moved into the namespace (setns changes only the
    /// calling thread), and returns what it saw.
    func inNamespace(_ name: String, _ body: @escaping @Sendable () -> Observed) -> Observed {
        let box = ObservedBox(), done = DispatchSemaphore(value: 0)
        let thread = Thread {
            let fd = open("/run/netns/" + name, O_RDONLY | O_CLOEXEC)
            if fd >= 0 && enterNamespace(fd, 0x4000_0000) == 0 { box.value = body() } else { box.value.installError = errno }  // CLONE_NEWNET
            if fd >= 0 { close(fd) }
            done.signal()
        }
        thread.start()
        done.wait()
        return box.value
    }
}

private final class ObservedBox: @unchecked Sendable {
    var value = NetworkRedirectTests.Observed()
}

@_silgen_name("setns") private func enterNamespace(_ fd: Int32, _ type: Int32) -> Int32

private func bound(_ type: __socket_type, port: UInt16) -> Int32 {
    let fd = socket(AF_INET, Int32(type.rawValue), 0)
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var local = address("127.0.0.1", port)
    _ = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    return fd
}

private func address(_ text: String, _ port: UInt16) -> sockaddr_in {
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_port = port.bigEndian
    inet_pton(AF_INET, text, &a.sin_addr)
    return a
}

private func connectTo(_ fd: Int32, _ a: inout sockaddr_in) -> Int32 {
    withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
}

private func sendTo(_ fd: Int32, _ bytes: [UInt8], _ a: inout sockaddr_in) -> Int {
    withUnsafePointer(to: &a) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}
