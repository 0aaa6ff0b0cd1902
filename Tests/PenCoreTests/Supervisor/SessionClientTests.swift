import Foundation
import PenIO
import PenTestSupport
import PenWire
import Testing
@testable import PenCore

/// The client end of a session against a supervisor the test plays (over a socketpair).
@Suite(.serialized) struct SessionClientTests {
    /// Runs a SessionClient on a background thread; the test holds the supervisor's end.
    final class Run: @unchecked Sendable {
        let supervisor: FrameReader
        let output: Int32
        nonisolated(unsafe) var result: Result<Int32, PenError>?
        nonisolated(unsafe) var messages: [String] = []
        private let done = DispatchSemaphore(value: 0)
        private let ends: [Int32]
        private var supervisorOpen = true

        init() {
            Glibc.signal(SIGPIPE, SIG_IGN)
            let (client, supervisorEnd) = socketPair()
            supervisor = FrameReader(supervisorEnd)
            var input: [Int32] = [0, 0], out: [Int32] = [0, 0]
            Glibc.pipe(&input)
            Glibc.pipe(&out)
            output = out[0]
            ends = [input[0], input[1], out[1]]
            let io = SessionIO(input: input[0], output: out[1], errors: out[1], forwardInput: true)
            nonisolated(unsafe) let session = SessionClient(connection: client, vmName: "t", io: io, message: { self.messages.append($0) })
            Thread {
                do { self.result = .success(try session.run(diskPath: nil)) } catch let e as PenError { self.result = .failure(e) } catch {}
                self.done.signal()
            }.start()
        }

        func finished(within seconds: Double = 5) -> Bool { done.wait(timeout: .now() + seconds) == .success }
        var error: PenError? { if case .failure(let e) = result { e } else { nil } }

        /// The supervisor's end hangs up (once: a second close could hit a descriptor another
        /// test, running at the same time in this process, has just been given that number).
        func hangUp() {
            guard supervisorOpen else { return }
            supervisorOpen = false
            close(supervisor.fd)
        }

        deinit {
            hangUp()
            ends.forEach { close($0) }
            close(output)
        }
    }

    @Test func anInputAcknowledgementBeyondWhatWasSentEndsTheSessionWithAnError() throws {
        let run = Run()
        run.supervisor.send(.session(.stdinAck, 0, text: String(UInt64.max - 1)))
        #expect(run.finished())
        #expect(run.error?.message.contains("acknowledged more input than it was sent") == true)
    }

    @Test func guestTextIsPrintedWithoutEscapesAndADiskErrorAsTheGuestsWord() throws {
        let run = Run()
        run.supervisor.send(Frame(.notice, text: "\u{1b}[2J\u{1b}]0;x\u{07}hello\u{9b}"),
                            Frame(.diskError, text: "\u{1b}[31mNo space left on the host"),
                            .session(.exitStatus, 0, text: "0"))
        run.hangUp()
        #expect(run.finished())
        let notice = try #require(run.messages.first { $0.contains("hello") })
        #expect(!notice.unicodeScalars.contains { $0.value == 0x1b || $0.value == 0x07 || $0.value == 0x9b })
        let error = try #require(run.error)
        #expect(error.message.contains("the VM reports: \\x1b[31mNo space left on the host"))
    }

    @Test func stoppingAVMThatNeverGoesWaitsOnlyUntilTheDeadlineOrAStopSignal() throws {
        for viaSignal in [false, true] {
            let (pen, supervisor) = socketPair()
            defer { close(supervisor) }
            let status = SupervisorStatus(pid: 1, startedAt: Date(), ready: true, stopping: false, detached: true, sessions: 0,
                                          facts: BootFacts(profile: "p", cpus: 1, memoryMiB: 256, workspace: nil, published: [],
                                                           accelerator: .tcg), stages: [:])
            writeAll(supervisor, Frame(.statusReport, Array(try PenJSON.encode(status))).encoded())
            let connection = try SupervisorConnection.adopt(pen, vmName: "t")
            var fds: [Int32] = [0, 0]
            Glibc.pipe(&fds)
            setNonBlocking(fds[0])
            defer { close(fds[0]); close(fds[1]) }
            let done = DispatchSemaphore(value: 0)
            nonisolated(unsafe) let c = connection
            let signals = fds[0]
            Thread {
                c.stopVM(seconds: viaSignal ? 600 : 1, signals: signals)
                done.signal()
            }.start()
            if viaSignal {
                usleep(200_000)
                var byte = UInt8(SIGINT)
                _ = write(fds[1], &byte, 1)  // Ctrl-C
            }
            #expect(done.wait(timeout: .now() + 5) == .success)
            connection.close()
        }
    }
}
