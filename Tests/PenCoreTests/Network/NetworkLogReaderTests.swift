import Foundation
import PenTestSupport
import Testing
@testable import PenCore

/// Reading back network.log as the relay writes it: whole lines only, bounded, from where the
/// last read stopped, never through a symlink.
@Suite struct NetworkLogReaderTests {
    let scratch = TemporaryDirectory.fresh("pen-netlog")

    func entry(_ n: Int) -> NetworkLogEntry {
        NetworkLogEntry(time: "t\(n)", event: "connect", destination: "203.0.113.\(n)", port: 443, names: ["a.example"],
                        presented: nil, verdict: "allowed", reason: "allowed by public", bytesUp: 1, bytesDown: 2)
    }

    func line(_ n: Int) throws -> Data { try PenJSON.encode(entry(n), pretty: false) + Data("\n".utf8) }

    @Test func linesAreReadOnceAndAPartialLineWaitsForItsEnd() throws {
        let path = scratch.file("network.log")
        var reader = NetworkLogReader(path: path)
        #expect(try reader.readNew().isEmpty, "no file yet: nothing on record")
        let second = try line(2)
        try (try line(1) + second.prefix(10)).write(to: URL(fileURLWithPath: path))
        #expect(try reader.readNew() == [entry(1)])
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: second.dropFirst(10) + Data(repeating: 0x41, count: NetworkLogReader.maxLine + 10) + Data("\n".utf8) + (try line(3)))
        try handle.close()
        #expect(try reader.readNew() == [entry(2), entry(3)], "an overlong line is skipped, not held")
        #expect(try reader.readNew().isEmpty)
        try (try line(4)).write(to: URL(fileURLWithPath: path))  // a new boot truncated it
        #expect(try reader.readNew() == [entry(4)])
    }

    @Test func aSymlinkIsRefusedAndTheLineForPeopleIsPrintable() throws {
        let path = scratch.file("network.log")
        try "x".write(toFile: scratch.file("elsewhere"), atomically: true, encoding: .utf8)
        symlink(scratch.file("elsewhere"), path)
        var reader = NetworkLogReader(path: path)
        #expect(throws: PenError.self) { try reader.readNew() }
        var hostile = entry(1)
        hostile.reason = "evil\u{1b}[2J\nname"
        #expect(!hostile.line.contains("\u{1b}") && !hostile.line.contains("\n"))
    }
}
