import Foundation
import Testing
import PenTestSupport
@testable import PenCore

@Suite struct SnapshotChooserTests: ScratchSuite {
    let scratch = TemporaryDirectory.fresh("pen-snapshot-chooser")
    var store: BootSnapshotStore { BootSnapshotStore(root: dir + "/snapshots") }
    /// Written once: its identity on disk is part of the key.
    let qemu: QEMU

    init() throws {
        qemu = QEMU(executable: try scratch.write("qemu-system-x86_64", "not really QEMU"))
    }

    func spec(user: HostUser? = nil) -> VMSpec {
        var spec = VMSpec(name: "box", kernelPath: dir + "/vmlinux", initrdPath: dir + "/initrd.img", rootImagePath: dir + "/root.erofs",
                          kernelArguments: ["console=ttyS0"], diskPath: dir + "/overlay.img", cpus: 2, memoryMiB: 2048,
                          accelerator: .tcg, bootLogPath: dir + "/boot.log", qemuLogPath: dir + "/qemu.log")
        spec.qemuUser = user
        return spec
    }

    func choose(_ spec: VMSpec, said: inout [String]) throws -> SnapshotChoice {
        var lines: [String] = []
        let choice = SnapshotChooser(store: store, say: { lines.append($0) })
            .choose(spec, kernelSHA256: "k", initrdSHA256: "i", rootImageSHA256: "r", qemu: qemu)
        said += lines
        return choice
    }

    /// Publishes a snapshot for `key` whose state is `state` and whose record says `recorded`.
    func publish(_ key: SnapshotKey, state: String, recorded: String) throws {
        let directory = store.directory(key.hash)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try state.write(toFile: store.statePath(key.hash), atomically: false, encoding: .utf8)
        let record = BootSnapshotRecord(key: key.hash, inputs: key, sha256: SHA256File.hex(bytes: Array(recorded.utf8)),
                                        bytes: UInt64(state.utf8.count), saveSeconds: 1, createdAt: Date())
        try PenJSON.encode(record).write(to: URL(fileURLWithPath: directory + "/" + BootSnapshotStore.recordName))
    }

    /// A first choice (which names the key), that key's snapshot published holding `state` while
    /// its record says `recorded`, then the choice made again and what it said.
    func chooseAfterPublishing(state: String, recorded: String) throws -> (SnapshotKey, SnapshotChoice, [String]) {
        var said: [String] = []
        let key = try #require(try choose(spec(), said: &said).key)
        try publish(key, state: state, recorded: recorded)
        said = []
        return (key, try choose(spec(), said: &said), said)
    }

    @Test func withNoSnapshotTheFirstBootIsColdAndSavesOne() throws {
        var said: [String] = []
        let choice = try choose(spec(), said: &said)
        let key = try #require(choice.key)
        #expect(choice.boot == .save(key: key.hash) && choice.state == nil)
        #expect(key.kernelSHA256 == "k" && key.initrdSHA256 == "i" && key.rootImageSHA256 == "r")
        #expect(key.hostCPU == "tcg" && key.qemuUID == geteuid() && key.machine == QEMU.machineShape(spec()))
        #expect(said == ["pen: booting cold once to save a boot snapshot of this machine; later boots restore it"])
    }

    @Test func aSnapshotThatMatchesItsRecordIsRestoredFromTheVerifiedDescriptor() throws {
        let (key, choice, said) = try chooseAfterPublishing(state: "machine state", recorded: "machine state")
        let state = try #require(choice.state)
        defer { close(state) }
        #expect(choice.boot == .restore(state: store.statePath(key.hash), key: key.hash) && choice.key == key)
        var buffer = [UInt8](repeating: 0, count: 64)
        #expect(pread(state, &buffer, buffer.count, 0) == 13 && String(decoding: buffer.prefix(13), as: UTF8.self) == "machine state")
        #expect(said.isEmpty)
    }

    @Test func aDamagedSnapshotIsSaidRemovedAndSavedAgain() throws {
        let (key, choice, said) = try chooseAfterPublishing(state: "truncated", recorded: "machine state")
        #expect(choice.boot == .save(key: key.hash) && choice.state == nil)
        #expect(said.count == 1 && said[0].hasPrefix("pen: the boot snapshot \(key.hash.prefix(12)) is damaged ("))
        #expect(said[0].hasSuffix("); booting cold to save it again"))
        #expect(!FileManager.default.fileExists(atPath: store.directory(key.hash)))
    }

    @Test func anotherQEMUUserNeverRestoresThisUsersSnapshot() throws {
        var said: [String] = []
        let own = try #require(try choose(spec(), said: &said).key)
        try publish(own, state: "machine state", recorded: "machine state")
        let other = try choose(spec(user: HostUser(uid: 4242, gid: 4242)), said: &said)
        #expect(other.key?.qemuUID == 4242 && other.key?.hash != own.hash)
        #expect(other.boot == .save(key: other.key!.hash) && other.state == nil)
    }
}
