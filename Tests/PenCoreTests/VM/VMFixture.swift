import Foundation
import PenTestSupport
import Testing
@testable import PenCore

/// A python3 child running `script` with an empty signal mask: children started from a test's
/// worker thread would otherwise inherit its blocked signals (SIGTERM included). It prints
/// "ready" once set up.
func python(_ script: String, _ arguments: [String] = []) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
    process.arguments = ["-c", "import fcntl, os, signal, sys, time\nsignal.pthread_sigmask(signal.SIG_SETMASK, [])\n"
        + script + "\nprint('ready', flush=True)\ntime.sleep(60)\n"] + arguments
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let line = String(decoding: out.fileHandleForReading.readData(ofLength: 6), as: UTF8.self)
    #expect(line == "ready\n")
    return process
}

/// Takes the flock on `lock` and writes its pid there, like pen does.
func lockHolder(_ lock: String, ignoreTerm: Bool = false) throws -> Process {
    try python("""
        \(ignoreTerm ? "signal.signal(signal.SIGTERM, signal.SIG_IGN)" : "")
        fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(fd, 0); os.pwrite(fd, b"%d\\n" % os.getpid(), 0)
        """, [lock])
}

/// A PEN_HOME with a VMs directory, removed afterwards, and a way to make stopped VMs in it.
final class VMHome {
    let scratch: TemporaryDirectory
    let paths: PenPaths

    init() {
        scratch = TemporaryDirectory.fresh("pen-vms")
        paths = PenPaths(environment: ["PEN_HOME": scratch.path])
        try? FileManager.default.createDirectory(atPath: paths.vms, withIntermediateDirectories: true)
    }

    func makeVM(_ name: String, directory: String? = nil) throws -> VMDirectory {
        let vm = VMDirectory(paths: paths, name: try VMName(name))
        try FileManager.default.createDirectory(atPath: vm.path, withIntermediateDirectories: false)
        try OverlayDisk.create(at: vm.diskPath, size: 64 << 20)
        var record = VMRecord(name: name, createdAt: Date(timeIntervalSince1970: 1_700_000_000), diskSize: 64 << 20,
                              cpus: 2, memoryMiB: 1024)
        record.directory = directory
        try vm.save(record)
        return vm
    }
}

/// A suite whose tests each get a fresh VMHome.
protocol VMHomeSuite {
    var home: VMHome { get }
}

extension VMHomeSuite {
    var paths: PenPaths { home.paths }

    func makeVM(_ name: String, directory: String? = nil) throws -> VMDirectory {
        try home.makeVM(name, directory: directory)
    }
}
