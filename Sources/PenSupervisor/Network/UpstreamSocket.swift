// The host's end of a stream: a non-blocking TCP socket to the destination the policy allowed.
// `connect` starts the connection and returns at once; the relay's poll says when it finished
// (POLLOUT, then SO_ERROR), and its deadline ends one that takes too long.
import Glibc
import PenCore

enum UpstreamSocket {
    /// How long a connection may take to be established.
    static let connectDeadline = 10.0

    /// A socket connecting to `address`:`port` (a connection in progress), or the errno's words.
    static func connect(_ address: IPAddress, _ port: UInt16) -> Result<Int32, ConnectFailure> {
        let family = address.isIPv4 ? AF_INET : AF_INET6
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(ConnectFailure(errno)) }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let result: Int32
        switch address {
        case .v4:
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            let bytes = address.bytes
            withUnsafeMutableBytes(of: &a.sin_addr) { $0.copyBytes(from: bytes) }
            result = withUnsafePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        case .v6:
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = port.bigEndian
            let bytes = address.bytes
            withUnsafeMutableBytes(of: &a.sin6_addr) { $0.copyBytes(from: bytes) }
            result = withUnsafePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
        if result == 0 || errno == EINPROGRESS { return .success(fd) }
        let failure = ConnectFailure(errno)
        close(fd)
        return .failure(failure)
    }

    /// Once POLLOUT came: nil when connected, else why not.
    static func outcome(_ fd: Int32) -> ConnectFailure? {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) == 0 else { return ConnectFailure(errno) }
        return code == 0 ? nil : ConnectFailure(code)
    }
}

/// A connection that failed, in words the guest's log and network.log show.
struct ConnectFailure: Error {
    let words: String
    init(_ code: Int32) { words = String(cString: strerror(code)) }
    init(words: String) { self.words = words }
}
