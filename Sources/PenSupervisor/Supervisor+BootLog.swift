// The boot log is the guest's console: a guest can write to it forever. The supervisor looks
// at its size every few seconds and, past the plan's limit, empties it (QEMU appends, so its
// next write lands at the new end) and says so in it. What the first boot printed is in the
// supervisor's log already when it mattered (a failed boot stops long before the limit).
import Foundation
import PenCore
import Glibc
import PenIO

extension Supervisor {
    static let bootLogCheckInterval = 5.0

    func capBootLog(now: Date) {
        guard now >= bootLogCheckedAt.addingTimeInterval(Self.bootLogCheckInterval) else { return }
        bootLogCheckedAt = now
        let path = plan.spec.bootLogPath
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, UInt64(info.st_size) > plan.bootLogLimit else { return }
        let fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        guard ftruncate(fd, 0) == 0 else { return }
        writeAll(fd, Array("--- pen: the console passed \(ByteSize.format(plan.bootLogLimit)); what came before was dropped\n".utf8))
        if !bootLogCapped {
            bootLogCapped = true
            log("pen: VM '\(plan.spec.name)' wrote more than \(ByteSize.format(plan.bootLogLimit)) to its console; \(path) was emptied")
        }
    }
}
