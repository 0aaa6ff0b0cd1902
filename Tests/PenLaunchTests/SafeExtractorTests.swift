import Foundation
import PenCore
import PenTestSupport
import Testing
@testable import PenLaunch

/// Crafted archives from a hostile guest: each is refused or lands strictly inside the
/// destination, and the sentinel directory beside it stays empty.
@Suite struct SafeExtractorTests: ScratchSuite {
    let scratch = TemporaryDirectory.fresh("pen-extract")

    var destination: String { dir + "/dest" }
    var sentinel: String { dir + "/outside" }

    init() throws {
        try FileManager.default.createDirectory(atPath: dir + "/dest", withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: dir + "/outside", withIntermediateDirectories: false)
    }

    /// Extracts `archive` into the destination (or `into`) with top-level names `allowed`; the
    /// error, if any. With `asNobody` the extraction runs with nobody's file access (root only).
    @discardableResult
    func extract(_ archive: [UInt8], allowed: [String] = ["x"], renames: [String: String] = [:], umask: mode_t = 0o022,
                 space: SpaceReserve = SpaceReserve(keepFree: { _, _ in 0 }), into: String? = nil, asNobody: Bool = false,
                 made: (SafeExtractor) -> Void = { _ in }) throws -> PenError? {
        let file = dir + "/archive.tar"
        try Data(archive).write(to: URL(fileURLWithPath: file))
        let input = open(file, O_RDONLY | O_CLOEXEC)
        let dest = open(into ?? destination, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(input); close(dest) }
        var names = Dictionary(uniqueKeysWithValues: allowed.map { (Array($0.utf8), Array($0.utf8)) })
        for (from, to) in renames { names[Array(from.utf8)] = Array(to.utf8) }
        let extractor = SafeExtractor(destination: dest, renames: names, umask: umask, space: space)
        defer { made(extractor) }
        let run = { () -> PenError? in
            do throws(PenError) {
                try extractor.extract(from: input)
                return nil
            } catch {
                return error
            }
        }
        return asNobody ? NobodyThread.run(run) : run()
    }

    func sentinelIsUntouched() throws -> Bool {
        try FileManager.default.contentsOfDirectory(atPath: sentinel).isEmpty
    }

    static let hostile: [(String, [CraftedTar.Entry])] = [
        ("dotdot", [.directory("x"), .file("x/../../outside/escaped")]),
        ("dotdot-first", [.file("../outside/escaped")]),
        ("absolute", [.directory("x"), .file("/tmp/pen-extract-absolute")]),
        ("through-a-link", [.directory("x"), .symlink("x/out", to: "../../outside"), .file("x/out/pwned")]),
        ("through-an-absolute-link", [.directory("x"), .symlink("x/out", to: "/tmp"), .directory("x/out/y"), .file("x/out/y/pwned")]),
        ("hardlink-out", [.directory("x"), .hardlink("x/h", to: "../outside/target")]),
        ("hardlink-absolute", [.directory("x"), .hardlink("x/h", to: "/etc/passwd")]),
        ("hardlink-through-a-link", [.directory("x"), .symlink("x/l", to: "../../outside"), .hardlink("x/h", to: "x/l/target")]),
        // A prepend scalar before '/' and a combining mark after it: one grapheme with the '/'.
        ("prepend-before-slash", [.directory("x"), .symlink("x/a\u{0600}", to: "../../outside"), .directory("x/a\u{0600}/cron.d"),
                                  .file("x/a\u{0600}/cron.d/job")]),
        ("combining-after-slash", [.directory("x"), .symlink("x/a", to: "../../outside"), .file("x/a/\u{0301}pwned")]),
        ("device", [.directory("x"), .device("x/null")]),
        ("setuid", [.directory("x"), .file("x/su", mode: 0o4755)]),
        ("setgid-directory", [.directory("x", mode: 0o2755)]),
        ("other-name", [.file("y/not-asked-for")]),
    ]

    @Test(arguments: hostile.map(\.0), [CraftedTar.Format.ustar, .pax, .gnu])
    func aHostileArchiveIsRefusedAndTheWorldOutsideIsUntouched(_ name: String, _ format: CraftedTar.Format) throws {
        try FileManager.default.createDirectory(atPath: dir + "/x", withIntermediateDirectories: false)  // ../x target stays empty too
        let entries = Self.hostile.first { $0.0 == name }!.1
        let error = try extract(CraftedTar.archive(entries, format: format))
        let message = try #require(error, "\(name) was not refused").message
        #expect(message.hasPrefix("pen cp: refused"), "\(name): \(message)")
        #expect(!message.contains("\n") && !message.contains("\u{1B}"))
        #expect(try sentinelIsUntouched(), "\(name) wrote outside")
        #expect(lstatOf("/tmp/pen-extract-absolute") == nil)
        #expect(lstatOf(dir + "/x/pwned") == nil)
        for path in FileManager.default.enumerator(atPath: destination)?.allObjects as? [String] ?? [] {
            let st = try #require(lstatOf(destination + "/" + path))
            #expect(st.st_mode & S_IFMT != S_IFCHR && st.st_mode & 0o6000 == 0, "\(name): \(path)")
        }
    }

    @Test(arguments: [CraftedTar.Format.pax, .gnu])
    func longNamesHidingADotDotPastTheHeaderAreRefused(_ format: CraftedTar.Format) throws {
        let long = "x/" + String(repeating: "a", count: 150) + "/../../../outside/escaped"
        let error = try extract(CraftedTar.archive([.directory("x"), .file(long)], format: format))
        #expect(error?.message.hasPrefix("pen cp: refused") == true)
        #expect(try sentinelIsUntouched())
    }

    @Test(arguments: [CraftedTar.Format.pax, .gnu])
    func namesOfFourKiBLandInsideOrAreRefusedInOneLine(_ format: CraftedTar.Format) throws {
        // 4 KiB of 200-byte directories: inside the destination.
        let deep = "x/" + Array(repeating: String(repeating: "d", count: 200), count: 20).joined(separator: "/")
        #expect(deep.utf8.count > 4000)
        let parts = deep.split(separator: "/")
        let directories = (1...parts.count).map { CraftedTar.Entry.directory(parts.prefix($0).joined(separator: "/")) }
        #expect(try extract(CraftedTar.archive(directories + [.file(deep + "/leaf", "deep")], format: format)) == nil)
        let fd = open(destination, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        var leaf = dup(fd)
        for part in deep.split(separator: "/") {
            let next = openat(leaf, String(part), O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
            close(leaf)
            leaf = next
        }
        #expect(leaf >= 0 && faccessat(leaf, "leaf", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        close(leaf)
        // One component of 4 KiB: the filesystem says no, in one line, with the name clipped.
        let error = try extract(CraftedTar.archive([.file("x/" + String(repeating: "n", count: 4096))], format: format))
        let message = try #require(error).message
        #expect(message.contains("pen cp: cannot create") && message.utf8.count < 600 && !message.contains("\n"))
        #expect(try sentinelIsUntouched())
    }

    @Test func pathsDeeperThanTheBoundAreRefused() throws {
        let deep = "x/" + Array(repeating: "d", count: ArchivePath.maximumDepth + 5).joined(separator: "/")
        let error = try extract(CraftedTar.archive([.file(deep)], format: .pax))
        #expect(error?.message.contains("deeper than") == true)
    }

    @Test func componentsAreSplitOnTheSlashByteOnly() {
        // A '/' next to a prepend scalar or a combining mark is still a separator.
        let names = ["a\u{0600}/x", "a/\u{0301}x", "a/\u{200D}/x"]
        for name in names {
            let parts = try? ArchivePath.components(Array(name.utf8)).get()
            #expect(parts?.allSatisfy { !$0.bytes.contains(UInt8(ascii: "/")) } == true, "\(name)")
            #expect(parts?.count == name.utf8.split(separator: UInt8(ascii: "/")).count)
        }
        #expect(ArchivePath.components(Array("a/../b".utf8)) == .failure(.parent))
        #expect(ArchivePath.components(Array("/a".utf8)) == .failure(.absolute))
        #expect(ArchivePath.components(Array("./".utf8)) == .failure(.empty))
    }

    @Test func namesWithEscapeSequencesArePrintedHarmlessly() throws {
        let error = try extract(CraftedTar.archive([.file("\u{1B}]0;owned\u{07}\u{1B}[2J/x")]))
        let message = try #require(error).message
        #expect(!message.contains("\u{1B}") && !message.contains("\u{07}") && message.contains("\\x1b"))
    }

    @Test func aTreeLandsWithModesLessTheUmaskAndUnicodeNamesExact() throws {
        let entries: [CraftedTar.Entry] = [
            .directory("x", mode: 0o777), .file("x/open", "w", mode: 0o666), .directory("x/ro", mode: 0o555),
            .file("x/ro/inside", "r"), .file("x/a\u{0600}b", "u"), .symlink("x/link", to: "/etc/passwd"),
            .hardlink("x/hard", to: "x/open"),
        ]
        #expect(try extract(CraftedTar.archive(entries, format: .pax)) == nil)
        #expect(lstatOf(destination + "/x")!.st_mode & 0o7777 == 0o755)
        #expect(lstatOf(destination + "/x/open")!.st_mode & 0o7777 == 0o644)
        #expect(lstatOf(destination + "/x/ro")!.st_mode & 0o7777 == 0o555)
        #expect(try String(contentsOfFile: destination + "/x/ro/inside", encoding: .utf8) == "r")
        #expect(try String(contentsOfFile: destination + "/x/a\u{0600}b", encoding: .utf8) == "u")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: destination + "/x/link") == "/etc/passwd")
        #expect(lstatOf(destination + "/x/hard")!.st_ino == lstatOf(destination + "/x/open")!.st_ino)
        #expect(lstatOf(destination + "/x")!.st_mtim.tv_sec == 1_600_000_000)
        chmod(destination + "/x/ro", 0o755)  // so the scratch directory can be removed
    }

    @Test func aDirectoryThatWasAlreadyThereKeepsItsModeAndTimes() throws {
        try FileManager.default.createDirectory(atPath: destination + "/x", withIntermediateDirectories: false)
        chmod(destination + "/x", 0o700)
        var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000_000, tv_nsec: 0)]
        utimensat(AT_FDCWD, destination + "/x", &times, 0)
        #expect(try extract(CraftedTar.archive([.directory("x", mode: 0o777), .file("x/new")])) == nil)
        #expect(lstatOf(destination + "/x")!.st_mode & 0o7777 == 0o700)
        #expect(lstatOf(destination + "/x/new") != nil)
        #expect(lstatOf(destination + "/x")!.st_mtim.tv_sec != 1_600_000_000)
    }

    @Test func zerosAndSparseEntriesStayHoles() throws {
        var data = [UInt8](repeating: 0, count: 8 << 20)
        data[0] = 1
        data[data.count - 1] = 2
        let entries = [CraftedTar.Entry.directory("x"), CraftedTar.Entry(name: Array("x/zeros".utf8), data: data)]
        #expect(try extract(CraftedTar.archive(entries)) == nil)
        let st = try #require(lstatOf(destination + "/x/zeros"))
        #expect(st.st_size == 8 << 20)
        #expect(Int(st.st_blocks) * 512 < 1 << 20, "8 MiB of zeros took \(st.st_blocks * 512) bytes")
        let back = try Data(contentsOf: URL(fileURLWithPath: destination + "/x/zeros"))
        #expect(Array(back) == data)
    }

    @Test func aGNUSparseArchiveFromTarStaysSparse() throws {
        let source = dir + "/src/x"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        let fd = open(source + "/sparse", O_WRONLY | O_CREAT, 0o644)
        _ = pwrite(fd, "end", 3, 64 << 20)
        close(fd)
        let made = try runProgram("tar", ["--sparse", "--format=gnu", "-cf", dir + "/sparse.tar", "-C", dir + "/src", "x"])
        try #require(made.status == 0, "\(made.output)")
        let archive = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/sparse.tar")))
        #expect(try extract(archive) == nil)
        let st = try #require(lstatOf(destination + "/x/sparse"))
        #expect(st.st_size == (64 << 20) + 3 && Int(st.st_blocks) * 512 < 1 << 20)
    }

    @Test func aCopyThatWouldEatTheReserveStopsAndRemovesWhatItWrote() throws {
        try "mine".write(toFile: destination + "/kept", atomically: false, encoding: .utf8)
        // Keep free all but 4 MiB more than this copy wrote so far: a 16 MiB file cannot fit,
        // whatever other tests free or fill on the same filesystem meanwhile.
        var space: SpaceReserve!
        space = SpaceReserve(keepFree: { _, available in available + space.charged - (4 << 20) })
        var big = [UInt8](repeating: 7, count: 16 << 20)
        big[0] = 1
        let entries: [CraftedTar.Entry] = [.directory("x"), .file("x/small"), .directory("x/sub"),
                                           CraftedTar.Entry(name: Array("x/sub/big".utf8), data: big)]
        let error = try extract(CraftedTar.archive(entries), allowed: ["x", "y"], space: space)
        let message = try #require(error).message
        #expect(message.hasPrefix("pen cp: stopped: the copy would leave less than") && !message.contains("\n"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: destination) == ["kept"])
        #expect(try String(contentsOfFile: destination + "/kept", encoding: .utf8) == "mine")
    }

    @Test func theStandardReserveIsFivePercentBetween64MiBAnd1GiB() {
        #expect(SpaceReserve.standard(total: 100 << 20) == 64 << 20)
        #expect(SpaceReserve.standard(total: 10 << 30) == (10 << 30) / 20)
        #expect(SpaceReserve.standard(total: 1 << 40) == 1 << 30)
    }

    @Test func aSingleItemIsRenamed() throws {
        #expect(try extract(CraftedTar.archive([.file("hosts", "h")]), allowed: [], renames: ["hosts": "copy"]) == nil)
        #expect(try String(contentsOfFile: destination + "/copy", encoding: .utf8) == "h")
    }

    /// Many entries in a deep tree: measured, not asserted (see the report).
    @Test func aDeepWideTreeExtracts() throws {
        var entries: [CraftedTar.Entry] = [.directory("x")]
        var path = "x"
        for level in 0..<200 {
            path += "/d\(level)"
            entries.append(.directory(path))
            for i in 0..<50 { entries.append(.file(path + "/f\(i)", "")) }
        }
        let archive = CraftedTar.archive(entries, format: .pax)
        let clock = ContinuousClock()
        var error: PenError?
        let elapsed = try clock.measure { error = try extract(archive) }
        #expect(error == nil)
        print("extracted \(entries.count) entries, depth 200, in \(elapsed)")
        #expect(lstatOf(destination + "/" + path + "/f49") != nil)
    }

    /// A reserve that stops the copy at a 16 MiB file: its first check finds room (8 MiB until
    /// the next one), the next finds none, whatever else is writing to this disk meanwhile.
    func reserveStoppingABigFile() -> (SpaceReserve, CraftedTar.Entry) {
        var checks = 0
        let space = SpaceReserve(keepFree: { _, available in
            checks += 1
            return checks == 1 ? 0 : available + 1
        })
        var big = [UInt8](repeating: 7, count: 16 << 20)
        big[0] = 1
        return (space, CraftedTar.Entry(name: Array("x/big".utf8), data: big))
    }

    /// A chain of directories with long names, left (through another top-level item) and come
    /// back to, then many files at its bottom: the copy made the chain, so nothing inside it is
    /// recorded on its own; only the two top-level items are. Then the reserve stops the copy
    /// and everything it made is removed.
    @Test func comingBackIntoADirectoryTheCopyMadeRecordsNothingNew() throws {
        try "mine".write(toFile: destination + "/kept", atomically: false, encoding: .utf8)
        let names = (0..<40).map { String(repeating: String(UnicodeScalar(UInt8(97 + $0 % 26))), count: 255) }
        var entries: [CraftedTar.Entry] = [.directory("x")]
        var path = "x"
        for name in names {
            path += "/" + name
            entries.append(.directory(path))
        }
        entries.append(.file("y", "top"))
        for i in 0..<200 { entries.append(.file(path + "/f\(i)", "")) }
        let (space, big) = reserveStoppingABigFile()
        entries.append(big)
        var recorded = (count: -1, bytes: -1)
        let error = try extract(CraftedTar.archive(entries, format: .pax), allowed: ["x", "y"], space: space) {
            recorded = ($0.recordedRoots, $0.recordedRootBytes)
        }
        #expect(try #require(error).message.hasPrefix("pen cp: stopped"))
        #expect(recorded.count == 2 && recorded.bytes < 1024, "recorded \(recorded.count) paths, \(recorded.bytes) bytes")
        #expect(try FileManager.default.contentsOfDirectory(atPath: destination) == ["kept"])
    }

    /// Past the bound on what is recorded, the copy still stops; the message says what it could
    /// not remove instead of claiming everything was.
    @Test func pastTheRecordBoundTheMessageSaysNotEverythingWasRemoved() throws {
        try FileManager.default.createDirectory(atPath: destination + "/x", withIntermediateDirectories: false)
        let (space, big) = reserveStoppingABigFile()
        let entries = (0..<10).map { CraftedTar.Entry.file("x/f\($0)") } + [big]
        let file = dir + "/archive.tar"
        try Data(CraftedTar.archive(entries)).write(to: URL(fileURLWithPath: file))
        let input = open(file, O_RDONLY | O_CLOEXEC), dest = open(destination, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(input); close(dest) }
        let extractor = SafeExtractor(destination: dest, renames: [Array("x".utf8): Array("x".utf8)], umask: 0o022, space: space,
                                      recordLimit: (count: 4, bytes: 1 << 20))
        var error: PenError?
        do { try extractor.extract(from: input) } catch let e { error = e }
        let message = try #require(error).message
        #expect(message.hasPrefix("pen cp: stopped") && !message.contains("\n"), "\(message)")
        #expect(!message.contains("was removed") && message.contains("not removed"), "\(message)")
        #expect(lstatOf(destination + "/x/f0") == nil && lstatOf(destination + "/x/f9") != nil)
    }

    /// A GNU sparse 1.0 map of 1-byte segments 4 KiB apart: each takes a block on disk, and is
    /// charged a block against the reserve (not one byte).
    @Test func aSparseMapOfTinySegmentsIsChargedWhatItTakesOnDisk() throws {
        let segments = (0..<2000).map { (offset: $0 * 4096, data: [UInt8(1)]) }
        let space = SpaceReserve(keepFree: { _, _ in 0 })
        let entries = [CraftedTar.Entry.directory("x"), CraftedTar.sparse("x/sparse", segments: segments, realSize: 2000 * 4096)]
        #expect(try extract(CraftedTar.archive(entries, format: .pax), space: space) == nil)
        let st = try #require(lstatOf(destination + "/x/sparse"))
        #expect(st.st_size == 2000 * 4096)
        #expect(space.charged >= UInt64(st.st_blocks) * 512 && space.charged >= 2000 * 4096,
                "charged \(space.charged) bytes for \(st.st_blocks * 512) on disk")
    }

    /// A sparse map that puts data at the end of the 64-bit range: refused, not an overflow that
    /// traps pen (offset plus length plus a block would pass Int64.max).
    @Test(arguments: [Int.max - 5, Int.max - 5000, 1 << 62])
    func aSegmentAtTheEndOfTheOffsetRangeIsRefused(offset: Int) throws {
        let entries = [CraftedTar.Entry.directory("x"),
                       CraftedTar.sparse("x/far", segments: [(offset: offset, data: Array("far".utf8))], realSize: offset + 3)]
        let error = try extract(CraftedTar.archive(entries, format: .pax))
        #expect(error?.message.contains("pen cp: cannot read") == true, "\(String(describing: error?.message))")
        // Nothing was written at that offset (what came before an error stays, as with tar).
        let st = try #require(lstatOf(destination + "/x/far"))
        #expect(st.st_size == 0)
    }

    /// The archive makes its directory unreadable (mode 000), then the reserve stops the copy:
    /// for a user without root's override the directory must still be removed (its mode is not
    /// applied before the removal).
    @Test(.enabled(if: getuid() == 0, "acts as nobody through the filesystem uid"))
    func aStoppedCopyIsRemovedEvenWhenTheArchiveMadeItsDirectoryUnreadable() throws {
        chown(destination, 65534, 65534)
        let (space, big) = reserveStoppingABigFile()
        let error = try extract(CraftedTar.archive([.directory("x", mode: 0), big]), space: space, asNobody: true)
        #expect(try #require(error).message.hasPrefix("pen cp: stopped"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: destination) == [])
    }

    /// A directory the copy made and left with mode 000, inside the tree being removed.
    @Test(.enabled(if: getuid() == 0, "acts as nobody through the filesystem uid"))
    func aStoppedCopyRemovesADirectoryItLeftUnreadable() throws {
        chown(destination, 65534, 65534)
        let (space, big) = reserveStoppingABigFile()
        let entries: [CraftedTar.Entry] = [.directory("x"), .directory("x/d", mode: 0), .file("x/d/f"), .directory("x/e", mode: 0o500), big]
        let error = try extract(CraftedTar.archive(entries), space: space, asNobody: true)
        let message = try #require(error).message
        #expect(message.hasPrefix("pen cp: stopped") && message.contains("was removed"), "\(message)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: destination) == [])
    }

    /// What cannot be removed (here a directory of root's inside the copy) is reported, not hidden.
    @Test(.enabled(if: getuid() == 0, "acts as nobody through the filesystem uid"))
    func treeRemovalSaysWhenSomethingStays() throws {
        try FileManager.default.createDirectory(atPath: destination + "/t/roots", withIntermediateDirectories: true)
        try "r".write(toFile: destination + "/t/roots/file", atomically: false, encoding: .utf8)
        chown(destination, 65534, 65534)
        chown(destination + "/t", 65534, 65534)
        let dest = open(destination, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(dest) }
        let removed = NobodyThread.run { TreeRemoval.remove(PathComponent(bytes: Array("t".utf8)), in: dest) }
        #expect(!removed)
        #expect(lstatOf(destination + "/t/roots/file") != nil)
    }

    /// A tmpfs of `inodes` inodes mounted on a fresh directory for `body` only (root only).
    func withSmallFilesystem(inodes: Int, _ body: (String) throws -> Void) throws {
        let point = dir + "/small"
        try FileManager.default.createDirectory(atPath: point, withIntermediateDirectories: false)
        try #require(mount("tmpfs", point, "tmpfs", 0, "size=64m,nr_inodes=\(inodes)") == 0, "mount: \(errno)")
        defer { umount2(point, Int32(MNT_DETACH)) }
        try body(point)
    }

    /// Another writer takes the last inodes after the copy's check: its next mkdir or create
    /// fails with ENOSPC, and it stops like at the reserve and removes what it made.
    @Test(.enabled(if: getuid() == 0, "mounts a small tmpfs"))
    func runningOutOfInodesStopsTheCopyAndRemovesIt() throws {
        try withSmallFilesystem(inodes: 200) { point in
            try FileManager.default.createDirectory(atPath: point + "/dest", withIntermediateDirectories: false)
            try FileManager.default.createDirectory(atPath: point + "/other", withIntermediateDirectories: false)
            var filled = 0
            let space = SpaceReserve(keepFree: { _, _ in 0 }, keepInodes: { _, _ in
                // The other writer, between the check and the copy's next entries: it leaves
                // 30 inodes, so the copy makes some entries before it fails.
                while FileManager.default.createFile(atPath: point + "/other/\(filled)", contents: nil) { filled += 1 }
                for i in 0..<30 { unlink(point + "/other/\(i)") }
                return 0
            })
            var entries: [CraftedTar.Entry] = [.directory("x")]
            for i in 0..<50 { entries += [.directory("x/d\(i)"), .file("x/d\(i)/f")] }
            let error = try extract(CraftedTar.archive(entries), space: space, into: point + "/dest")
            let message = try #require(error).message
            #expect(message.hasPrefix("pen cp: stopped: the destination's filesystem is full") && message.contains("was removed")
                    && message.contains("No space left"), "\(message)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: point + "/dest") == [])
            #expect(filled > 150)
        }
    }

    /// The standard reserve keeps inodes free too: the copy stops before the filesystem has none.
    @Test(.enabled(if: getuid() == 0, "mounts a small tmpfs"))
    func theReserveKeepsInodesFree() throws {
        try withSmallFilesystem(inodes: 2000) { point in
            let entries: [CraftedTar.Entry] = [.directory("x")] + (0..<1900).map { .file("x/f\($0)") }
            let error = try extract(CraftedTar.archive(entries), space: SpaceReserve(keepFree: { _, _ in 0 }), into: point)
            let message = try #require(error).message
            #expect(message.hasPrefix("pen cp: stopped: the copy would leave fewer than") && message.contains("inodes"), "\(message)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: point) == [])
            var fs = statvfs()
            statvfs(point, &fs)
            #expect(fs.f_favail >= 400)
        }
    }

    @Test func theStandardInodeReserveIsFivePercentAtLeast10000() {
        #expect(SpaceReserve.standardInodes(total: 1_000_000) == 50_000)
        #expect(SpaceReserve.standardInodes(total: 100_000) == 10_000)
        #expect(SpaceReserve.standardInodes(total: 2000) == 500)  // a tiny filesystem: a quarter
        #expect(SpaceReserve.standardInodes(total: 0) == 0)  // no inode count (btrfs)
    }
}

@_silgen_name("setfsuid") private func setfsuid(_ uid: UInt32) -> Int32
@_silgen_name("setfsgid") private func setfsgid(_ gid: UInt32) -> Int32

/// Work on a thread of its own whose filesystem uid and gid are nobody's (65534): its file
/// accesses are checked as that user's, without root's override (Linux drops the filesystem
/// capabilities when the filesystem uid is not 0). Only that thread changes.
enum NobodyThread {
    static func run<T>(_ body: @escaping () -> T) -> T {
        let box = Box<T>()
        nonisolated(unsafe) let work = body
        Thread {
            _ = setfsgid(65534)
            _ = setfsuid(65534)
            box.value = work()
            _ = setfsuid(0)
            _ = setfsgid(0)
            box.done.signal()
        }.start()
        box.done.wait()
        return box.value!
    }

    private final class Box<T>: @unchecked Sendable {
        var value: T?
        let done = DispatchSemaphore(value: 0)
    }
}
