import Foundation
import Testing
@testable import PenCore

@Suite struct StateFileTests {
    let dir: String

    init() throws {
        dir = NSTemporaryDirectory() + "pen-state-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

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

    @Test func lockIsExclusiveAndReleasedOnClose() throws {
        let name = try VMName("t")
        let path = dir + "/lock"
        var first: VMLock? = try VMLock(path: path, vmName: name)
        #expect(VMLock.isHeld(path: path))
        #expect {
            try VMLock(path: path, vmName: name)
        } throws: { ($0 as? PenError)?.message.contains("already running") == true }
        #expect(first != nil)
        first = nil
        #expect(!VMLock.isHeld(path: path))
        _ = try VMLock(path: path, vmName: name)
    }

    @Test func vmRecordRoundTrips() throws {
        try FileManager.default.createDirectory(atPath: dir + "/vms", withIntermediateDirectories: true)
        let paths = PenPaths(environment: ["PEN_HOME": dir])
        let vm = VMDirectory(paths: paths, name: try VMName("box"))
        try FileManager.default.createDirectory(atPath: vm.path, withIntermediateDirectories: true)
        let record = VMRecord(name: "box", createdAt: Date(timeIntervalSince1970: 1_700_000_000), diskSize: 10 << 30,
                              cpus: 2, memoryMiB: 2048)
        try vm.save(record)
        #expect(try vm.load() == record)
        try "{ not json".write(toFile: vm.recordPath, atomically: false, encoding: .utf8)
        #expect {
            try vm.load()
        } throws: { ($0 as? PenError)?.message.contains("not a valid VM record") == true }
    }
}
