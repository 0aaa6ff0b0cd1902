import Foundation
import Glibc
import PenTestSupport
import Testing
@testable import PenCore

/// Checkpoints of a stopped VM: its disk (and a suspended VM's saved machine) kept under a label,
/// rolled back to as often as wanted; a running VM, a taken label and an unknown one are refused.
@Suite struct VMCheckpointsTests: VMHomeSuite {
    let home = VMHome()

    func stamp(_ vm: VMDirectory, _ text: String) throws {
        let fd = open(vm.diskPath, O_WRONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        #expect(pwrite(fd, text, text.utf8.count, 40 << 20) == text.utf8.count)
    }

    func stampOf(_ vm: VMDirectory) throws -> String {
        let fd = open(vm.diskPath, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 6)
        #expect(pread(fd, &bytes, 6, 40 << 20) == 6)
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func aRollbackBringsTheDiskBackAsOftenAsWanted() throws {
        let vm = try makeVM("box")
        try stamp(vm, "before")
        let checkpoints = VMCheckpoints(vm)
        let made = try checkpoints.make("clean")
        #expect(made.label == "clean" && !made.withMemory && made.bytes < 64 << 20)
        try stamp(vm, "after!")
        _ = try checkpoints.rollback(to: "clean")
        #expect(try stampOf(vm) == "before")
        try stamp(vm, "again!")
        _ = try checkpoints.rollback(to: "clean")
        #expect(try stampOf(vm) == "before")
        #expect(checkpoints.list().map(\.label) == ["clean"])
        try checkpoints.remove("clean")
        #expect(checkpoints.list().isEmpty)
    }

    @Test func aSuspendedVMsCheckpointKeepsItsSavedMachineAndARollbackWithoutOneDropsTheCurrent() throws {
        let vm = try makeVM("box")
        let store = SuspendStore(vmPath: vm.path)
        try FileManager.default.createDirectory(atPath: store.directory, withIntermediateDirectories: true)
        try "machine-1".write(toFile: store.statePath, atomically: false, encoding: .utf8)
        let record = SuspendRecord(key: "k", sha256: SHA256File.hex(bytes: Array("machine-1".utf8)), bytes: 9, saveSeconds: 1, createdAt: Date())
        try PenJSON.encode(record).write(to: URL(fileURLWithPath: store.directory + "/" + SuspendStore.recordName))
        let checkpoints = VMCheckpoints(vm)
        #expect(try checkpoints.make("live").withMemory)
        store.remove()
        _ = try checkpoints.make("disk-only")
        _ = try checkpoints.rollback(to: "live")
        #expect(try String(contentsOfFile: store.statePath, encoding: .utf8) == "machine-1" && store.record()?.sha256 == record.sha256)
        _ = try checkpoints.rollback(to: "disk-only")
        #expect(!store.exists)  // that saved machine belonged to the disk just replaced
    }

    @Test func aRunningVMATakenLabelAndAnUnknownOneAreRefused() throws {
        let vm = try makeVM("box")
        let checkpoints = VMCheckpoints(vm)
        _ = try checkpoints.make("one")
        #expect { try checkpoints.make("one") } throws: { ($0 as? PenError)?.message.hasPrefix("VM 'box' has a checkpoint 'one' already") == true }
        #expect { try checkpoints.rollback(to: "two") } throws: { ($0 as? PenError)?.message.hasPrefix("VM 'box' has no checkpoint 'two'") == true }
        #expect { try VMCheckpoints.label("../x") } throws: { ($0 as? PenError)?.message.hasPrefix("invalid checkpoint label") == true }
        let holder = try lockHolder(vm.lockPath)
        defer { holder.terminate(); holder.waitUntilExit() }
        #expect { try checkpoints.make("three") } throws: { ($0 as? PenError)?.message.contains("is running") == true }
        #expect(checkpoints.list().map(\.label) == ["one"])
    }
}
