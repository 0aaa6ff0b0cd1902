import Foundation
import PenIO
import PenTestSupport
import PenWire
import Testing
@testable import PenCore
@testable import PenSupervisor

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
        client.send(.open(connectionSessionID, SessionRequest(kind: .command, arguments: ["ls"])))
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
        for _ in 1..<SupervisorState.maxBootAttempts {
            let next = try #require(h.awaitRestart())
            next.vm.cpuSeconds = 100
        }
        #expect(h.finished())
        let error = try #require(h.bootResult ?? nil)
        #expect(error.message.contains("stalled in its kernel") && error.message.contains("boot log: \(h.bootLogPath)"))
        #expect(h.restarts.count == SupervisorState.maxBootAttempts - 1)
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
        client.send(.open(connectionSessionID, SessionRequest(kind: .command, arguments: ["cat"])),
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
        h.bootToReady()
        let stuck = try h.connect(), reader = try h.connect()
        stuck.send(.open(connectionSessionID, SessionRequest(kind: .command, arguments: ["yes"])))
        let stuckID = try #require(h.guest.await(.open)).sessionID()
        reader.send(.open(connectionSessionID, SessionRequest(kind: .command, arguments: ["cat"])))
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
        h.bootToReady()
        var client: FrameReader? = try h.connect()
        client!.send(.open(connectionSessionID, SessionRequest(kind: .shell, terminal: .standard)))
        let id = try #require(h.guest.await(.open)).sessionID()
        close(client!.fd)
        client = nil
        #expect(try h.guest.await(.hangup)?.sessionID() == id)
        #expect(h.stoppedByTwoSignals())
    }

    @Test func aSessionsEndWaitsForEveryAnnouncedArchiveByte() throws {
        let h = try SupervisorHarness(archive: true)
        h.bootToReady()
        let (client, id) = try h.openSession(SessionRequest(kind: .archive))
        let archive = [UInt8]((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        writeAll(h.guestArchive, Array(archive[..<1000]))
        h.guest.send(.session(.archiveEnd, id, text: String(archive.count)), .session(.exitStatus, id, text: "0"))
        // The exit status is in, but most of the archive is still on its way: not yet.
        #expect(client.await(.exitStatus, within: 0.5) == nil)
        writeAll(h.guestArchive, Array(archive[1000...]))
        #expect(try client.await(.archiveEnd)?.sessionBody().body.count() == UInt64(archive.count))
        #expect(client.await(.exitStatus) != nil)
        #expect(h.stoppedByTwoSignals())
        #expect(FileManager.default.contents(atPath: h.archiveFile).map { Array($0) } == archive)
    }

    @Test func anArchiveOverItsLimitEndsTheBuildWithAClearError() throws {
        let h = try SupervisorHarness(archive: true, archiveLimit: 100_000)
        h.bootToReady()
        let client = try h.connect()
        client.send(.open(connectionSessionID, SessionRequest(kind: .archive)))
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
        h.bootToReady()
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
        #expect(h.stoppedByTwoSignals())
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
        h.bootToReady()
        let fd = try #require(try h.run.connect())
        let client = FrameReader(fd)
        client.send(Frame(.hello, text: "1"))
        #expect(client.await(.fatal)?.text.contains("wire version") == true)
        #expect(h.stoppedByTwoSignals())
    }
}
