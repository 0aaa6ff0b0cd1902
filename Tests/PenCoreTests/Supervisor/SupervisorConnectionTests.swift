import Foundation
import PenIO
import PenTestSupport
import PenWire
import Testing
@testable import PenCore

/// Reaching a running VM's supervisor: the test plays the supervisor on the VM's real run
/// socket (bound by RunDirectory.listen, as the supervisor binds it) in a temporary PEN_HOME.
@Suite struct SupervisorConnectionTests {
    /// A supervisor that accepts one connection on a thread, reads the client's hello and status
    /// request, and answers as `answer` says (or not at all); its end stays open until it goes away.
    final class FakeSupervisor: @unchecked Sendable {
        let listener: Int32
        private let lock = NSLock()
        private var accepted: Int32 = -1
        private var frames: [Frame] = []
        private let greeted = DispatchSemaphore(value: 0)

        init(_ run: RunDirectory, answer: @escaping @Sendable (FrameReader, [Frame]) -> Void) throws {
            Glibc.signal(SIGPIPE, SIG_IGN)
            listener = try run.listen()
            let listener = listener
            Thread { [self] in
                var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, 10_000) > 0 else { greeted.signal(); return }
                let fd = accept(listener, nil, nil)
                let reader = FrameReader(fd)
                let said = [reader.next(), reader.next()].compactMap { $0 }
                lock.withLock { accepted = fd; frames = said }
                greeted.signal()
                answer(reader, said)
            }.start()
        }

        /// What the client said first (after it connected).
        func received(within seconds: Double = 10) -> [Frame] {
            _ = greeted.wait(timeout: .now() + seconds)
            return lock.withLock { frames }
        }

        /// Whether a client is waiting in the listen queue, not yet accepted.
        var hasPendingConnection: Bool {
            var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            return poll(&p, 1, 0) > 0
        }

        deinit {
            close(listener)
            lock.withLock { if accepted >= 0 { close(accepted) } }
        }
    }

    let home = VMHome()

    func makeVM(_ name: String = "box") throws -> VMDirectory {
        let vm = VMDirectory(paths: home.paths, name: try VMName(name))
        try FileManager.default.createDirectory(atPath: vm.path, withIntermediateDirectories: true)
        return vm
    }

    static func status(stopping: Bool = false) -> SupervisorStatus {
        SupervisorStatus(pid: 4242, startedAt: Date(timeIntervalSince1970: 1_700_000_000), ready: true, stopping: stopping,
                         detached: true, sessions: 3,
                         facts: BootFacts(profile: "dev", cpus: 2, memoryMiB: 512, workspace: "/src", published: [],
                                          accelerator: .tcg),
                         stages: ["modules": 1234], boot: "restored")
    }

    static func report(_ status: SupervisorStatus) -> Frame {
        Frame(.statusReport, Array((try? PenJSON.encode(status)) ?? Data()))
    }


    @Test func theClientSaysHelloInThisWireVersionAndDecodesTheStatus() throws {
        let vm = try makeVM()
        let supervisor = try FakeSupervisor(vm.run) { reader, _ in reader.send(Self.report(Self.status())) }
        let connection = try #require(try SupervisorConnection.connect(vm, wait: 5))
        defer { connection.close() }
        #expect(connection.status == Self.status())
        let said = supervisor.received()
        #expect(said.map(\.kind) == [.hello, .status])
        #expect(said.first?.text == String(wireVersion))
    }

    @Test func aSupervisorOfAnotherWireVersionIsRefusedWithItsReason() throws {
        let vm = try makeVM()
        // What the supervisor sends a client whose hello names another version, then it hangs up.
        let supervisor = try FakeSupervisor(vm.run) { reader, said in
            guard said.first?.text != String(wireVersion + 1) else { return reader.send(Self.report(Self.status())) }
            reader.send(Frame(.fatal, text: "this VM's pen speaks wire version \(wireVersion + 1), the client \(said.first?.text ?? "")"))
            shutdown(reader.fd, Int32(SHUT_RDWR))
        }
        #expect(thrownMessage {
            _ = try SupervisorConnection.connect(vm, wait: 5)
        }.contains("VM 'box' refused this pen: this VM's pen speaks wire version \(wireVersion + 1)"))
        #expect(supervisor.received().count == 2)
    }

    @Test func aSupervisorThatHangsUpIsAnError() throws {
        let vm = try makeVM()
        let supervisor = try FakeSupervisor(vm.run) { reader, _ in shutdown(reader.fd, Int32(SHUT_RDWR)) }
        #expect(thrownMessage { _ = try SupervisorConnection.connect(vm, wait: 5) }.contains("closed the connection"))
        _ = supervisor
    }

    @Test func anUnreadableStatusIsAnErrorNamingTheVM() throws {
        let vm = try makeVM()
        let supervisor = try FakeSupervisor(vm.run) { reader, _ in reader.send(Frame(.statusReport, Array("{\"pid\": 1}".utf8))) }
        #expect(thrownMessage { _ = try SupervisorConnection.connect(vm, wait: 5) }.contains("VM 'box' sent an unreadable status"))
        _ = supervisor
    }

    /// The supervisor accepts and reads, but never answers: the client gives up at its own deadline.
    @Test func aSupervisorThatNeverAnswersEndsAtTheDeadline() throws {
        let vm = try makeVM()
        let supervisor = try FakeSupervisor(vm.run) { _, _ in }
        #expect(thrownMessage { _ = try SupervisorConnection.connect(vm, wait: 5) }.contains("did not answer within 10 s"))
        #expect(supervisor.received().map(\.kind) == [.hello, .status])
    }

    @Test func aRunDirectoryThatIsASymlinkIsRefusedAndNotFollowed() throws {
        let vm = try makeVM()
        // A supervisor listening elsewhere, and the VM's run directory pointing there.
        let elsewhere = RunDirectory(path: home.scratch.path + "/elsewhere")
        let supervisor = try FakeSupervisor(elsewhere) { reader, _ in reader.send(Self.report(Self.status())) }
        #expect(symlink(elsewhere.path, vm.run.path) == 0)
        #expect(thrownMessage { _ = try SupervisorConnection.connect(vm, wait: 5) }.contains("is a symlink"))
        #expect(!supervisor.hasPendingConnection, "the client connected through the link")
    }

    /// The socket itself a link to another supervisor's socket: connect(2) would follow it, so
    /// RunDirectory.connect looks first and refuses anything but a socket.
    @Test func aSocketThatIsASymlinkIsNotFollowed() throws {
        let vm = try makeVM()
        let elsewhere = RunDirectory(path: home.scratch.path + "/elsewhere")
        let supervisor = try FakeSupervisor(elsewhere) { reader, _ in reader.send(Self.report(Self.status())) }
        try FileManager.default.createDirectory(atPath: vm.run.path, withIntermediateDirectories: false)
        #expect(symlink(elsewhere.socketPath, vm.run.socketPath) == 0)
        #expect(thrownMessage {
            _ = try SupervisorConnection.connect(vm, wait: 5)
        }.contains("pen.sock is not a socket"))
        #expect(supervisor.received(within: 0.5).isEmpty, "the client reached the supervisor behind the link")
    }

    @Test func aVMWithNeitherSocketNorLockIsNotRunning() throws {
        let vm = try makeVM()
        #expect(try SupervisorConnection.connect(vm, wait: 5) == nil)
        // A socket a killed supervisor left behind: nobody listens on it.
        close(try vm.run.listen())
        #expect(try SupervisorConnection.connect(vm, wait: 5) == nil)
    }

    @Test func aLockedVMWhoseSupervisorNeverListensIsAnErrorAfterTheWait() throws {
        let vm = try makeVM()
        let lock = try VMLock(path: vm.lockPath, vmName: vm.name)
        defer { _ = lock }
        #expect(thrownMessage {
            _ = try SupervisorConnection.connect(vm, wait: 0.2)
        }.contains("VM 'box' is locked but no supervisor answers"))
    }

    @Test func aStoppingSupervisorIsWaitedForUnlessAccepted() throws {
        let vm = try makeVM()
        let stopping = try FakeSupervisor(vm.run) { reader, _ in reader.send(Self.report(Self.status(stopping: true))) }
        // Its lock is free: the VM is down by the time the client looks.
        #expect(try SupervisorConnection.connect(vm, wait: 5) == nil)
        _ = stopping
        let accepted = try FakeSupervisor(vm.run) { reader, _ in reader.send(Self.report(Self.status(stopping: true))) }
        let connection = try #require(try SupervisorConnection.connect(vm, wait: 5, acceptStopping: true))
        defer { connection.close() }
        #expect(connection.status.stopping)
        _ = accepted
    }
}
