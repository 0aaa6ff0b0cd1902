import Foundation
import Testing
import PenTestSupport
@testable import PenCore

/// Which suspended machines a boot resumes: only a complete one, of this machine's key, whose
/// state matches its record; every other is said in one line and removed (the disk boots instead).
@Suite struct ResumeChooserTests {
    let scratch = TemporaryDirectory.fresh("pen-resume-chooser")
    var store: SuspendStore { SuspendStore(vmPath: scratch.path) }
    let key = SnapshotKey(kernelSHA256: "k", initrdSHA256: "i", rootImageSHA256: "r", qemu: "q", hostCPU: "tcg", machine: ["-m 2048M"])

    func suspend(state: String, recordedSHA: String? = nil, key: String? = nil) throws {
        try FileManager.default.createDirectory(atPath: store.directory, withIntermediateDirectories: true)
        try state.write(toFile: store.statePath, atomically: false, encoding: .utf8)
        let record = SuspendRecord(key: key ?? self.key.hash, sha256: recordedSHA ?? SHA256File.hex(bytes: Array(state.utf8)),
                                   bytes: UInt64(state.utf8.count), saveSeconds: 1, createdAt: Date())
        try PenJSON.encode(record).write(to: URL(fileURLWithPath: store.directory + "/" + SuspendStore.recordName))
    }

    func choose(cold: Bool = false) -> (SnapshotChoice?, [String]) {
        var said: [String] = []
        let choice = ResumeChooser.choose(vmName: "box", store: store, key: key, cold: cold, say: { said.append($0) })
        if let fd = choice?.state { close(fd) }
        return (choice, said)
    }

    @Test func nothingSuspendedIsAnOrdinaryBootAndSaysNothing() {
        let (choice, said) = choose()
        #expect(choice == nil && said.isEmpty)
    }

    @Test func aSuspendOfThisMachineIsResumedThroughAVerifiedDescriptor() throws {
        try suspend(state: "machine")
        let (choice, said) = choose()
        #expect(choice?.boot == .resume(state: store.statePath))
        #expect(choice?.key == nil)  // a resume saves no boot snapshot
        #expect(said.isEmpty)
        #expect(store.exists)  // removed only once QEMU has loaded it
    }

    @Test(arguments: ["damaged", "another machine", "cold", "incomplete"])
    func anythingElseIsSaidAndRemovedAndTheDiskBoots(_ case_: String) throws {
        switch case_ {
        case "damaged": try suspend(state: "machine", recordedSHA: SHA256File.hex(bytes: Array("other".utf8)))
        case "another machine": try suspend(state: "machine", key: "0123")
        case "incomplete": try FileManager.default.createDirectory(atPath: store.directory, withIntermediateDirectories: true)
        default: try suspend(state: "machine")
        }
        let (choice, said) = choose(cold: case_ == "cold")
        #expect(choice == nil)
        #expect(said.count == 1 && said[0].hasSuffix("booting its disk; its processes were not kept"), "\(said)")
        #expect(!store.exists)
    }
}
