// A VM's directory and the files in it (vm.json, lock, overlay.img, logs).
import Foundation

/// The files of one VM's directory.
public struct VMDirectory: Sendable {
    public let name: VMName
    public let path: String
    public init(paths: PenPaths, name: VMName) {
        self.name = name
        path = paths.vmDirectory(name)
    }
    public var recordPath: String { path + "/vm.json" }
    public var lockPath: String { path + "/lock" }
    public var diskPath: String { path + "/overlay.img" }
    public var bootLogPath: String { path + "/boot.log" }
    public var qemuLogPath: String { path + "/qemu.log" }
    public var supervisorLogPath: String { path + "/supervisor.log" }
    /// The running VM's private directory, holding its supervisor's socket.
    public var run: RunDirectory { RunDirectory(path: path + "/run") }

    public var exists: Bool { SafeFiles.exists(recordPath) }

    /// A VM's directory (and the VMs directory above it) must be real directories: a link
    /// there would have pen read and write a record and disk somewhere else entirely.
    public func refuseLinks() throws(PenError) {
        try SafeFiles.refuseSymlink((path as NSString).deletingLastPathComponent)
        try SafeFiles.refuseSymlink(path)
    }

    public func load() throws(PenError) -> VMRecord {
        try refuseLinks()
        try SafeFiles.refuseSymlink(recordPath)
        guard let data = FileManager.default.contents(atPath: recordPath) else {
            throw PenError("cannot read \(recordPath): the VM '\(name)' is incomplete; remove \(path) to start over")
        }
        do {
            return try PenJSON.decode(VMRecord.self, from: data)
        } catch {
            throw PenError("\(recordPath) is not a valid VM record (\(error)); remove \(path) to start over")
        }
    }

    /// The record, or nil when there is no VM (also when `pen vm rm` removed it just now).
    public func loadIfPresent() throws(PenError) -> VMRecord? {
        do {
            return try load()
        } catch {
            if !SafeFiles.exists(recordPath) && !SafeFiles.exists(path) { return nil }
            throw error
        }
    }

    public func save(_ record: VMRecord) throws(PenError) {
        let data: Data
        do { data = try PenJSON.encode(record) } catch { throw PenError("cannot encode the VM record: \(error)") }
        try SafeFiles.writeAtomically(Array(data) + [0x0a], to: recordPath)
    }
}
