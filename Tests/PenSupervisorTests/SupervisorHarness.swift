// The supervisor under test: a real Supervisor on a thread, with QEMU, the guest and the
// clients played by the test (FakeVM, FrameReader).
import Foundation
import PenIO
import PenTestSupport
import PenWire
import Testing
@testable import PenCore
@testable import PenSupervisor

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

    /// The modes the VM was started again in.
    nonisolated(unsafe) private(set) var restartModes: [SnapshotBoot] = []

    init(bootTimeout: Double = 30, detached: Bool = true, archive: Bool = false, restartable: Bool = false,
         snapshot: SnapshotBoot = .cold, snapshotStore: String? = nil, archiveLimit: UInt64? = nil,
         bootLogLimit: UInt64? = nil, logLimit: UInt64? = nil, configure: @escaping @Sendable (Supervisor) -> Void = { _ in }) throws {
        Glibc.signal(SIGPIPE, SIG_IGN)  // as the supervisor process has it (VMBoot): a peer that left is an error on write
        let pair = socketPair
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
                let (pen, guest) = socketPair()
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

    /// The guest through its boot to ready.
    func bootToReady() {
        _ = readBootConfig()
        guest.send(Frame(.ready))
    }

    /// A new client with one session open: the client, and the id the guest was given for it.
    func openSession(_ request: SessionRequest) throws -> (FrameReader, UInt32) {
        let client = try connect()
        client.send(.open(connectionSessionID, request))
        return (client, try #require(guest.await(.open)).sessionID())
    }

    /// Two SIGTERMs, as a user's second Ctrl-C: the second pulls the plug. Whether it finished.
    func stoppedByTwoSignals() -> Bool {
        signal(SIGTERM)
        signal(SIGTERM)
        return finished()
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

