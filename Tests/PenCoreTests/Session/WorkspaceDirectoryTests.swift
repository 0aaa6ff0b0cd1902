import Foundation
import PenTestSupport
import Testing
@testable import PenCore

@Suite struct WorkspaceDirectoryTests {
    @Test func workspaceMustBeARealDirectoryOtherThanRoot() throws {
        let scratch = try TemporaryDirectory()
        let dir = scratch.path
        try FileManager.default.createDirectory(atPath: dir + "/real", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: dir + "/real")
        let resolved = try WorkspaceDirectory.resolve(dir + "/link/../real/.")
        #expect(resolved.hasSuffix("/real") && !resolved.contains(".."))
        #expect(throws: PenError.self) { try WorkspaceDirectory.resolve("/") }
        #expect(throws: PenError.self) { try WorkspaceDirectory.resolve(dir + "/missing") }
        FileManager.default.createFile(atPath: dir + "/file", contents: Data())
        #expect(throws: PenError.self) { try WorkspaceDirectory.resolve(dir + "/file") }
    }
}
