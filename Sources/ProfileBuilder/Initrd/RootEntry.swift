// One node of an in-memory root filesystem: the unit that both the tar reader
// produces and the initrd packer consumes.

/// The file type of a `RootEntry`. Hard links do not appear: they are resolved
/// into independent copies when a tree is built.
public enum RootEntryKind: Sendable {
    case file, directory, symlink, characterDevice, blockDevice, fifo, socket
}

public struct RootEntry: Sendable {
    /// Relative, normalised path without a leading "./" or "/", e.g. "usr/bin/bash".
    /// "" is not allowed: the root directory itself is never an entry.
    public var path: String
    public var kind: RootEntryKind
    /// Permission bits including setuid/setgid/sticky, without file-type bits.
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    /// File contents; only meaningful for `.file`.
    public var data: [UInt8]
    /// Only meaningful for `.symlink`.
    public var linkTarget: String
    /// Only meaningful for device nodes.
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32

    public init(path: String, kind: RootEntryKind, mode: UInt32, uid: UInt32 = 0, gid: UInt32 = 0,
                data: [UInt8] = [], linkTarget: String = "",
                deviceMajor: UInt32 = 0, deviceMinor: UInt32 = 0) {
        self.path = path
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.data = data
        self.linkTarget = linkTarget
        self.deviceMajor = deviceMajor
        self.deviceMinor = deviceMinor
    }
}
