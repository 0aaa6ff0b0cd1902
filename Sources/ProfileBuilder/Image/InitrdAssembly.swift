// initrd.img = the root's archive followed by the init layer's. The kernel unpacks
// concatenated archives in order, so a new init only re-packs its own small layer.
import Foundation
import PenCore

enum InitrdAssembly {
    /// Writes `<directory>/init-layer.cpio.zst` and `<directory>/initrd.img` (atomically) from
    /// the root archive and the init binary; returns the initrd's SHA-256 and size.
    static func assemble(root: String, initBinary: String, in directory: String) throws -> (sha256: String, bytes: UInt64) {
        let layer = directory + "/init-layer.cpio.zst"
        let initrd = directory + "/initrd.img"
        _ = try InitLayer.pack(initBinary: initBinary, to: layer)
        try concatenate([root, layer], to: initrd)
        return (try SHA256File.hex(path: initrd), fileSize(initrd))
    }

    /// Writes the inputs one after another to `output`, atomically.
    static func concatenate(_ inputs: [String], to output: String) throws {
        var bytes: [UInt8] = []
        for input in inputs {
            guard let data = FileManager.default.contents(atPath: input) else { throw PenError.system("cannot read \(input)") }
            // No padding between: zeros after a zstd frame would read as a corrupt next frame.
            bytes.append(contentsOf: data)
        }
        try SafeFiles.writeAtomically(bytes, to: output)
    }
}

/// A file's size in bytes (0 when it cannot be read).
func fileSize(_ path: String) -> UInt64 {
    var st = stat()
    return stat(path, &st) == 0 ? UInt64(st.st_size) : 0
}
