import Foundation
import PenIO
import PenWire
import Testing
@testable import PenCore

/// QEMU as the relay sees it: a process that ends when the test (or the relay's kill) says so.
final class FakeVM: VMProcess, @unchecked Sendable {
    private let ends: (read: Int32, write: Int32)
    private let lock = NSLock()
    private var status: Int32?
    private(set) var killed = false

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

/// One relay on a background thread with the guest's ends of its channels in the test's hands.
final class RelayHarness: @unchecked Sendable {
    let vm = FakeVM()
    /// The guest's ends of the control channel, console and archive port; the signal pipe's write end.
    let guestControl: Int32, guestConsole: Int32, guestArchive: Int32, signalWrite: Int32
    let archiveFile: String
    private let penControl: Int32, penConsole: Int32, penArchive: Int32, signalRead: Int32, input: Int32, terminal: Int32
    private var decoder = FrameDecoder()
    private let done = DispatchSemaphore(value: 0)
    private(set) var result: Result<SessionOutcome, PenError>?
    private(set) var output: [UInt8] = []
    private(set) var messages: [String] = []

    init(bootTimeout: Double = 30, archive: Bool = false) throws {
        func pair() -> (Int32, Int32) {
            var fds: [Int32] = [0, 0]
            socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds)
            return (fds[0], fds[1])
        }
        (penControl, guestControl) = pair()
        (penConsole, guestConsole) = pair()
        (penArchive, guestArchive) = archive ? pair() : (-1, -1)
        var fds: [Int32] = [0, 0]
        pipe(&fds)
        (signalRead, signalWrite) = (fds[0], fds[1])
        fcntl(signalRead, F_SETFL, O_NONBLOCK)
        input = open("/dev/null", O_RDONLY)
        terminal = open("/dev/null", O_WRONLY)
        archiveFile = NSTemporaryDirectory() + "/pen-relay-\(UUID().uuidString).tar"
        let file = archive ? open(archiveFile, O_WRONLY | O_CREAT | O_EXCL, 0o600) : -1
        let channels = RelayChannels(control: penControl, console: penConsole, archive: archive ? penArchive : nil,
                                     archiveFile: archive ? file : nil, signals: signalRead, input: input, terminal: terminal)
        let settings = RelaySettings(vmName: "t", bootLogPath: "/vms/t/boot.log", qemuLogPath: "/nonexistent/qemu.log",
                                     diskPath: nil, interactive: false, forwardInput: false, bootTimeout: bootTimeout)
        Thread {
            var relay = SessionRelay(channels: channels, settings: settings, process: self.vm,
                                     output: { _, bytes in self.output += bytes }, message: { self.messages.append($0) })
            do throws(PenError) { self.result = .success(try relay.run(started: Date())) } catch { self.result = .failure(error) }
            if file >= 0 { close(file) }
            self.done.signal()
        }.start()
    }

    deinit {
        for fd in [penControl, penConsole, penArchive, guestControl, guestConsole, guestArchive, signalRead, signalWrite,
                   input, terminal] where fd >= 0 { close(fd) }
        unlink(archiveFile)
    }

    func send(_ frames: Frame...) { writeAll(guestControl, frames.flatMap { $0.encoded() }) }

    func signal(_ number: Int32) { var b = UInt8(number); _ = write(signalWrite, &b, 1) }

    /// The next frame pen sent the guest, or nil when none comes within `seconds`.
    func nextFrame(within seconds: Double = 5) -> Frame? {
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            if let frame = try? decoder.next() { return frame }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return nil }
            var p = pollfd(fd: guestControl, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(left * 1000) + 1) > 0 else { return nil }
            let n = read(guestControl, &buffer, buffer.count)
            guard n > 0 else { return nil }
            decoder.feed(buffer[0..<n])
        }
    }

    /// Frames pen sent until one of `kind` (which is returned), skipping the ones before.
    func awaitFrame(_ kind: FrameKind, within seconds: Double = 5) -> Frame? {
        while let frame = nextFrame(within: seconds) {
            if frame.kind == kind { return frame }
        }
        return nil
    }

    func finish(within seconds: Double = 10) -> Result<SessionOutcome, PenError>? {
        done.wait(timeout: .now() + seconds) == .success ? result : nil
    }
}

@Suite struct SessionRelayTests {
    @Test func aGuestThatNeverGetsReadyIsStoppedAtTheBootTimeout() throws {
        let h = try RelayHarness(bootTimeout: 0.3)
        let started = Date()
        guard case .failure(let error) = try #require(h.finish()) else { Issue.record("the boot should have failed"); return }
        #expect(error.message.contains("did not boot within 0 s") && error.message.contains("boot log: /vms/t/boot.log"))
        #expect(h.vm.killed)
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test func aCommandsOutputAndStatusComeBackAndTheGuestIsToldGoodbye() throws {
        let h = try RelayHarness()
        #expect(h.nextFrame()?.kind == .stdinClosed)  // no input is forwarded
        h.send(Frame(.ready), Frame(.stdoutData, Array("hello\n".utf8)), .stage(StageTiming("modules", 400)),
               .status(.exitStatus, 3))
        #expect(h.awaitFrame(.goodbye) != nil)
        h.vm.exit()
        let outcome = try #require(h.finish()).get()
        #expect(outcome.exitStatus == 3)
        #expect(h.output == Array("hello\n".utf8))
        #expect(outcome.stages.map(\.name) == ["modules", "qemu_start_to_ready", "exit_to_power_off"])
    }

    @Test func aStopRequestedWhileBootingWaitsUntilTheGuestIsReady() throws {
        let h = try RelayHarness()
        #expect(h.nextFrame()?.kind == .stdinClosed)
        h.signal(SIGTERM)
        // Nothing reaches the guest while it boots (its init could not take the request yet)...
        #expect(h.nextFrame(within: 0.5) == nil)
        #expect(!h.vm.killed)
        // ...and the request arrives once it is ready.
        h.send(Frame(.ready))
        let terminate = try #require(h.awaitFrame(.terminate))
        #expect(try terminate.status() == SIGTERM)
        h.send(.status(.exitStatus, 128 + SIGTERM))
        #expect(h.awaitFrame(.goodbye) != nil)
        h.vm.exit()
        #expect(try #require(h.finish()).get().exitStatus == 128 + SIGTERM)
    }

    @Test func goodbyeWaitsForEveryAnnouncedArchiveByte() throws {
        let h = try RelayHarness(archive: true)
        let archive = [UInt8]((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        h.send(Frame(.ready))
        writeAll(h.guestArchive, Array(archive[..<1000]))
        h.send(.count(.archiveEnd, UInt64(archive.count)), .status(.exitStatus, 0))
        // The exit status is in, but most of the archive is still on its way: no goodbye yet.
        #expect(h.awaitFrame(.goodbye, within: 0.5) == nil)
        writeAll(h.guestArchive, Array(archive[1000...]))
        #expect(h.awaitFrame(.goodbye) != nil)
        h.vm.exit()
        let outcome = try #require(h.finish()).get()
        #expect(outcome.archiveBytes == UInt64(archive.count))
        #expect(FileManager.default.contents(atPath: h.archiveFile).map { Array($0) } == archive)
    }

    @Test func anArchiveShorterThanAnnouncedIsAnError() throws {
        let h = try RelayHarness(archive: true)
        h.send(Frame(.ready))
        writeAll(h.guestArchive, [UInt8](repeating: 7, count: 500))
        h.send(.count(.archiveEnd, 1000), .status(.exitStatus, 0))
        Thread.sleep(forTimeInterval: 0.3)
        h.vm.exit()  // the VM dies before the rest arrives
        guard case .failure(let error) = try #require(h.finish()) else { Issue.record("a short archive must fail"); return }
        #expect(error.message.contains("sent 500 of 1000 archive bytes"))
    }

    @Test func aMalformedFrameFromTheGuestStopsTheVM() throws {
        let h = try RelayHarness()
        h.send(Frame(.ready), Frame(.exitStatus, text: "not a number"))
        guard case .failure(let error) = try #require(h.finish()) else { Issue.record("a malformed frame must fail"); return }
        #expect(error.message.contains("malformed") && error.message.contains("exitStatus"))
        #expect(h.vm.killed)
    }
}
