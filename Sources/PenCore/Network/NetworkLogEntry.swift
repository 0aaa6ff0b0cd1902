// One line of a VM's network.log: a decision of the supervisor's relay (a stream allowed, written
// when it closed with the bytes it carried; a stream refused; a DNS query answered or refused).
// The relay writes it, `pen vm net` reads it back: the guest chose what is in it (names, reasons
// are guest-driven), so a reader bounds each line and prints text only after GuestText.
import Foundation

public struct NetworkLogEntry: Codable, Equatable, Sendable {
    public var time: String
    /// "connect" or "dns".
    public var event: String
    public var destination: String?
    public var port: UInt16?
    /// The names pen's DNS tied to the address (connect), or the name asked (dns).
    public var names: [String]
    /// TLS SNI or HTTP Host, when the client presented one.
    public var presented: String?
    public var verdict: String
    public var reason: String
    public var bytesUp: UInt64?
    public var bytesDown: UInt64?

    public init(time: String, event: String, destination: String?, port: UInt16?, names: [String], presented: String?,
                verdict: String, reason: String, bytesUp: UInt64?, bytesDown: UInt64?) {
        self.time = time
        self.event = event
        self.destination = destination
        self.port = port
        self.names = names
        self.presented = presented
        self.verdict = verdict
        self.reason = reason
        self.bytesUp = bytesUp
        self.bytesDown = bytesDown
    }

    /// One line for people: time, verdict, where (and the names), why, bytes each way.
    public var line: String {
        let target = event == "dns" ? "dns " + (names.first ?? "?")
            : "\(destination ?? "?"):\(port.map(String.init) ?? "?")" + (names.isEmpty ? "" : " (\(names.joined(separator: ", ")))")
        let shown = presented.map { " presented \($0)" } ?? ""
        let bytes = bytesUp.map { " up \($0) B, down \(bytesDown ?? 0) B" } ?? ""
        return GuestText.printable(Array("\(time)  \(verdict)  \(target)\(shown): \(reason)\(bytes)".utf8), limit: 600)
    }
}

/// Reads network.log from an offset: whole lines only (a line being written stays for the next
/// read), each at most `maxLine` bytes (longer ones are skipped), never through a symlink.
public struct NetworkLogReader {
    public static let maxLine = 64 * 1024
    public let path: String
    public private(set) var offset: UInt64 = 0

    public init(path: String) {
        self.path = path
    }

    /// The entries appended since the last read (none when the file does not exist).
    public mutating func readNew() throws(PenError) -> [NetworkLogEntry] {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return [] }
            throw PenError.system("cannot read \(path)")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw PenError("\(path) is not a regular file", fix: "remove it") }
        if UInt64(st.st_size) < offset { offset = 0 }  // a new boot truncated it
        var entries: [NetworkLogEntry] = []
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var position = offset
        var tooLong = false
        while true {
            let n = pread(fd, &chunk, chunk.count, off_t(position))
            if n <= 0 { break }
            for (i, byte) in chunk[0..<n].enumerated() {
                if byte == 10 {
                    if !tooLong, let entry = try? PenJSON.decode(NetworkLogEntry.self, from: Data(pending)) { entries.append(entry) }
                    offset = position + UInt64(i) + 1  // the next line starts here
                    pending = []
                    tooLong = false
                } else if pending.count < Self.maxLine {
                    pending.append(byte)
                } else {
                    tooLong = true
                }
            }
            position += UInt64(n)
        }
        return entries
    }
}
