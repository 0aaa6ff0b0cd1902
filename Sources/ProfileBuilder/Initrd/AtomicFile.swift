// Publishes a file atomically: write a private temporary next to the
// destination, fsync it, rename it over the destination, fsync the directory.
// Readers see either the old file or the complete new one, never a mix.

import Foundation

struct AtomicFile {
    let destination: String
    let temporaryPath: String
    private let directory: String
    /// Open descriptor of the temporary; -1 once closed.
    private(set) var fd: Int32
    /// Set once the rename succeeded: from then on the temporary name is gone.
    private var published = false

    /// Creates the temporary with O_CREAT|O_EXCL|O_NOFOLLOW: an existing file or a
    /// planted symlink at that name makes creation fail instead of being followed.
    /// - Parameter temporaryPath: fixed temp name (tests); otherwise a random one.
    static func create(destination: String, temporaryPath fixed: String? = nil) throws -> AtomicFile {
        let (directory, base) = try split(destination)
        // Read-write so the caller can hash what it wrote through the same descriptor.
        let flags = O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC
        var attempt = 0
        while true {
            let temp = fixed ?? "\(directory)/.\(base).tmp-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
            let fd = open(temp, flags, 0o644)
            if fd >= 0 {
                // Same permissions whoever runs us, independent of the umask.
                _ = fchmod(fd, 0o644)
                return AtomicFile(destination: destination, temporaryPath: temp, directory: directory, fd: fd)
            }
            let err = errno
            attempt += 1
            // A random name that collides is retried; anything else is final.
            if err == EINTR || (err == EEXIST && fixed == nil && attempt < 16) { continue }
            throw InitrdError.createTemporary(path: temp, errno: err)
        }
    }

    /// Flushes the temporary's data and metadata to disk.
    func sync() throws {
        guard fsync(fd) == 0 else { throw InitrdError.sync(path: temporaryPath, errno: errno) }
    }

    /// Closes the temporary, renames it over the destination and syncs the
    /// directory so the rename itself survives a crash.
    mutating func commit() throws {
        let closeResult = close(fd)
        let closeErr = errno
        fd = -1
        guard closeResult == 0 else { throw InitrdError.sync(path: temporaryPath, errno: closeErr) }
        guard rename(temporaryPath, destination) == 0 else {
            throw InitrdError.publish(temporary: temporaryPath, destination: destination, errno: errno)
        }
        published = true
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { throw InitrdError.sync(path: directory, errno: errno) }
        defer { close(dfd) }
        // The new file is already in place; failing here means it may not be durable.
        guard fsync(dfd) == 0 else { throw InitrdError.sync(path: directory, errno: errno) }
    }

    /// Closes and removes the temporary unless it was already published; the
    /// destination is untouched. Idempotent.
    mutating func discard() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        if !published {
            unlink(temporaryPath)
            published = true  // nothing left to clean up
        }
    }

    private static func split(_ path: String) throws -> (directory: String, base: String) {
        // Split on the last "/" byte (not Character: "/" plus a combining mark is one Character).
        let bytes = Array(path.utf8)
        let dir: String, base: String
        if let slash = bytes.lastIndex(of: UInt8(ascii: "/")) {
            dir = slash == 0 ? "/" : String(decoding: bytes[..<slash], as: UTF8.self)
            base = String(decoding: bytes[(slash + 1)...], as: UTF8.self)
        } else {
            dir = "."
            base = path
        }
        guard !base.isEmpty, base != ".", base != ".." else {
            throw InitrdError.invalidDestination(path: path)
        }
        return (dir, base)
    }
}
