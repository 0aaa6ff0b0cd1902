// Which driver binds which virtio device, and when. Automatic probing is off for the virtio
// bus (from the moment its core module loads): the devices every VM of an image shares — the
// console, the RNG, the balloon and the root image's disk — are bound before the snapshot
// point; the VM's own — its disk, network and workspace — after it, so each VM probes its own
// backends fresh (its disk's size, its workspace's path) even when restored from a snapshot.
import Glibc
import PenWire

enum VirtioBus {
    static let stage = "devices"
    static let root = "/sys/bus/virtio"

    /// virtio device IDs (the virtio spec's): what is shared by every VM of an image.
    static let network = 1, block = 2, console = 3, entropy = 4, balloon = 5, filesystem9p = 9
    static let sharedKinds: Set<Int> = [console, entropy, balloon]

    struct Device {
        var name: String  // "virtio3"
        var kind: Int
        var isBound: Bool { Files.exists("\(VirtioBus.root)/devices/\(name)/driver") }
    }

    nonisolated(unsafe) private static var autoprobeOff = false

    /// Once the virtio bus exists (its core module loaded, before any transport or driver
    /// registers), turns its automatic probing off. The module loader calls it under its lock.
    static func disableAutoprobeOnce() throws(InitFailure) {
        guard !autoprobeOff, Files.exists(root + "/drivers_autoprobe") else { return }
        try writeSysfs("\(root)/drivers_autoprobe", "0")
        autoprobeOff = true
    }

    static func devices() -> [Device] {
        guard let dir = opendir(root + "/devices") else { return [] }
        defer { closedir(dir) }
        var found: [Device] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            guard name.hasPrefix("virtio"), let bytes = Files.read("\(root)/devices/\(name)/device") else { continue }
            let text = String(decoding: bytes, as: UTF8.self).trimmingWhitespace
            guard let kind = Int(text.hasPrefix("0x") ? String(text.dropFirst(2)) : text, radix: 16) else { continue }
            found.append(Device(name: name, kind: kind))
        }
        // virtio2 before virtio10: the order the transports were registered in.
        return found.sorted { Int($0.name.dropFirst(6)) ?? 0 < Int($1.name.dropFirst(6)) ?? 0 }
    }

    /// Binds whichever driver matches (synchronous: the device is probed when this returns).
    static func probe(_ device: Device) throws(InitFailure) {
        try writeSysfs("\(root)/drivers_probe", device.name)
    }

    static func unbind(_ device: Device) throws(InitFailure) {
        try writeSysfs("\(root)/devices/\(device.name)/driver/unbind", device.name)
    }

    /// Before the snapshot point: the shared devices, and the disk whose serial names the root
    /// image (the disks are told apart only once bound: any other one is let go again).
    static func bindShared() throws(InitFailure) {
        for device in devices() where sharedKinds.contains(device.kind) && !device.isBound { try probe(device) }
        for device in devices() where device.kind == block && !device.isBound {
            try probe(device)
            if Devices.block(serial: GuestContract.rootImageSerial, under: device.name) != nil { return }
            try unbind(device)
        }
    }

    /// After the snapshot point: everything not bound yet, this VM's own devices, each probed
    /// on a thread of its own (a disk's probe reads its partition table, 9p's waits for the host).
    static func bindTheRest() throws(InitFailure) {
        let unbound = devices().filter { !$0.isBound }
        var failures = [InitFailure?](repeating: nil, count: unbound.count)
        failures.withUnsafeMutableBufferPointer { slots in
            nonisolated(unsafe) let slots = slots
            Threads.runAll(unbound.indices.map { i in
                { do throws(InitFailure) { try probe(unbound[i]) } catch { slots[i] = error } }
            })
        }
        if let failure = failures.compactMap({ $0 }).first { throw failure }
    }

    private static func writeSysfs(_ path: String, _ value: String) throws(InitFailure) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        if fd < 0 { throw .sys(stage, "open \(path)") }
        defer { close(fd) }
        let n = value.withCString { write(fd, $0, strlen($0)) }
        if n < 0 { throw .sys(stage, "write \(value) to \(path)") }
    }
}

extension String {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}
