// Helpers for the initrd tests: sample trees, reading an initrd back, a shell.

import CArchive
import Foundation
import PenTestSupport
import Testing
@testable import ProfileBuilder
import PenCore

// MARK: - Helpers


func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

@discardableResult
func shell(_ command: String, cwd: String? = nil) throws -> (status: Int32, out: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", command]
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// The sample tree's entries, in the order given.
func sampleEntries() -> [RootEntry] {
    [
        RootEntry(path: "etc", kind: .directory, mode: 0o755),
        RootEntry(path: "etc/hostname", kind: .file, mode: 0o644, data: bytes("pen\n")),
        RootEntry(path: "etc/shadow", kind: .file, mode: 0o640, uid: 0, gid: 42, data: bytes("root:*:1::::::\n")),
        RootEntry(path: "home/user", kind: .directory, mode: 0o700, uid: 1000, gid: 1000),
        RootEntry(path: "home/user/.profile", kind: .file, mode: 0o600, uid: 1000, gid: 1000,
                  data: Array(repeating: 0x41, count: 100_000)),
        RootEntry(path: "usr/bin/sudo", kind: .file, mode: 0o4755, data: [0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]),
        RootEntry(path: "tmp", kind: .directory, mode: 0o1777),
        RootEntry(path: "bin", kind: .symlink, mode: 0o777, linkTarget: "usr/bin"),
        RootEntry(path: "dev/console", kind: .characterDevice, mode: 0o600, deviceMajor: 5, deviceMinor: 1),
        RootEntry(path: "dev/sda", kind: .blockDevice, mode: 0o660, gid: 6, deviceMajor: 8, deviceMinor: 0),
        RootEntry(path: "run/initctl", kind: .fifo, mode: 0o600),
        RootEntry(path: "empty", kind: .file, mode: 0o644),
        RootEntry(path: "usr/share/caf\u{e9}", kind: .file, mode: 0o644, data: bytes("nfc")),
        RootEntry(path: "usr/share/cafe\u{301}", kind: .file, mode: 0o644, data: bytes("nfd")),
    ]
}

func tree(_ entries: [RootEntry]) -> RootTree {
    var t = RootTree()
    for e in entries { t.add(e) }
    return t
}

struct ReadBack {
    var path: String
    var type: UInt32
    var perm: UInt32
    var uid: Int64, gid: Int64
    var mtime: Int
    var ino: Int64
    var nlink: UInt32
    var symlink: String?
    var rdevMajor: UInt64, rdevMinor: UInt64
    var data: [UInt8]
}

/// Reads a zstd-compressed cpio back with libarchive, independently of the reader under test.
func readInitrd(_ path: String) throws -> (format: String, filter: String, entries: [ReadBack]) {
    let a = try #require(archive_read_new())
    defer { archive_read_free(a) }
    archive_read_support_filter_zstd(a)
    archive_read_support_format_cpio(a)
    try #require(archive_read_open_filename(a, path, 65536) == ARCHIVE_OK)
    var out: [ReadBack] = []
    var entry: OpaquePointer?
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let r = archive_read_next_header(a, &entry)
        if r == ARCHIVE_EOF { break }
        try #require(r == ARCHIVE_OK, "\(String(cString: archive_error_string(a)))")
        let e = try #require(entry)
        var data: [UInt8] = []
        while true {
            let n = buf.withUnsafeMutableBytes { archive_read_data(a, $0.baseAddress, $0.count) }
            try #require(n >= 0)
            if n == 0 { break }
            data += buf[0..<n]
        }
        out.append(ReadBack(
            path: String(cString: archive_entry_pathname(e)),
            type: UInt32(archive_entry_filetype(e)), perm: UInt32(archive_entry_perm(e)),
            uid: archive_entry_uid(e), gid: archive_entry_gid(e),
            mtime: Int(archive_entry_mtime(e)), ino: archive_entry_ino64(e),
            nlink: UInt32(archive_entry_nlink(e)),
            symlink: archive_entry_symlink(e).map { String(cString: $0) },
            rdevMajor: UInt64(archive_entry_rdevmajor(e)), rdevMinor: UInt64(archive_entry_rdevminor(e)),
            data: data))
    }
    let format = String(cString: archive_format_name(a))
    let filter = String(cString: archive_filter_name(a, 0))
    return (format, filter, out)
}

func contents(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

func directoryListing(_ dir: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
}

// MARK: - RootTree


/// Why reading `tar` as a root tree failed; nil when it was read (or failed some other way).
func refusal(_ tar: String, maxEntries: Int = RootTree.defaultMaxEntries) -> InitrdError? {
    do {
        _ = try RootTree.readTar(path: tar, maxEntries: maxEntries)
        return nil
    } catch let e as InitrdError { return e } catch { return nil }
}
