// The small archive that puts PenGuestInit at /init, plus what it needs before procfs.
import Foundation
import PenCore
import PenWire

enum InitLayer {
    static func tree(initBinary: String) throws -> RootTree {
        guard let data = FileManager.default.contents(atPath: initBinary) else {
            throw PenError.system("cannot read the guest init \(initBinary)")
        }
        var tree = RootTree()
        tree.add(RootEntry(path: String(GuestContract.initPath.dropFirst()), kind: .file, mode: 0o755, data: Array(data)))
        // The kernel opens /dev/console for init's stdio before anything is mounted.
        tree.add(RootEntry(path: "dev", kind: .directory, mode: 0o755))
        tree.add(RootEntry(path: "dev/console", kind: .characterDevice, mode: 0o600, deviceMajor: 5, deviceMinor: 1))
        // The static Swift runtime reads /proc/self/exe before main; procfs hides this once mounted.
        tree.add(RootEntry(path: "proc", kind: .directory, mode: 0o555))
        tree.add(RootEntry(path: "proc/self", kind: .directory, mode: 0o555))
        tree.add(RootEntry(path: "proc/self/exe", kind: .symlink, mode: 0o777, linkTarget: GuestContract.initPath))
        return tree
    }

    static func pack(initBinary: String, to path: String) throws -> PackResult {
        try InitrdPacker.pack(try tree(initBinary: initBinary), to: path, zstdLevel: 3)
    }
}
