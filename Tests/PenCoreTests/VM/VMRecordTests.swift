import Foundation
import PenTestSupport
import Testing
@testable import PenCore

@Suite struct VMRecordTests: VMHomeSuite {
    let home = VMHome()

    @Test func oldRecordsWithoutADirectoryStillLoad() throws {
        let vm = VMDirectory(paths: paths, name: try VMName("old"))
        try FileManager.default.createDirectory(atPath: vm.path, withIntermediateDirectories: false)
        try """
            {"cpus": 2, "createdAt": "2025-01-01T00:00:00Z", "diskSize": 1073741824, "format": 1,
             "memoryMiB": 2048, "name": "old", "profile": "default"}
            """.write(toFile: vm.recordPath, atomically: false, encoding: .utf8)
        let record = try vm.load()
        #expect(record.directory == nil && record.cpus == 2)
        var changed = record
        changed.directory = "/src"
        try vm.save(changed)
        #expect(try vm.load().directory == "/src")
    }

    @Test func vmRecordRoundTrips() throws {
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
