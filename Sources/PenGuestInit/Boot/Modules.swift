// Loads the kernel modules the image lists, in the dependency order computed at image build time.
import CGuestSys
import Glibc
import PenWire

enum Modules {
    static let stage = "modules"

    static func loadAll() throws(InitFailure) {
        // A kernel with everything built in ships no order file.
        guard let order = Files.read("/" + GuestContract.moduleOrderFile) else { return }
        for name in String(decoding: order, as: UTF8.self).split(separator: "\n") where !name.isEmpty {
            try load(String(name))
        }
    }

    static func load(_ name: String) throws(InitFailure) {
        let path = "/\(GuestContract.moduleDirectory)/\(name).ko"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw .sys(stage, "open \(path)") }
        defer { close(fd) }
        if pen_finit_module(fd) != 0 {
            let err = pen_guest_errno()
            if err != EEXIST { throw .sys(stage, "load \(name)", err) }
        }
    }
}
