// The guest reported that some of its writes never reached its overlay disk. The usual cause
// is the host's filesystem running full under the sparse disk, so the error says how much room
// is left there; the disk itself recovers through its journal on the next boot.
import Foundation

enum DiskWriteFailure {
    static func error(vm: String, disk: String?, reason: String) -> PenError {
        guard let disk else { return PenError("VM '\(vm)' could not write to its disk (\(reason))") }
        let dir = (disk as NSString).deletingLastPathComponent
        var fs = statvfs()
        let free = statvfs(dir, &fs) == 0 ? UInt64(fs.f_bavail) * UInt64(fs.f_frsize) : nil
        let room = free.map { "; the host filesystem holding \(disk) has \(ByteSize.format($0)) free" } ?? ""
        return PenError("VM '\(vm)' could not write everything to its disk (\(reason))\(room): free some space there; files written in this session may be incomplete")
    }
}
