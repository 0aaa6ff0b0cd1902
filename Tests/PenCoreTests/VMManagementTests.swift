import Foundation
import Testing
@testable import PenCore

/// A python3 child running `script` with an empty signal mask: children started from a test's
/// worker thread would otherwise inherit its blocked signals (SIGTERM included). It prints
/// "ready" once set up.
private func python(_ script: String, _ arguments: [String] = []) throws -> Process {
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
private func lockHolder(_ lock: String, ignoreTerm: Bool = false) throws -> Process {
    try python("""
        \(ignoreTerm ? "signal.signal(signal.SIGTERM, signal.SIG_IGN)" : "")
        fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(fd, 0); os.pwrite(fd, b"%d\\n" % os.getpid(), 0)
        """, [lock])
}

@Suite struct VMManagementTests {
    let home: String
    let paths: PenPaths

    init() throws {
        home = NSTemporaryDirectory() + "pen-manage-\(UUID().uuidString)"
        paths = PenPaths(environment: ["PEN_HOME": home])
        try FileManager.default.createDirectory(atPath: paths.vms, withIntermediateDirectories: true)
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

    // MARK: rm

    @Test func removeDeletesAStoppedVMAndLeavesNoTrash() throws {
        let vm = try makeVM("gone")
        try VMRemover.remove(vm)
        #expect(!SafeFiles.exists(vm.path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: paths.vms) == [])
    }

    @Test func removeRefusesARunningVM() throws {
        let vm = try makeVM("busy")
        let lock = try VMLock(path: vm.lockPath, vmName: vm.name)
        #expect {
            try VMRemover.remove(vm)
        } throws: { ($0 as? PenError)?.message.contains("pen vm stop busy") == true }
        #expect(vm.exists)
        withExtendedLifetime(lock) {}
    }

    @Test func removeRefusesASymlinkedVMDirectory() throws {
        let real = home + "/elsewhere"
        try FileManager.default.createDirectory(atPath: real, withIntermediateDirectories: false)
        try "keep".write(toFile: real + "/vm.json", atomically: false, encoding: .utf8)
        let vm = VMDirectory(paths: paths, name: try VMName("link"))
        try FileManager.default.createSymbolicLink(atPath: vm.path, withDestinationPath: real)
        #expect {
            try VMRemover.remove(vm)
        } throws: { ($0 as? PenError)?.message.contains("symlink") == true }
        #expect(SafeFiles.exists(real + "/vm.json"))
    }

    @Test func removeOfAMissingVMSaysSo() throws {
        let vm = VMDirectory(paths: paths, name: try VMName("nope"))
        #expect {
            try VMRemover.remove(vm)
        } throws: { ($0 as? PenError)?.message == "no VM named 'nope': see `pen vm ls`" }
    }

    @Test func removeDoesNotFollowSymlinksInsideTheVM() throws {
        let outside = home + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: false)
        try "keep".write(toFile: outside + "/precious", atomically: false, encoding: .utf8)
        let vm = try makeVM("links")
        try FileManager.default.createSymbolicLink(atPath: vm.path + "/out", withDestinationPath: outside)
        try VMRemover.remove(vm)
        #expect(!SafeFiles.exists(vm.path))
        #expect(SafeFiles.exists(outside + "/precious"))
    }

    @Test func abandonedTrashIsSweptAndLiveTrashKept() throws {
        let dead = paths.vms + "/.rm-old-2147483646"  // no such pid
        let live = paths.vms + "/.rm-other-\(getppid())"
        try FileManager.default.createDirectory(atPath: dead, withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: live, withIntermediateDirectories: false)
        try VMRemover.remove(try makeVM("x"))
        #expect(!SafeFiles.exists(dead))
        #expect(SafeFiles.exists(live))
    }

    // MARK: stop

    @Test func stopOfAStoppedVMNeverSignalsThePidInItsLockFile() throws {
        let vm = try makeVM("idle")
        let sleeper = try python("")
        defer { sleeper.terminate() }
        try "\(sleeper.processIdentifier)\n".write(toFile: vm.lockPath, atomically: false, encoding: .utf8)
        #expect(try VMStopper.stop(vm, timeout: 1, say: { _ in }) == .notRunning)
        usleep(100_000)
        #expect(sleeper.isRunning)
    }

    @Test func stopSignalsTheConfirmedHolder() throws {
        let vm = try makeVM("run")
        let holder = try lockHolder(vm.lockPath)
        #expect(VMLock.holder(path: vm.lockPath) == holder.processIdentifier)
        var said: [String] = []
        #expect(try VMStopper.stop(vm, timeout: 10, say: { said.append($0) }) == .stopped)
        holder.waitUntilExit()
        #expect(holder.terminationReason == .uncaughtSignal && holder.terminationStatus == SIGTERM)
        #expect(!VMLock.isHeld(path: vm.lockPath))
        #expect(said.count == 1)
    }

    @Test func stopKillsAHolderThatIgnoresTerm() throws {
        let vm = try makeVM("stubborn")
        let holder = try lockHolder(vm.lockPath, ignoreTerm: true)
        #expect(try VMStopper.stop(vm, timeout: 0.5, say: { _ in }) == .forced)
        holder.waitUntilExit()
        #expect(holder.terminationStatus == SIGKILL)
    }

    @Test func processHandleSignalsAndSeesTheExit() throws {
        let sleeper = try python("")
        let handle = try ProcessHandle(pid: sleeper.processIdentifier)
        #expect(!handle.waitForExit(seconds: 0.1))
        try handle.send(SIGTERM)
        #expect(handle.waitForExit(seconds: 5))
        sleeper.waitUntilExit()
        try handle.send(SIGTERM)  // already gone: not an error, and nobody else is signalled
        #expect(throws: PenError.self) { try ProcessHandle(pid: 2_147_483_646) }
    }

    // MARK: ls

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
                                                      "disk_size_bytes", "directory", "created_at"])
        #expect(object?["directory"] is NSNull)
    }

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
}

@Suite struct FormattingTests {
    @Test func ages() {
        #expect(Age.format(0) == "0s")
        #expect(Age.format(-5) == "0s")
        #expect(Age.format(59.9) == "59s")
        #expect(Age.format(180) == "3m")
        #expect(Age.format(3599) == "59m")
        #expect(Age.format(2 * 3600 + 59) == "2h")
        #expect(Age.format(5 * 86400 + 7200) == "5d")
        #expect(Age.format(.infinity) == "0s")
        #expect(Age.since(Date(timeIntervalSince1970: 0), now: Date(timeIntervalSince1970: 120)) == "2m")
    }

    @Test func shortSizes() {
        #expect(ByteSize.short(0) == "0B")
        #expect(ByteSize.short(512) == "512B")
        #expect(ByteSize.short(23 << 20) == "23M")
        #expect(ByteSize.short(23 * 1_048_576 + 400_000) == "23M")
        #expect(ByteSize.short(10 << 30) == "10G")
        #expect(ByteSize.short(3 << 29) == "1.5G")
        #expect(ByteSize.short(1 << 30 + 1 << 20) == "1G")
        #expect(ByteSize.short(2048 << 20) == "2G")
    }

    @Test func aptCandidates() {
        let policy = """
            linux-image-amd64:
              Installed: (none)
              Candidate: 6.1.192-2
              Version table:
                 6.1.192-2 500
            """
        #expect(HostFacts.aptCandidate(in: policy) == "6.1.192-2")
        #expect(HostFacts.aptCandidate(in: "linux-image-amd64:\n  Installed: (none)\n  Candidate: (none)\n") == nil)
        #expect(HostFacts.aptCandidate(in: "N: Unable to locate package linux-image-amd64\n") == nil)
    }

    @Test func checkLinesAndJSON() throws {
        #expect(HostCheck("qemu", .ok, "/usr/bin/qemu").lines == ["ok    qemu: /usr/bin/qemu"])
        #expect(HostCheck("kvm", .warn, "not usable", fix: "none").lines == ["warn  kvm: not usable", "      fix: none"])
        #expect(HostCheck("x", .fail, "broken").lines == ["fail  x: broken"])
        let object = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(HostCheck("q", .ok, "d"))) as? [String: Any]
        #expect(object?["status"] as? String == "ok")
        #expect(object?["fix"] is NSNull)
    }

    @Test func freeSpaceLooksUpTheNearestExistingDirectory() {
        #expect((HostFacts.freeBytes(at: NSTemporaryDirectory() + "no/such/dir") ?? 0) > 0)
        #expect(HostFacts.device(of: "/no/such/dir") == HostFacts.device(of: "/"))
    }
}
