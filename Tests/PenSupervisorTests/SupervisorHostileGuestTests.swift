import Foundation
import PenIO
import PenTestSupport
import PenWire
import Testing
@testable import PenCore
@testable import PenSupervisor

/// What a hostile guest (or a stray client) may try against the supervisor, one thing at a time.
@Suite struct SupervisorHostileGuestTests {
    @Test func theShutdownDeadlineHoldsHoweverOftenTheGuestSaysReady() throws {
        let h = try SupervisorHarness(configure: { $0.shutdownGrace = 1 })
        h.bootToReady()
        h.signal(SIGTERM)
        #expect(h.guest.await(.shutdown) != nil)
        // Three times the grace of readies: each used to send the shutdown again and restart its clock.
        for _ in 0..<30 {
            h.guest.send(Frame(.ready))
            usleep(100_000)
        }
        #expect(h.vm.killed)
        #expect(h.guest.await(.shutdown, within: 0.5) == nil)
        #expect(h.finished())
        #expect(h.messages.contains { $0.contains("did not power off") })
    }

    @Test func theSupervisorLogIsCappedAndTheGuestsFailureLoggedOnce() throws {
        let limit: UInt64 = 3000
        let h = try SupervisorHarness(logLimit: limit)
        _ = h.readBootConfig()
        let text = String(repeating: "f", count: 900)
        for _ in 0..<5 { h.guest.send(Frame(.fatal, text: text)) }
        for _ in 0..<20 { h.guest.send(Frame(.notice, text: text)) }  // no session listens: logged
        #expect(h.guest.await(.goodbye) != nil)
        #expect(h.guest.await(.goodbye, within: 0.5) == nil)  // one goodbye: one failure per boot
        #expect(h.stoppedByTwoSignals())
        #expect(h.messages.filter { $0.contains("guest init failed") }.count == 1)
        let logged = h.messages.dropLast().reduce(0) { $0 + $1.utf8.count + 1 }
        #expect(logged <= Int(limit))
        #expect(h.messages.last?.contains("nothing more is written") == true)
    }

    @Test func aHugeStageNameIsDroppedAndTheStatusStillFitsAFrame() throws {
        let h = try SupervisorHarness()
        _ = h.readBootConfig()
        let name = String(repeating: "s", count: maxFramePayload - 16)
        h.guest.send(Frame(.ready), .stage(StageTiming(name, 5)), .stage(StageTiming("modules", 7)))
        let client = try h.connect()
        // The huge frame takes the supervisor several reads: ask until the stage after it is in.
        var status: SupervisorStatus?
        let deadline = Date().addingTimeInterval(30)
        while status?.stages["modules"] == nil && Date() < deadline {
            client.send(Frame(.status))
            let report = try #require(client.await(.statusReport))
            status = try PenJSON.decode(SupervisorStatus.self, from: Data(report.payload))
            if status?.stages["modules"] == nil { usleep(100_000) }
        }
        #expect(status?.stages["modules"] == 7 && status?.stages[name] == nil)
        #expect(h.stoppedByTwoSignals())
    }

    @Test func guestTextReachesClientsWithoutEscapeSequences() throws {
        let h = try SupervisorHarness()
        h.bootToReady()
        let client = try h.connect()
        client.send(.open(connectionSessionID, SessionRequest(kind: .command, arguments: ["true"])))
        _ = try #require(h.guest.await(.open))
        h.guest.send(Frame(.notice, text: "\u{1b}]0;owned\u{07}\u{1b}[2Jpen: fake\u{9b}31m"), Frame(.fatal, text: "init: \u{1b}[1mboom"))
        let notice = try #require(client.await(.notice))
        #expect(!notice.payload.contains(0x1b) && !notice.payload.contains(0x07) && !notice.text.unicodeScalars.contains("\u{9b}"))
        #expect(notice.text.contains("pen: fake"))
        let fatal = try #require(client.await(.fatal))
        #expect(!fatal.payload.contains(0x1b) && fatal.text.hasPrefix("VM 't' failed to start: init: "))
        #expect(h.stoppedByTwoSignals())
    }

    @Test func aClientThatNeverSaysHelloIsClosedAndConnectionsAreBounded() throws {
        let h = try SupervisorHarness(configure: { $0.helloTimeout = 0.5 })
        h.bootToReady()
        let silent = FrameReader(try #require(try h.run.connect()))
        #expect(silent.closes(within: 5))
        close(silent.fd)
        var greeted: [FrameReader] = []
        for _ in 0..<SessionTable.maxClients { greeted.append(try h.connect()) }
        let status = greeted[0]
        status.send(Frame(.status))
        #expect(status.await(.statusReport) != nil)  // all of them are in
        let extra = FrameReader(try #require(try h.run.connect()))
        #expect(extra.await(.fatal)?.text.contains("connections already") == true)
        #expect(extra.closes(within: 2))
        for client in greeted + [extra] { close(client.fd) }
        #expect(h.stoppedByTwoSignals())
    }

    @Test func aSlowClientGetsItsLastOutputAndExitStatusAfterTheVMStopped() throws {
        let h = try SupervisorHarness(detached: false)
        h.bootToReady()
        let (client, id) = try h.openSession(SessionRequest(kind: .command, arguments: ["head"]))
        // A window of output (more than the socket holds), the exit, and the VM goes down at once.
        let chunk = [UInt8](repeating: 0x30, count: 65_536)
        for _ in 0..<(sessionWindow / chunk.count) { h.guest.send(.session(.stdoutData, id, chunk)) }
        h.guest.send(.session(.exitStatus, id, text: "0"))
        #expect(h.guest.await(.shutdown) != nil)
        h.guest.send(Frame(.halted))
        #expect(h.guest.await(.goodbye) != nil)
        h.vm.exit()
        Thread.sleep(forTimeInterval: 0.5)  // the client is slow: the VM is down before it reads
        var received = 0
        var exit: Int32?
        while exit == nil, let frame = client.next(within: 5) {
            if frame.kind == .stdoutData { received += try frame.sessionBody().body.payload.count }
            if frame.kind == .exitStatus { exit = try frame.sessionBody().body.status() }
        }
        #expect(received == sessionWindow && exit == 0)
        #expect(client.closes(within: 5))
        #expect(h.finished())
    }
}
