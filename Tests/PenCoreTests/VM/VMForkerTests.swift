import Foundation
import PenTestSupport
import Testing
@testable import PenCore

/// `pen vm fork` of a stopped VM: NEW is SRC's disk under its own name and record; a running SRC,
/// an existing NEW or a missing SRC are refused and leave nothing behind.
@Suite struct VMForkerTests: VMHomeSuite {
    let home = VMHome()

    func vm(_ name: String) throws -> VMDirectory { VMDirectory(paths: paths, name: try VMName(name)) }

    @Test func aStoppedVMsDiskAndRecordBecomeTheForksUnderItsOwnName() throws {
        let source = try makeVM("src", directory: "/home/u/project")
        try VMRecord.change(at: source.recordPath) { $0.network = .allow; $0.allow = [try! NetworkRule("pypi.org")] }
        let outcome = try VMForker.fork(source, into: try vm("copy"))
        let forked = try vm("copy").load()
        let original = try source.load()
        #expect(forked.name == "copy" && forked.profile == original.profile && forked.cpus == original.cpus)
        #expect(forked.memoryMiB == original.memoryMiB && forked.diskSize == original.diskSize && forked.setupHash == original.setupHash)
        #expect(forked.network == .allow && forked.allow == original.allow)
        #expect(forked.directory == nil && forked.createdAt > original.createdAt)
        #expect(FileManager.default.contents(atPath: try vm("copy").diskPath) == FileManager.default.contents(atPath: source.diskPath))
        #expect(!outcome.sourceSuspended)
        if outcome.copy.method == .extents { #expect(outcome.copy.copiedBytes < 64 << 20) }  // the ext4 metadata only
    }

    @Test func anExistingTargetAMissingSourceAndARunningSourceAreRefused() throws {
        let source = try makeVM("src")
        _ = try makeVM("taken")
        #expect { try VMForker.fork(source, into: try vm("taken")) } throws: {
            ($0 as? PenError)?.message.hasPrefix("VM 'taken' exists already") == true
        }
        #expect { try VMForker.fork(try vm("nobody"), into: try vm("new")) } throws: {
            ($0 as? PenError)?.message.hasPrefix("no VM named 'nobody'") == true
        }
        let holder = try lockHolder(source.lockPath)
        defer { holder.terminate(); holder.waitUntilExit() }
        #expect { try VMForker.fork(source, into: try vm("new")) } throws: {
            ($0 as? PenError)?.message.contains("is running; forking a running VM is not built yet") == true
        }
        #expect(!SafeFiles.exists(try vm("new").path))  // nothing left behind
    }
}
