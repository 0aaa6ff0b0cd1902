import Foundation
import PenTestSupport
import Testing
@testable import PenCore

@Suite struct VMListingTests: VMHomeSuite {
    let home = VMHome()

    @Test func listingReadsTheDiskFromItsSuperblock() throws {
        _ = try makeVM("a", directory: "/home/me/project")
        _ = try makeVM("b")
        let rows = VMListing.summaries(paths: paths)
        #expect(rows.map(\.name) == ["a", "b"])
        let a = rows[0]
        #expect(a.status == "stopped" && a.cpus == 2 && a.memoryMiB == 1024 && a.directory == "/home/me/project")
        #expect(a.diskSizeBytes == 64 << 20)
        #expect((a.diskUsedBytes ?? 0) > 0 && (a.diskUsedBytes ?? .max) < a.diskSizeBytes)
        #expect(rows[1].directory == nil)
    }

    @Test func dataExcludesTheFilesystemsOwnOverhead() throws {
        let vm = try makeVM("fresh")
        let usage = try OverlayDisk.measure(vm.diskPath)
        #expect(try OverlayDisk.usage(of: vm.diskPath) == (usage.used, usage.total))
        #expect(usage.overhead > 0 && usage.overhead < usage.used)
        #expect(usage.data > 0 && usage.data < 1 << 20)  // the root directory and lost+found
        #expect(DiskUsage(used: 5, total: 10, overhead: 7).data == 0)
    }

    @Test func summaryJSONHasEveryKey() throws {
        let summary = VMSummary(name: "a", profile: "default", status: "stopped", cpus: 1, memoryMiB: 512,
                                diskUsedBytes: nil, diskSizeBytes: 1 << 30, directory: nil,
                                createdAt: Date(timeIntervalSince1970: 0))
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let object = try JSONSerialization.jsonObject(with: try encoder.encode(summary)) as? [String: Any]
        #expect(Set(object?.keys.map { $0 } ?? []) == ["name", "profile", "status", "cpus", "memory_mib", "disk_used_bytes",
                                                      "disk_size_bytes", "directory", "created_at", "sessions", "uptime_seconds",
                                                      "detached", "boot", "suspended_at", "suspended_bytes",
                                                      "checkpoints", "checkpoint_bytes"])
        #expect(object?["directory"] is NSNull && object?["sessions"] is NSNull)
    }
}
