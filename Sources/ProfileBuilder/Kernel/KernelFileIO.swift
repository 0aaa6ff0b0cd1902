// Atomic file output for kernel artifacts: a crash or a concurrent `pen` never
// leaves a half-written vmlinux where a later boot would pick it up.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct KernelFileError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var message: String
    public var description: String { "cannot write \(path): \(message)" }
}

enum KernelFileIO {
    /// Writes `bytes` to a temporary file next to `path`, fsyncs it, then renames it over `path`.
    static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent
        let temp = (dir.isEmpty ? "." : dir) + "/.\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw KernelFileError(path: path, message: String(cString: strerror(errno))) }
        var ok = false
        defer {
            if !ok { unlink(temp) }
        }
        do {
            defer { close(fd) }
            try bytes.withUnsafeBytes { buf in
                var done = 0
                while done < buf.count {
                    let n = write(fd, buf.baseAddress! + done, buf.count - done)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw KernelFileError(path: path, message: String(cString: strerror(errno)))
                    }
                    done += n
                }
            }
            guard fsync(fd) == 0 else { throw KernelFileError(path: path, message: String(cString: strerror(errno))) }
        }
        guard rename(temp, path) == 0 else {
            throw KernelFileError(path: path, message: String(cString: strerror(errno)))
        }
        ok = true
    }
}
