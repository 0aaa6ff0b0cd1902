// The sockets of the network policy's relay: the listeners on the guest's loopback that the
// redirect sends TCP and DNS to, the original destination of a redirected connection, a
// connect to a published port, and a close the peer sees as a reset. Every descriptor is
// non-blocking and close-on-exec (the sessions' programs never inherit them).
import CGuestSys
import Glibc
import PenWire

enum NetSockets {
    static let stage = "network relay"

    /// A socket bound to the loopback address of `family` (127.0.0.1 or ::1) at `port`;
    /// listening when it is a stream socket.
    static func loopback(_ type: __socket_type, family: Int32, port: UInt16) throws(InitFailure) -> Int32 {
        let fd = socket(family, Int32(type.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw .sys(stage, "socket") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let where_ = family == AF_INET ? "127.0.0.1:\(port)" : "[::1]:\(port)"
        let bound: Int32
        if family == AF_INET {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            bound = withSockaddr(&address) { bind(fd, $0, $1) }
        } else {
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            address.sin6_addr = in6addr_loopback
            bound = withSockaddr(&address) { bind(fd, $0, $1) }
        }
        if bound != 0 { let err = errno; close(fd); throw .sys(stage, "bind \(where_)", err) }
        if type == SOCK_STREAM, listen(fd, 128) != 0 { let err = errno; close(fd); throw .sys(stage, "listen on \(where_)", err) }
        return fd
    }

    /// Where the program behind an accepted connection meant to connect; nil when the
    /// connection did not come through the redirect (someone connected to the listener itself).
    static func originalDestination(of fd: Int32) -> NetDestination? {
        var bytes = [UInt8](repeating: 0, count: 16)
        var port: UInt16 = 0
        let length = pen_original_destination(fd, &bytes, &port)
        guard length > 0, let destination = NetDestination(address: Array(bytes.prefix(Int(length))), port: port) else { return nil }
        return destination == localAddress(of: fd) ? nil : destination
    }

    /// The address a socket is bound to, as a destination.
    static func localAddress(of fd: Int32) -> NetDestination? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        guard withUnsafeMutablePointer(to: &storage, {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }) == 0 else { return nil }
        return destination(of: storage)
    }

    static func destination(of storage: sockaddr_storage) -> NetDestination? {
        let family = Int32(storage.ss_family)
        return withUnsafeBytes(of: storage) { raw -> NetDestination? in
            switch family {
            case AF_INET:
                let a = raw.load(as: sockaddr_in.self)
                return NetDestination(address: withUnsafeBytes(of: a.sin_addr) { Array($0) }, port: UInt16(bigEndian: a.sin_port))
            case AF_INET6:
                let a = raw.load(as: sockaddr_in6.self)
                return NetDestination(address: withUnsafeBytes(of: a.sin6_addr) { Array($0) }, port: UInt16(bigEndian: a.sin6_port))
            default: return nil
            }
        }
    }

    enum Connect {
        case connected(Int32)
        /// Its outcome comes with POLLOUT (see `connectError`).
        case inProgress(Int32)
        case failed(errno: Int32)
    }

    /// Starts a connect to 127.0.0.1:`port` (a published port's program).
    static func connectLoopback(port: UInt16) -> Connect {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failed(errno: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        if withSockaddr(&address, { connect(fd, $0, $1) }) == 0 { return .connected(fd) }
        let err = errno
        if err == EINPROGRESS || err == EINTR { return .inProgress(fd) }
        close(fd)
        return .failed(errno: err)
    }

    /// The outcome of a connect that was in progress: 0 once connected, else its errno.
    static func connectError(_ fd: Int32) -> Int32 {
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0 { return errno }
        return error
    }

    static func isConnected(_ fd: Int32) -> Bool {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        return withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        } == 0
    }

    /// Closes `fd` so that its peer sees ECONNRESET at once (a refused or failed stream).
    static func closeWithReset(_ fd: Int32) { pen_close_with_reset(fd) }

    static func withSockaddr<A, R>(_ address: inout A, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<A>.size)) }
        }
    }
}

extension NetDestination {
    /// 203.0.113.7:443, [2001:db8::1]:443.
    var text: String {
        var chars = [CChar](repeating: 0, count: 64)
        var bytes = address
        let family = address.count == 4 ? AF_INET : AF_INET6
        inet_ntop(family, &bytes, &chars, socklen_t(chars.count))
        let host = String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return family == AF_INET ? "\(host):\(port)" : "[\(host)]:\(port)"
    }
}
