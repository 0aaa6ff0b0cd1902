// Who holds a flock: the kernel lists every lock in /proc/locks, e.g.
//   `3: FLOCK  ADVISORY  WRITE 12345 fe:01:1234567 0 EOF`
// (kind, advisory/mandatory, mode, pid, major:minor:inode in hex:hex:decimal, range).
// pen uses it to confirm the pid written in a VM's lock file before signalling it.
import Foundation

public struct ProcLockEntry: Equatable, Sendable {
    /// FLOCK, POSIX, OFDLCK, LEASE…
    public var kind: String
    /// READ or WRITE.
    public var mode: String
    /// The process that took the lock (-1 for OFD locks).
    public var pid: pid_t
    public var major: UInt32
    public var minor: UInt32
    public var inode: UInt64
}

public enum ProcLocks {
    /// Parses /proc/locks. Lines for waiters (`1: -> FLOCK …`) are skipped: they hold nothing.
    public static func parse(_ text: String) -> [ProcLockEntry] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 6, fields[0].hasSuffix(":"), fields[1] != "->" else { return nil }
            let device = fields[5].split(separator: ":")
            guard device.count == 3, let pid = pid_t(fields[4]),
                  let major = UInt32(device[0], radix: 16), let minor = UInt32(device[1], radix: 16),
                  let inode = UInt64(device[2]) else { return nil }
            return ProcLockEntry(kind: String(fields[1]), mode: String(fields[3]), pid: pid,
                                 major: major, minor: minor, inode: inode)
        }
    }

    /// The pids holding a flock on the file with this device and inode.
    public static func flockHolders(in text: String, device: dev_t, inode: ino_t) -> [pid_t] {
        let (major, minor) = split(device: UInt64(device))
        return parse(text).filter {
            $0.kind == "FLOCK" && $0.major == major && $0.minor == minor && $0.inode == UInt64(inode) && $0.pid > 0
        }.map(\.pid)
    }

    /// glibc's major()/minor() (macros Swift cannot call).
    public static func split(device dev: UInt64) -> (major: UInt32, minor: UInt32) {
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~UInt64(0xfff))
        let minor = (dev & 0xff) | ((dev >> 12) & ~UInt64(0xff))
        return (UInt32(truncatingIfNeeded: major), UInt32(truncatingIfNeeded: minor))
    }

    /// Whether process `pid` has a descriptor open on the file `file` was stat()ed from
    /// (compared by device and inode through /proc/PID/fd).
    public static func process(_ pid: pid_t, hasOpen file: stat) -> Bool {
        let dir = "/proc/\(pid)/fd"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return false }
        for entry in entries {
            var st = stat()
            if stat(dir + "/" + entry, &st) == 0, st.st_dev == file.st_dev, st.st_ino == file.st_ino { return true }
        }
        return false
    }
}
