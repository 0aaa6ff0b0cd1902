import Foundation
import PenTestSupport
import Testing
@testable import PenCore

@Suite struct SafeFilesTests: ScratchSuite {
    let scratch = TemporaryDirectory.fresh()

    @Test func atomicWriteReplacesAndLeavesNoTemp() throws {
        let path = dir + "/vm.json"
        try SafeFiles.writeAtomically("one", to: path)
        try SafeFiles.writeAtomically("two", to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "two")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["vm.json"])
    }

    @Test func refusesToWriteThroughAPlantedSymlink() throws {
        let target = dir + "/target"
        try "precious".write(toFile: target, atomically: false, encoding: .utf8)
        let path = dir + "/vm.json"
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
        #expect(throws: PenError.self) { try SafeFiles.writeAtomically("evil", to: path) }
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "precious")
    }

    @Test func makeDirectoriesRefusesASymlinkedDirectory() throws {
        let real = dir + "/real"
        try FileManager.default.createDirectory(atPath: real, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: real)
        #expect(throws: PenError.self) { try SafeFiles.makeDirectories(dir + "/link") }
        try SafeFiles.makeDirectories(dir + "/a/b/c")
        #expect(SafeFiles.isDirectory(dir + "/a/b/c"))
    }
}
