// Where a running VM is reached: a private directory (0700) holding its supervisor's socket
// (0600). The socket is bound and connected through /proc/self/fd/N of the opened directory,
// so the path is short whatever PEN_HOME is (sun_path holds 108 bytes) and no link in the
// VM's path can redirect it; a client connects only to a socket, never through a link in its place.
import Foundation
import CHostSys

public struct RunDirectory: Sendable {
    public let path: String
    static let socketName = "pen.sock"

    public init(path: String) {
        self.path = path
    }

    public var socketPath: String { path + "/" + Self.socketName }

    /// Creates the directory (or takes over an old one of ours), removes a stale socket and
    /// listens on a fresh one. Only this user can reach it, and the supervisor checks each peer.
    public func listen() throws(PenError) -> Int32 {
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw PenError.system("cannot create \(path)") }
        let dir = try openDirectory()
        defer { close(dir) }
        var st = stat()
        guard fstat(dir, &st) == 0, st.st_uid == geteuid() else {
            throw PenError("\(path) belongs to another user", fix: "remove it; pen keeps its sockets private")
        }
        if st.st_mode & 0o777 != 0o700 { fchmod(dir, 0o700) }
        unlinkat(dir, Self.socketName, 0)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw PenError.system("cannot create a socket") }
        var ok = false
        defer { if !ok { close(fd) } }
        guard bindOrConnect(fd, directory: dir, bind: true) == 0 else { throw PenError.system("cannot bind \(socketPath)") }
        fchmodat(dir, Self.socketName, 0o600, 0)
        guard Glibc.listen(fd, 128) == 0 else { throw PenError.system("cannot listen on \(socketPath)") }
        ok = true
        return fd
    }

    /// A connection to the supervisor, or nil when nobody listens (no socket yet, or a stale one
    /// left by a supervisor that was killed).
    public func connect() throws(PenError) -> Int32? {
        let dir = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard dir >= 0 else {
            if errno == ENOENT { return nil }
            return try openDirectory()  // throws the reason (a symlink, permissions)
        }
        defer { close(dir) }
        // connect(2) follows a symlink at the socket's name: only a socket itself is reached.
        var st = stat()
        guard fstatat(dir, Self.socketName, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return nil }
            throw PenError.system("cannot read \(socketPath)")
        }
        guard st.st_mode & S_IFMT == S_IFSOCK else {
            throw PenError("\(socketPath) is not a socket", fix: "remove it; pen recreates it when the VM starts")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw PenError.system("cannot create a socket") }
        if bindOrConnect(fd, directory: dir, bind: false) == 0 { return fd }
        let err = errno
        close(fd)
        if err == ENOENT || err == ECONNREFUSED { return nil }
        throw PenError.system("cannot connect to \(socketPath)", err)
    }

    /// Removes the socket (the supervisor, as it exits).
    public func removeSocket() {
        guard let dir = try? openDirectory() else { return }
        unlinkat(dir, Self.socketName, 0)
        close(dir)
    }

    private func openDirectory() throws(PenError) -> Int32 {
        let dir = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard dir >= 0 else {
            let err = errno
            try SafeFiles.refuseSymlink(path)
            throw PenError.system("cannot open \(path)", err)
        }
        return dir
    }

    private func bindOrConnect(_ fd: Int32, directory: Int32, bind: Bool) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let name = Array("/proc/self/fd/\(directory)/\(Self.socketName)".utf8CString)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: name.map { UInt8(bitPattern: $0) }.prefix(raw.count - 1))
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind ? Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                     : Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }

    /// The uid at the other end of an accepted connection.
    public static func peerUID(_ fd: Int32) -> uid_t? {
        let uid = pen_peer_uid(fd)
        return uid < 0 ? nil : uid_t(uid)
    }
}
