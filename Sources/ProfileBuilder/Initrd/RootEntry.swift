// One node of a root filesystem: the unit that both the tar reader produces and the
// initrd packer and root image writer consume.

/// The file type of a `RootEntry`. Hard links do not appear: they are resolved
/// into independent copies when a tree is built.
public enum RootEntryKind: Sendable {
    case file, directory, symlink, characterDevice, blockDevice, fifo, socket
}

/// Where a file read from an archive keeps its bytes: a range of its tree's spool file
/// (on disk, so a large root never has to fit in memory).
struct SpoolRange: Sendable, Equatable {
    var offset: UInt64
    var length: UInt64
}

public struct RootEntry: Sendable {
    /// Relative, normalised path without a leading "./" or "/", e.g. "usr/bin/bash", as bytes:
    /// a Linux file name need not be UTF-8. "" is not allowed: the root directory itself is never an entry.
    public var pathBytes: [UInt8]
    public var kind: RootEntryKind
    /// Permission bits including setuid/setgid/sticky, without file-type bits.
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    /// File contents held in memory; only meaningful for `.file`. A file read from an archive
    /// has its contents in the tree's spool instead (see `RootTree.contents(of:)`).
    public var data: [UInt8]
    var spooled: SpoolRange?
    /// Only meaningful for `.symlink`; bytes, like paths.
    public var linkTargetBytes: [UInt8]
    /// Only meaningful for device nodes.
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32

    public init(path: String, kind: RootEntryKind, mode: UInt32, uid: UInt32 = 0, gid: UInt32 = 0,
                data: [UInt8] = [], linkTarget: String = "",
                deviceMajor: UInt32 = 0, deviceMinor: UInt32 = 0) {
        self.pathBytes = Array(path.utf8)
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.data = data
        self.linkTargetBytes = Array(linkTarget.utf8)
        self.deviceMajor = deviceMajor
        self.deviceMinor = deviceMinor
    }

    /// The path as text, for code that writes its own (UTF-8) paths and for messages;
    /// bytes that are not UTF-8 show as U+FFFD here, never in the tree.
    public var path: String {
        get { String(decoding: pathBytes, as: UTF8.self) }
        set { pathBytes = Array(newValue.utf8) }
    }

    public var linkTarget: String {
        get { String(decoding: linkTargetBytes, as: UTF8.self) }
        set { linkTargetBytes = Array(newValue.utf8) }
    }

    /// The file's size in bytes, wherever its contents are (0 for non-files).
    public var size: UInt64 {
        guard kind == .file else { return 0 }
        return spooled?.length ?? UInt64(data.count)
    }
}
