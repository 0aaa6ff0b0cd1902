// Small file utilities the image pipeline shares.
import Foundation
import PenCore

/// A private scratch directory removed when the build ends (successful or not).
struct TemporaryDirectory {
    let path: String

    init(in parent: String, prefix: String) throws {
        var template = Array("\(parent)/\(prefix)XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw PenError.system("cannot create a temporary directory in \(parent)")
        }
        path = String(cString: made)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Deletes scratch directories a killed build left in `parent`. Call it only under the
    /// build lock of `parent`: then no live build owns any of them.
    static func removeAbandoned(in parent: String, prefixes: [String]) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: parent) else { return }
        for entry in entries where prefixes.contains(where: { entry.hasPrefix($0) }) {
            try? FileManager.default.removeItem(atPath: parent + "/" + entry)
        }
    }
}

/// An exclusive flock held for the life of the value; waits, saying so once.
final class BuildLock {
    let fd: Int32

    init(path: String, waiting: () -> Void) throws {
        fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw PenError.system("cannot open \(path)") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            waiting()
            guard flock(fd, LOCK_EX) == 0 else {
                close(fd)
                throw PenError.system("cannot lock \(path)")
            }
        }
    }

    deinit { close(fd) }
}

enum Concatenate {
    /// Writes the inputs one after another to `output`, atomically.
    static func files(_ inputs: [String], to output: String) throws {
        var bytes: [UInt8] = []
        for input in inputs {
            guard let data = FileManager.default.contents(atPath: input) else { throw PenError.system("cannot read \(input)") }
            // No padding between: zeros after a zstd frame would read as a corrupt next frame.
            bytes.append(contentsOf: data)
        }
        try SafeFiles.writeAtomically(bytes, to: output)
    }
}
