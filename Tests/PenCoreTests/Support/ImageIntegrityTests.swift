import Foundation
import Testing
@testable import PenCore

@Suite struct ImageIntegrityTests {
    let dir: String
    init() throws {
        dir = NSTemporaryDirectory() + "pen-integrity-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    @Test func verifiesOnceThenTrustsTheStampUntilTheFileChanges() throws {
        let file = dir + "/initrd.img"
        try Data(repeating: 7, count: 100_000).write(to: URL(fileURLWithPath: file))
        let sha = try SHA256File.hex(path: file)
        try ImageIntegrity.verifyOnce(file, sha256: sha, rebuild: "pen image base --rebuild")
        #expect(FileManager.default.fileExists(atPath: ImageIntegrity.stampPath(for: file)))
        // A wrong expectation with an unchanged file and a valid stamp would pass: the stamp is
        // bound to the hash too, so a different recorded hash forces a re-hash and fails.
        #expect(throws: PenError.self) { try ImageIntegrity.verifyOnce(file, sha256: String(repeating: "0", count: 64), rebuild: "x") }
        try ImageIntegrity.verifyOnce(file, sha256: sha, rebuild: "x")
    }

    @Test func refusesAModifiedOrTruncatedFileNamingTheFix() throws {
        let file = dir + "/initrd.img"
        try Data(repeating: 1, count: 50_000).write(to: URL(fileURLWithPath: file))
        let sha = try SHA256File.hex(path: file)
        try ImageIntegrity.verifyOnce(file, sha256: sha, rebuild: "pen image base --rebuild")
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        try h.truncate(atOffset: 10_000)
        try h.close()
        #expect {
            try ImageIntegrity.verifyOnce(file, sha256: sha, rebuild: "pen image base --rebuild")
        } throws: { ($0 as? PenError)?.message.contains("pen image base --rebuild") == true }
        #expect(!ImageIntegrity.rehash(file, sha256: sha))
        #expect(throws: PenError.self) { try ImageIntegrity.verifyOnce(dir + "/missing", sha256: sha, rebuild: "x") }
    }
}
