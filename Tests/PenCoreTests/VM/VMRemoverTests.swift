import Foundation
import PenTestSupport
import Testing
@testable import PenCore

@Suite struct VMRemoverTests: VMHomeSuite {
    let home = VMHome()

    @Test func removeDeletesAStoppedVMAndLeavesNoTrash() throws {
        let vm = try makeVM("gone")
        try VMRemover.remove(vm)
        #expect(!SafeFiles.exists(vm.path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: paths.vms) == [])
    }

    @Test func removeRefusesARunningVM() throws {
        let vm = try makeVM("busy")
        let lock = try VMLock(path: vm.lockPath, vmName: vm.name)
        #expect {
            try VMRemover.remove(vm)
        } throws: { ($0 as? PenError)?.message.contains("pen vm stop busy") == true }
        #expect(vm.exists)
        withExtendedLifetime(lock) {}
    }

    @Test func removeRefusesASymlinkedVMDirectory() throws {
        let real = home.scratch.path + "/elsewhere"
        try FileManager.default.createDirectory(atPath: real, withIntermediateDirectories: false)
        try "keep".write(toFile: real + "/vm.json", atomically: false, encoding: .utf8)
        let vm = VMDirectory(paths: paths, name: try VMName("link"))
        try FileManager.default.createSymbolicLink(atPath: vm.path, withDestinationPath: real)
        #expect {
            try VMRemover.remove(vm)
        } throws: { ($0 as? PenError)?.message.contains("symlink") == true }
        #expect(SafeFiles.exists(real + "/vm.json"))
    }

    @Test func removeOfAMissingVMSaysSo() throws {
        let vm = VMDirectory(paths: paths, name: try VMName("nope"))
        #expect {
            try VMRemover.remove(vm)
        } throws: { ($0 as? PenError)?.message == "no VM named 'nope'; see `pen vm ls`" }
    }

    @Test func removeDoesNotFollowSymlinksInsideTheVM() throws {
        let outside = home.scratch.path + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: false)
        try "keep".write(toFile: outside + "/precious", atomically: false, encoding: .utf8)
        let vm = try makeVM("links")
        try FileManager.default.createSymbolicLink(atPath: vm.path + "/out", withDestinationPath: outside)
        try VMRemover.remove(vm)
        #expect(!SafeFiles.exists(vm.path))
        #expect(SafeFiles.exists(outside + "/precious"))
    }

    @Test func abandonedTrashIsSweptAndLiveTrashKept() throws {
        let dead = paths.vms + "/.rm-2147483646-old"  // no such pid
        let live = paths.vms + "/.rm-\(getppid())-other"
        try FileManager.default.createDirectory(atPath: dead, withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: live, withIntermediateDirectories: false)
        try VMRemover.remove(try makeVM("x"))
        #expect(!SafeFiles.exists(dead))
        #expect(SafeFiles.exists(live))
    }
}
