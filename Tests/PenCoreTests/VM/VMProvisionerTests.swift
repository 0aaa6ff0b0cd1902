import Foundation
import PenTestSupport
import Testing
@testable import PenCore

@Suite struct VMProvisionerTests: VMHomeSuite {
    let home = VMHome()
    let new = NewVM(diskSize: 64 << 20, diskSizeGiven: false, cpus: 1, memoryMiB: 512, profile: "base", setupHash: nil)

    @Test func aSymlinkedVMDirectoryIsNeitherOpenedNorWrittenThrough() throws {
        // A complete VM somewhere else, and vms/link pointing at it.
        let elsewhere = try makeVM("elsewhere")
        let before = try Data(contentsOf: URL(fileURLWithPath: elsewhere.recordPath))
        let link = VMDirectory(paths: paths, name: try VMName("link"))
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: elsewhere.path)
        #expect {
            _ = try VMProvisioner.openOrCreate(link, new, notice: { _ in })
        } throws: { ($0 as? PenError)?.message.contains("symlink") == true }
        #expect(throws: PenError.self) { _ = try link.load() }
        #expect(try Data(contentsOf: URL(fileURLWithPath: elsewhere.recordPath)) == before)
        #expect(!SafeFiles.exists(elsewhere.lockPath))
        #expect(VMInventory.records(paths: paths).map(\.name) == ["elsewhere"])
    }

    @Test func aSymlinkedEmptyDirectoryIsNotMadeIntoAVM() throws {
        let target = home.scratch.path + "/target"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        let link = VMDirectory(paths: paths, name: try VMName("fresh"))
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: target)
        #expect(throws: PenError.self) { _ = try VMProvisioner.openOrCreate(link, new, notice: { _ in }) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: target) == [])
    }

    @Test func aRealDirectoryIsCreatedAndReopened() throws {
        let vm = VMDirectory(paths: paths, name: try VMName("real"))
        let (record, lock) = try VMProvisioner.openOrCreate(vm, new, notice: { _ in })
        #expect(record.diskSize == 64 << 20 && vm.exists)
        withExtendedLifetime(lock) {}
    }
}
