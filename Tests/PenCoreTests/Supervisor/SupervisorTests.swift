import Foundation
import PenIO
import PenTestSupport
import PenWire
import Testing
@testable import PenCore

/// QEMU as the supervisor sees it: a process that ends when the test (or a kill) says so.
final class FakeVM: VMProcess, @unchecked Sendable {
    private let ends: (read: Int32, write: Int32)
    private let lock = NSLock()
    private var status: Int32?
    private(set) var killed = false
    private var cpu: Double?

    init() {
        var fds: [Int32] = [0, 0]
        Glibc.pipe(&fds)
        ends = (fds[0], fds[1])
    }

    deinit {
        close(ends.read)
        close(ends.write)
    }

    var exitDescriptor: Int32 { ends.read }

    var cpuSeconds: Double? {
        get { lock.lock(); defer { lock.unlock() }; return cpu }
        set { lock.lock(); cpu = newValue; lock.unlock() }
    }

    /// The VM powers off with this wait status.
    func exit(_ waitStatus: Int32 = 0) {
        lock.lock(); defer { lock.unlock() }
        guard status == nil else { return }
        status = waitStatus
        _ = write(ends.write, "x", 1)
    }

    func exitStatus() -> Int32? {
        lock.lock(); defer { lock.unlock() }
        return status
    }

    func kill() {
        lock.lock()
        killed = true
        lock.unlock()
        exit(9)
    }

    func wait(seconds: Double) -> Int32 {
        kill()
        return exitStatus() ?? 9
    }
}

/// Reads frames from one end of a connection, with a timeout.
final class FrameReader {
    let fd: Int32
    private let link: FrameLink
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)

    init(_ fd: Int32) {
        self.fd = fd
        link = FrameLink(fd: fd, ownsDescriptor: false)
    }

    func next(within seconds: Double = 5) -> Frame? {
        (try? link.next(within: Int(seconds * 1000), &buffer)) ?? nil
    }

    /// Frames until one of `kind` (returned), skipping the others.
    func await(_ kind: FrameKind, within seconds: Double = 5) -> Frame? {
        let deadline = Date().addingTimeInterval(seconds)
        while let frame = next(within: max(0.01, deadline.timeIntervalSinceNow)) {
            if frame.kind == kind { return frame }
        }
        return nil
    }

    func send(_ frames: Frame...) { writeAll(fd, frames.flatMap { $0.encoded() }) }

    /// Whether the peer closes the connection within `seconds` (frames before that are skipped).
    func closes(within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, next(within: max(0.001, deadline.timeIntervalSinceNow)) != nil {}
        return link.closed
    }
}

/// A supervisor on a background thread: the test plays the guest on one end of the control
/// channel, stands in for QEMU with a FakeVM, and connects clients to the real socket.
final class SupervisorHarness: @unchecked Sendable {
    let vm = FakeVM()
    let scratch = TemporaryDirectory.fresh("pen-supervisor")
    let guest: FrameReader
    let guestArchive: Int32
    let signalWrite: Int32
    let archiveFile: String
    let bootLogPath: String
    let run: RunDirectory
    private let done = DispatchSemaphore(value: 0)
    private(set) var messages: [String] = []
    /// The most bytes the supervisor ever held queued (read once it finished).
    nonisolated(unsafe) private(set) var peakQueuedBytes = 0
    private(set) var bootResult: PenError??
    /// The VMs (and the guest ends of their control channels) the supervisor started again.
    private let restarted = DispatchSemaphore(value: 0)
    nonisolated(unsafe) private(set) var restarts: [(vm: FakeVM, guest: FrameReader)] = []

    static func pair() -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds)
        return (fds[0], fds[1])
    }

    /// The modes the VM was started again in.
    nonisolated(unsafe) private(set) var restartModes: [SnapshotBoot] = []

    init(bootTimeout: Double = 30, detached: Bool = true, archive: Bool = false, restartable: Bool = false,
         snapshot: SnapshotBoot = .cold, snapshotStore: String? = nil, archiveLimit: UInt64? = nil,
         bootLogLimit: UInt64? = nil, logLimit: UInt64? = nil, configure: @escaping @Sendable (Supervisor) -> Void = { _ in }) throws {
        Glibc.signal(SIGPIPE, SIG_IGN)  // as the supervisor process has it (VMBoot): a peer that left is an error on write
        let pair = Self.pair
        let (penControl, guestControl) = pair()
        guest = FrameReader(guestControl)
        let (penArchive, guestArchiveEnd) = archive ? pair() : (-1, -1)
        guestArchive = guestArchiveEnd
        var fds: [Int32] = [0, 0]
        Glibc.pipe(&fds)
        signalWrite = fds[1]
        setNonBlocking(fds[0])
        archiveFile = scratch.file("root.tar")
        bootLogPath = scratch.file("boot.log")
        run = RunDirectory(path: scratch.file("run"))
        let file = archive ? open(archiveFile, O_WRONLY | O_CREAT | O_EXCL, 0o600) : -1
        var spec = VMSpec(name: "t", kernelPath: "/k", initrdPath: "/i", kernelArguments: [], diskPath: nil, cpus: 1,
                          memoryMiB: 256, accelerator: .tcg, bootLogPath: bootLogPath, qemuLogPath: "/nonexistent/qemu.log")
        spec.snapshot = snapshot
        var plan = SupervisorPlan(spec: spec, qemu: "/bin/false", boot: BootConfig(hostname: "t"), detached: detached,
                                  idleTimeout: nil, bootTimeout: bootTimeout, archivePath: archive ? archiveFile : nil,
                                  facts: BootFacts(profile: "default", cpus: 1, memoryMiB: 256, workspace: nil, published: [],
                                                   accelerator: .tcg), snapshotStore: snapshotStore)
        if let archiveLimit { plan.archiveLimit = archiveLimit }
        if let bootLogLimit { plan.bootLogLimit = bootLogLimit }
        if let logLimit { plan.logLimit = logLimit }
        let finalPlan = plan
        let listener = try run.listen()
        nonisolated(unsafe) let supervisedVM = SupervisedVM(process: vm, control: penControl, archive: archive ? (penArchive, file) : nil)
        let signals = fds[0]
        Thread {
            let restart: ((SnapshotBoot) throws(PenError) -> SupervisedVM)? = restartable ? { mode in
                self.restartModes.append(mode)
                let (pen, guest) = Self.pair()
                let vm = FakeVM()
                self.restarts.append((vm, FrameReader(guest)))
                self.restarted.signal()
                return SupervisedVM(process: vm, control: pen)
            } : nil
            let supervisor = Supervisor(plan: finalPlan, vm: supervisedVM, listener: listener, run: self.run, signals: signals,
                                        log: { self.messages.append($0) }, restart: restart)
            supervisor.onBoot = { self.bootResult = .some($0) }
            configure(supervisor)
            _ = supervisor.serve()
            self.peakQueuedBytes = supervisor.peakQueuedBytes
            self.done.signal()
        }.start()
    }

    /// The next VM the supervisor starts again, if it does within `seconds`.
    func awaitRestart(within seconds: Double = 5) -> (vm: FakeVM, guest: FrameReader)? {
        restarted.wait(timeout: .now() + seconds) == .success ? restarts.last : nil
    }

    deinit {
        for restart in restarts { close(restart.guest.fd) }
        close(guest.fd)
        if guestArchive >= 0 { close(guestArchive) }
        close(signalWrite)
    }

    /// The boot configuration the guest gets first, through `start`.
    /// The guest reaches its snapshot point (a restored one skips this: it is past it).
    func readBootConfig(_ reader: FrameReader? = nil, atSnapshotPoint: Bool = true) -> [Frame] {
        if atSnapshotPoint { (reader ?? guest).send(Frame(.snapshotPoint)) }
        var frames: [Frame] = []
        while let frame = (reader ?? guest).next(), frame.kind != .start { frames.append(frame) }
        return frames
    }

    func signal(_ number: Int32) { var b = UInt8(number); _ = write(signalWrite, &b, 1) }

    /// A client that said hello and asked for the status.
    func connect() throws -> FrameReader {
        let fd = try #require(try run.connect())
        let client = FrameReader(fd)
        client.send(.hello)
        return client
    }

    func finished(within seconds: Double = 10) -> Bool {
        done.wait(timeout: .now() + seconds) == .success
    }
}

@Suite struct SupervisorTests {
    @Test func aGuestThatNeverGetsReadyIsStoppedAtTheBootTimeout() throws {
        let h = try SupervisorHarness(bootTimeout: 0.3)
        #expect(h.finished())
        #expect(h.vm.killed)
        let error = try #require(h.bootResult ?? nil)
        #expect(error.message.contains("did not boot within") && error.message.contains("boot log: \(h.bootLogPath)"))
    }

    @Test func aSessionsOutputAndStatusReachItsClientAndTheVMStopsWithItsLastSession() throws {
        let h = try SupervisorHarness(detached: false)
        #expect(h.readBootConfig().map(\.kind) == [.hello, .rootMode, .hostname])
        h.guest.send(Frame(.ready), .stage(StageTiming("modules", 400)))
        let client = try h.connect()
        client.send(.session(.open, 0, SessionRequest(kind: .command, arguments: ["ls"]).encoded()))
        let open = try #require(h.guest.await(.open))
        let (id, body) = try open.sessionBody()
        #expect(try SessionRequest(decoding: body.payload[...]).arguments == ["ls"])
        h.guest.send(.session(.stdoutData, id, Array("hello\n".utf8)), .session(.exitStatus, id, text: "3"))
        let out = try #require(client.await(.stdoutData))
        #expect(try out.sessionBody().body.payload == Array("hello\n".utf8))
        #expect(try client.await(.exitStatus).map { try $0.sessionBody().body.status() } == 3)
        // The guest learns its output was taken (its window reopens), and a VM that `pen shell`
        // started stops with its last session; the client stays until it is down.
        var seen: [FrameKind: Frame] = [:]
        while seen.count < 2, let frame = h.guest.next() { seen[frame.kind] = frame }
        #expect(try seen[.outputAck]?.sessionBody().body.count() == 6)
        #expect(try seen[.shutdown]?.status() == SIGTERM)
        h.guest.send(Frame(.halted))
        #expect(h.guest.await(.goodbye) != nil)
        #expect(client.await(.stopping) != nil)
        #expect(!client.closes(within: 0.3))  // still open while the VM is up
        h.vm.exit()
        #expect(h.finished())
        #expect(client.closes(within: 2))  // closed once the VM is down
    }

    @Test func aBootThatStallsInTheKernelIsStartedAgainWithItsConfiguration() throws {
        let h = try SupervisorHarness(detached: true, restartable: true)
        h.vm.cpuSeconds = Supervisor.stallCPUSeconds + 1  // spinning, and the init never spoke
        let second = try #require(h.awaitRestart())
        #expect(h.vm.killed)
        #expect(h.restartModes == [.cold])
        #expect(h.readBootConfig(second.guest).map(\.kind) == [.hello, .rootMode, .hostname])
        second.guest.send(Frame(.ready))
        let client = try h.connect()
        client.send(Frame(.status))
        let report = try #require(client.await(.statusReport))
        #expect(try PenJSON.decode(SupervisorStatus.self, from: Data(report.payload)).ready)
        #expect(h.bootResult.map { $0 == nil } == true)
        #expect(h.messages.contains { $0.contains("stalled in its kernel") })
        second.vm.exit()
        #expect(h.finished())
    }

    @Test func aGuestWhoseInitSpokeIsNeverRestartedHoweverMuchCPUItUses() throws {
        let h = try SupervisorHarness(restartable: true)
        _ = h.readBootConfig()
        h.guest.send(.stage(StageTiming(.kernelToInit, 3_000_000)))
        Thread.sleep(forTimeInterval: 0.2)
        h.vm.cpuSeconds = 1000  // a long first-boot setup
        #expect(h.awaitRestart(within: 2.5) == nil)
        #expect(!h.vm.killed)
        h.vm.exit()
        #expect(h.finished())
    }

    @Test func aBootThatStallsEveryTimeFailsWithTheBootLog() throws {
        let h = try SupervisorHarness(restartable: true)
        h.vm.cpuSeconds = 100
        for _ in 1..<Supervisor.maxBootAttempts {
            let next = try #require(h.awaitRestart())
            next.vm.cpuSeconds = 100
        }
        #expect(h.finished())
        let error = try #require(h.bootResult ?? nil)
        #expect(error.message.contains("stalled in its kernel") && error.message.contains("boot log: \(h.bootLogPath)"))
        #expect(h.restarts.count == Supervisor.maxBootAttempts - 1)
    }

    @Test func aColdGuestIsConfiguredAtItsSnapshotPointARestoredOneAtOnce() throws {
        let cold = try SupervisorHarness()
        #expect(cold.guest.next(within: 0.3) == nil)  // nothing before the snapshot point
        #expect(cold.readBootConfig().map(\.kind) == [.hello, .rootMode, .hostname])
        cold.vm.exit()
        #expect(cold.finished())

        let restored = try SupervisorHarness(snapshot: .restore(state: "/s/state", key: "k"))
        #expect(restored.readBootConfig(atSnapshotPoint: false).map(\.kind) == [.hello, .rootMode, .hostname])
        restored.vm.exit()
        #expect(restored.finished())
    }

    @Test func aBootGetsTheClockAndNewEntropyOnceAndRepeatedAsksNothing() throws {
        var answers: [Freshness] = []
        for _ in 0..<2 {
            let h = try SupervisorHarness()
            _ = h.readBootConfig()
            h.guest.send(Frame(.wantFresh))
            answers.append(try #require(h.guest.await(.fresh)).freshness())
            // Asking again (a hostile guest's flood) gets no answer: nothing queues up for it.
            for _ in 0..<100 { h.guest.send(Frame(.wantFresh)) }
            #expect(h.guest.await(.fresh, within: 0.5) == nil)
            h.vm.exit()
            #expect(h.finished())
        }
        #expect(abs(Double(answers[0].seconds) - Date().timeIntervalSince1970) < 5)
        #expect(answers[0].entropy.count == Freshness.entropyBytes && answers[0].entropy != answers[1].entropy)
    }

    @Test func aRestoreQEMUCannotLoadBootsColdAndDropsTheSnapshot() throws {
        let store = TemporaryDirectory.fresh("pen-snapshots")
        try FileManager.default.createDirectory(atPath: store.path + "/k", withIntermediateDirectories: true)
        let h = try SupervisorHarness(restartable: true, snapshot: .restore(state: store.path + "/k/state", key: "k"),
                                      snapshotStore: store.path)
        _ = h.readBootConfig(atSnapshotPoint: false)
        h.vm.exit(1 << 8)  // QEMU: "load of migration failed"
        let cold = try #require(h.awaitRestart())
        #expect(h.restartModes == [.cold])
        #expect(!FileManager.default.fileExists(atPath: store.path + "/k"))
        #expect(h.readBootConfig(cold.guest).map(\.kind) == [.hello, .rootMode, .hostname])  // at its snapshot point
        cold.guest.send(Frame(.ready))
        cold.vm.exit()
        #expect(h.finished())
        #expect(h.messages.contains { $0.contains("could not be restored") })
    }

    @Test func whatAClientSendsWhileTheGuestBootsWaitsForItsSessionToOpen() throws {
        let h = try SupervisorHarness()
        let client = try h.connect()
        client.send(.session(.open, 0, SessionRequest(kind: .command, arguments: ["cat"]).encoded()),
                    .session(.stdinData, 0, Array("early\n".utf8)), .session(.stdinClosed, 0, text: ""))
        // A guest still booting sees nothing but its configuration, whenever the client came.
        #expect(h.readBootConfig().map(\.kind) == [.hello, .rootMode, .hostname])
        #expect(h.guest.next(within: 0.3) == nil)
        h.guest.send(Frame(.ready))
        let open = try #require(h.guest.await(.open))
        let id = try open.sessionBody().0
        let data = try #require(h.guest.next())
        let (dataID, body) = try data.sessionBody()
        #expect(data.kind == .stdinData && dataID == id && body.payload == Array("early\n".utf8))
        #expect(h.guest.next()?.kind == .stdinClosed)
        h.vm.exit()
        #expect(h.finished())
    }

    @Test func aStopRequestedWhileBootingWaitsUntilTheGuestIsReady() throws {
        let h = try SupervisorHarness()
        _ = h.readBootConfig()
        h.signal(SIGTERM)
        #expect(h.guest.next(within: 0.5) == nil)  // a booting init could not take it
        #expect(!h.vm.killed)
        h.guest.send(Frame(.ready))
        #expect(try h.guest.await(.shutdown)?.status() == SIGTERM)
        h.guest.send(Frame(.halted))
        #expect(h.guest.await(.goodbye) != nil)
        h.vm.exit()
        #expect(h.finished())
        #expect(!h.vm.killed)
    }

    @Test func aClientThatStopsReadingThrottlesItsOwnSessionOnly() throws {
        let h = try SupervisorHarness()
        _ = h.readBootConfig()
        h.guest.send(Frame(.ready))
        let stuck = try h.connect(), reader = try h.connect()
        stuck.send(.session(.open, 0, SessionRequest(kind: .command, arguments: ["yes"]).encoded()))
        let stuckID = try #require(h.guest.await(.open)).sessionID()
        reader.send(.session(.open, 0, SessionRequest(kind: .command, arguments: ["cat"]).encoded()))
        let readerID = try #require(h.guest.await(.open)).sessionID()
        // The guest sends a window's worth for a client that never reads: far more than its socket holds.
        let chunk = [UInt8](repeating: 0x79, count: 65536)
        for _ in 0..<(sessionWindow / chunk.count) { h.guest.send(.session(.stdoutData, stuckID, chunk)) }
        h.guest.send(.session(.stdoutData, readerID, Array("for the other\n".utf8)))
        let got = try #require(reader.await(.stdoutData))
        #expect(try got.sessionBody().body.payload == Array("for the other\n".utf8))
        // Only what the stuck client's socket really took is acknowledged for its session.
        var acknowledged = [UInt32: UInt64]()
        while let ack = h.guest.next(within: 0.5), ack.kind == .outputAck {
            let (id, body) = try ack.sessionBody()
            acknowledged[id, default: 0] += try body.count()
        }
        #expect(acknowledged[readerID] == 14)
        #expect((acknowledged[stuckID] ?? 0) < UInt64(sessionWindow))
        h.signal(SIGTERM)
        h.signal(SIGTERM)  // a second request pulls the plug
        #expect(h.finished())
    }

    @Test func aClientThatGoesAwayHangsUpItsSession() throws {
        let h = try SupervisorHarness()
        _ = h.readBootConfig()
        h.guest.send(Frame(.ready))
        var client: FrameReader? = try h.connect()
        client!.send(.session(.open, 0, SessionRequest(kind: .shell, terminal: .standard).encoded()))
        let id = try #require(h.guest.await(.open)).sessionID()
        close(client!.fd)
        client = nil
        #expect(try h.guest.await(.hangup)?.sessionID() == id)
        h.signal(SIGTERM)
        h.signal(SIGTERM)
        #expect(h.finished())
    }

    @Test func aSessionsEndWaitsForEveryAnnouncedArchiveByte() throws {
        let h = try SupervisorHarness(archive: true)
        _ = h.readBootConfig()
        h.guest.send(Frame(.ready))
        let client = try h.connect()
        client.send(.session(.open, 0, SessionRequest(kind: .archive).encoded()))
        let id = try #require(h.guest.await(.open)).sessionID()
        let archive = [UInt8]((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        writeAll(h.guestArchive, Array(archive[..<1000]))
        h.guest.send(.session(.archiveEnd, id, text: String(archive.count)), .session(.exitStatus, id, text: "0"))
        // The exit status is in, but most of the archive is still on its way: not yet.
        #expect(client.await(.exitStatus, within: 0.5) == nil)
        writeAll(h.guestArchive, Array(archive[1000...]))
        #expect(try client.await(.archiveEnd)?.sessionBody().body.count() == UInt64(archive.count))
        #expect(client.await(.exitStatus) != nil)
        h.signal(SIGTERM)
        h.signal(SIGTERM)
        #expect(h.finished())
        #expect(FileManager.default.contents(atPath: h.archiveFile).map { Array($0) } == archive)
    }

    @Test func anArchiveOverItsLimitEndsTheBuildWithAClearError() throws {
        let h = try SupervisorHarness(archive: true, archiveLimit: 100_000)
        _ = h.readBootConfig()
        h.guest.send(Frame(.ready))
        let client = try h.connect()
        client.send(.session(.open, 0, SessionRequest(kind: .archive).encoded()))
        _ = try #require(h.guest.await(.open)).sessionID()
        // A guest that streams without end: the supervisor stops at the limit, not the host's disk.
        let chunk = [UInt8](repeating: 7, count: 64 << 10)
        Thread { for _ in 0..<4 { writeAll(h.guestArchive, chunk) } }.start()
        let fatal = client.await(.fatal)
        #expect(fatal?.text.contains("PEN_MAX_ROOT_SIZE") == true)
        #expect(h.finished())
        #expect(h.vm.killed)
        let written = (try? FileManager.default.attributesOfItem(atPath: h.archiveFile)[.size] as? UInt64) ?? nil
        #expect(written.map { $0 <= 100_000 } == true)
    }

    @Test func aConsoleFloodIsCutAtTheBootLogLimit() throws {
        let h = try SupervisorHarness(bootLogLimit: 10_000)
        _ = h.readBootConfig()
        h.guest.send(Frame(.ready))
        // QEMU's side of the boot log, as QEMU opens it (appending).
        let console = open(h.bootLogPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        defer { close(console) }
        writeAll(console, [UInt8](repeating: 0x41, count: 50_000))
        let deadline = Date().addingTimeInterval(Supervisor.bootLogCheckInterval + 10)
        var size = UInt64.max
        while Date() < deadline {
            size = ((try? FileManager.default.attributesOfItem(atPath: h.bootLogPath)[.size]) as? UInt64) ?? .max
            if size < 10_000 { break }
            usleep(100_000)
        }
        #expect(size < 10_000)
        writeAll(console, Array("after\n".utf8))
        let text = (try? String(contentsOfFile: h.bootLogPath, encoding: .utf8)) ?? ""
        #expect(text.hasPrefix("--- pen: the console passed") && text.hasSuffix("after\n"))
        #expect(h.messages.contains { $0.contains("was emptied") })
        h.signal(SIGTERM)
        h.signal(SIGTERM)
        #expect(h.finished())
    }

    @Test func aMalformedFrameFromTheGuestStopsTheVM() throws {
        let h = try SupervisorHarness()
        _ = h.readBootConfig()
        h.guest.send(Frame(.ready), Frame(.exitStatus, text: "x"))  // no session id
        #expect(h.finished())
        #expect(h.vm.killed)
        #expect(h.messages.contains { $0.contains("malformed") })
    }

    @Test func aClientSpeakingAnotherWireVersionIsRefused() throws {
        let h = try SupervisorHarness()
        _ = h.readBootConfig()
        h.guest.send(Frame(.ready))
        let fd = try #require(try h.run.connect())
        let client = FrameReader(fd)
        client.send(Frame(.hello, text: "1"))
        #expect(client.await(.fatal)?.text.contains("wire version") == true)
        h.signal(SIGTERM)
        h.signal(SIGTERM)
        #expect(h.finished())
    }
}
