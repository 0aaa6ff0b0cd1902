import CArchive
import Foundation
import PenCore
import PenTestSupport
import Testing
@testable import PenLaunch

/// `pen cp HOSTDIR vm:` reads the host tree itself, never following a link, even one swapped in
/// while the copy runs (a guest sharing the workspace can do that).
@Suite struct HostTarWriterTests: ScratchSuite {
    let scratch = TemporaryDirectory.fresh("pen-hosttar")

    /// The tar of `sources`: each entry's name, type, link target and data.
    func tar(_ sources: [String]) throws -> [(name: String, type: UInt32, link: String, data: [UInt8])] {
        let file = dir + "/out.tar"
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { close(fd) }
        try HostTarWriter.write(sources: sources, to: fd)
        let a = archive_read_new()!
        defer { archive_read_free(a) }
        archive_read_support_format_tar(a)
        try #require(archive_read_open_filename(a, file, 1 << 16) == ARCHIVE_OK)
        var entries: [(String, UInt32, String, [UInt8])] = []
        var entry: OpaquePointer?
        while archive_read_next_header(a, &entry) == ARCHIVE_OK, let entry {
            var data: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = archive_read_data(a, &chunk, chunk.count)
                if n <= 0 { break }
                data += chunk[0..<n]
            }
            entries.append((String(cString: archive_entry_pathname(entry)), UInt32(archive_entry_filetype(entry)),
                            archive_entry_symlink(entry).map { String(cString: $0) } ?? "", data))
        }
        return entries
    }

    @Test func linksAreSentAsLinksAtTheTopAndInside() throws {
        try scratch.write("secret/key", "SECRET")
        try scratch.write("src/a.txt", "alpha")
        symlink(dir + "/secret", dir + "/src/dir-link")
        symlink(dir + "/secret/key", dir + "/src/file-link")
        symlink(dir + "/secret", dir + "/top-link")
        let entries = try tar([dir + "/src", dir + "/top-link"])
        #expect(entries.map(\.name) == ["src/", "src/a.txt", "src/dir-link", "src/file-link", "top-link"])
        #expect(entries.filter { $0.type == 0o120000 }.map(\.link) == [dir + "/secret", dir + "/secret/key", dir + "/secret"])
        #expect(!entries.contains { String(decoding: $0.data, as: UTF8.self).contains("SECRET") })
        #expect(String(decoding: entries[1].data, as: UTF8.self) == "alpha")
    }

    @Test func aFIFOIsRefusedWithoutBeingOpened() throws {
        try scratch.write("src/a", "a")
        mkfifo(dir + "/src/pipe", 0o644)
        #expect { try tar([dir + "/src"]) } throws: { ($0 as? PenError)?.message.contains("not a file, directory or symlink") == true }
    }

    /// A file swapped for a link to a secret again and again while the tree is copied: the
    /// secret never goes out (the link is sent as a link). The swap is a race: this finds a
    /// following reader often, not always; the O_NOFOLLOW walk cannot follow at all.
    @Test func aLinkSwappedInDuringTheCopyIsNeverFollowed() throws {
        try scratch.write("secret", String(repeating: "SECRET", count: 1000))
        try scratch.write("src/f", "plain")
        for i in 0..<50 { try scratch.write("src/pad\(i)", "p") }
        let swapping = Swapper(dir: dir)
        swapping.start()
        defer { swapping.stop() }
        for _ in 0..<300 {
            let entries = try tar([dir + "/src"])
            #expect(!entries.contains { String(decoding: $0.data, as: UTF8.self).contains("SECRET") })
        }
    }
}

/// A relative path the user typed is walked from the current directory without following a
/// link: a guest sharing the workspace can plant `./build` -> anywhere, in either direction.
@Suite struct TypedPathTests: ScratchSuite {
    let scratch = TemporaryDirectory.fresh("pen-typed")

    /// `path` (absolute) as a path relative to the current directory.
    func relative(_ path: String) -> String {
        let depth = FileManager.default.currentDirectoryPath.split(separator: "/").count
        return String(repeating: "../", count: depth) + path.dropFirst()
    }

    @Test func copyInRefusesALinkOnTheWayOfARelativeSource() throws {
        try scratch.write("secret/key", "SECRET")
        symlink(dir + "/secret", dir + "/build")
        let fd = open(dir + "/out.tar", O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        defer { close(fd) }
        #expect { try HostTarWriter.write(sources: [relative(dir) + "/build/key"], to: fd) } throws: {
            let message = ($0 as? PenError)?.message ?? ""
            return message.contains("build") && message.contains("symlink") && !message.contains("\n")
        }
        #expect(!(try String(contentsOfFile: dir + "/out.tar", encoding: .isoLatin1)).contains("SECRET"))
        // An absolute path the user typed is followed: the user named it.
        try HostTarWriter.write(sources: [dir + "/build/key"], to: fd)
    }

    @Test func copyOutRefusesALinkOnTheWayOfARelativeDestination() throws {
        try FileManager.default.createDirectory(atPath: dir + "/elsewhere/out", withIntermediateDirectories: true)
        symlink(dir + "/elsewhere", dir + "/build")
        for destination in [relative(dir) + "/build/out", relative(dir) + "/build/new", relative(dir) + "/build/out/"] {
            #expect(throws: PenError.self, "\(destination)") {
                let (fd, _) = try Copier.target(["/root/out"], destination)
                close(fd)
            }
        }
        // Through real directories it works, relative or absolute.
        try FileManager.default.createDirectory(atPath: dir + "/real", withIntermediateDirectories: false)
        for destination in [relative(dir) + "/real/new", dir + "/build/new"] {
            let (fd, renames) = try Copier.target(["/root/out"], destination)
            close(fd)
            #expect(renames == [Array("out".utf8): Array("new".utf8)])
        }
    }
}

/// Swaps `src/f` between a regular file and a symlink to `secret` (rename is atomic), on a thread.
final class Swapper: @unchecked Sendable {
    let dir: String
    private let lock = NSLock()
    private var running = true
    private let done = DispatchSemaphore(value: 0)

    init(dir: String) { self.dir = dir }

    func start() {
        Thread { [self] in
            var n = 0
            while lock.withLock({ running }) {
                let staging = dir + "/staging"
                if n % 2 == 0 { symlink(dir + "/secret", staging) } else { FileManager.default.createFile(atPath: staging, contents: Data("plain".utf8)) }
                rename(staging, dir + "/src/f")
                n += 1
            }
            done.signal()
        }.start()
    }

    func stop() {
        lock.withLock { running = false }
        done.wait()
    }
}
