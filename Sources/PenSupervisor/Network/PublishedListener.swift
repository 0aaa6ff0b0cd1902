// A published port under the network policy: the supervisor listens on the host's 127.0.0.1:HOST
// itself (there is no passt to do it) and each connection becomes an inbound stream to the
// guest's 127.0.0.1:GUEST (`netInbound`). Bound before the VM starts, so a port in use is the
// boot's one clear error; kept across a restarted boot, closed with the supervisor.
import Glibc
import PenCore

public struct PublishedListener: Sendable {
    public let fd: Int32
    public let port: PublishedPort

    public static func bind(_ port: PublishedPort) throws(PenError) -> PublishedListener {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw PenError.system("cannot make a socket for --publish \(port.host):\(port.guest)") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.host.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            let error = PenError.system("cannot listen on 127.0.0.1:\(port.host) for --publish \(port.host):\(port.guest)")
            close(fd)
            throw error
        }
        return PublishedListener(fd: fd, port: port)
    }
}
