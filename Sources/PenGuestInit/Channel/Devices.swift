// Finds devices that appear asynchronously after their driver loads.
import Glibc

enum Devices {
    /// Virtio-serial ports are announced by the host after the driver binds, so their
    /// device nodes can lag the module load by a few milliseconds.
    static func waitFor(_ path: String, stage: String, timeoutMicros: UInt64 = 10_000_000) throws(InitFailure) {
        let deadline = monotonicMicroseconds() + timeoutMicros
        while !Files.exists(path) {
            if monotonicMicroseconds() > deadline { throw InitFailure(stage, "\(path) did not appear") }
            var ts = timespec(tv_sec: 0, tv_nsec: 500_000)
            nanosleep(&ts, nil)
        }
    }

    /// The /dev node of the virtio-serial port the host named `name`.
    static func virtioPort(named name: String, stage: String, timeoutMicros: UInt64 = 10_000_000) throws(InitFailure) -> String {
        let deadline = monotonicMicroseconds() + timeoutMicros
        while true {
            if let dir = opendir("/sys/class/virtio-ports") {
                defer { closedir(dir) }
                while let entry = readdir(dir) {
                    let port = withUnsafePointer(to: entry.pointee.d_name) {
                        $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                    }
                    if port.hasPrefix("."), port.count <= 2 { continue }
                    if let bytes = Files.read("/sys/class/virtio-ports/\(port)/name"),
                       String(decoding: bytes, as: UTF8.self).split(separator: "\n").first.map(String.init) == name {
                        let node = "/dev/" + port
                        try waitFor(node, stage: stage)
                        return node
                    }
                }
            }
            if monotonicMicroseconds() > deadline { throw InitFailure(stage, "virtio port \(name) not found") }
            var ts = timespec(tv_sec: 0, tv_nsec: 500_000)
            nanosleep(&ts, nil)
        }
    }

    /// The /dev node of the virtio disk whose serial is `serial`, nil when none is bound; with
    /// `device`, only that virtio device's disk. Probing is synchronous, so bound disks are listed.
    static func block(serial: String, under device: String? = nil) -> String? {
        let listing = device.map { "/sys/bus/virtio/devices/\($0)/block" } ?? "/sys/block"
        guard let dir = opendir(listing) else { return nil }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            guard name.hasPrefix("vd"), let bytes = Files.read("/sys/block/\(name)/serial") else { continue }
            let found = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init)
            if found == serial { return "/dev/" + name }
        }
        return nil
    }
}
