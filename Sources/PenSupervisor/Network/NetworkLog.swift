// network.log: one JSON line per decision the relay made (a stream allowed, written when it
// closes with the bytes it carried; a stream refused; a DNS query refused or answered), so a
// user can see what the VM reached and why something failed. The guest drives what is written:
// the file is capped like the supervisor's other logs (CappedLog).
import Foundation
import PenCore

final class NetworkLog {
    typealias Entry = NetworkLogEntry

    /// A line names at most this many of the names pinned to an address.
    static let namesLogged = 4

    private let capped: CappedLog?
    private let encoder = JSONEncoder()

    /// Appends to `descriptor` (owned), else to `path` (created 0600 if missing, never through a
    /// symlink); neither: no log. Failures to open are said once through `problem`.
    init(descriptor: Int32? = nil, path: String?, limit: UInt64, problem: (String) -> Void) {
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard descriptor != nil || path != nil else { capped = nil; return }
        let fd = descriptor ?? open(path ?? "", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            problem("pen: cannot open \(path): \(String(cString: strerror(errno)))")
            capped = nil
            return
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        capped = CappedLog(limit: limit) { line in try? handle.write(contentsOf: Data((line + "\n").utf8)) }
    }

    func write(_ entry: Entry) {
        guard let capped, !capped.isFull, let data = try? encoder.encode(entry) else { return }
        capped.write(String(decoding: data, as: UTF8.self))
    }

    static func now() -> String { Date().formatted(.iso8601) }
}

extension [UInt8] {
    /// A guest-given name as text for the log and messages (printable, bounded).
    var printableName: String { GuestText.printable(self, limit: 253) }
}
