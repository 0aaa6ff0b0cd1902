import Testing
@testable import PenWire

@Suite struct PayloadsTests {
    @Test func typedPayloadsRoundTrip() throws {
        #expect(try Frame.windowSize(WindowSize(rows: 40, cols: 100)).windowSize() == WindowSize(rows: 40, cols: 100))
        #expect(try Frame.stage(StageTiming("modules", 409_123)).stageTiming() == StageTiming("modules", 409_123))
        #expect(try Frame.status(.exitStatus, -1).status() == -1)
        #expect(try Frame.status(.setupFinished, 137).status() == 137)
        #expect(try Frame.count(.archiveEnd, UInt64.max).count() == UInt64.max)
    }

    @Test func malformedPayloadsAreBadValuesNamingTheirKind() throws {
        for text in ["", "40", "40 100 1", "40x100", "-1 80", "70000 80", " 40 80"] {
            #expect(throws: WireError.badValue(.windowSize, text)) { try Frame(.windowSize, text: text).windowSize() }
        }
        let long = String(repeating: "m", count: StageTiming.maxNameBytes + 1)
        #expect(try Frame(.stage, text: String(long.dropLast()) + " 1").stageTiming().name.utf8.count == StageTiming.maxNameBytes)
        for text in ["", "modules", "modules x", " 12", "a b c", "modules -1", long + " 1", "mod\u{1b}[2J 1", "mod\u{7f} 1", "modülé 1"] {
            #expect(throws: WireError.badValue(.stage, text)) { try Frame(.stage, text: text).stageTiming() }
        }
        for text in ["", "x", "3.5", "99999999999"] {
            #expect(throws: WireError.badValue(.exitStatus, text)) { try Frame(.exitStatus, text: text).status() }
        }
        #expect(throws: WireError.badValue(.archiveEnd, "-5")) { try Frame(.archiveEnd, text: "-5").count() }
    }

    @Test func everyWireErrorIsOneLineNamingTheChannel() {
        let errors: [WireError] = [.unknownKind(9), .oversized(1 << 30), .versionMismatch("9"),
                                   .badValue(.rootMode, String(repeating: "x\n", count: 100)), .unexpected(.ready)]
        for e in errors {
            #expect(e.description.hasPrefix("control channel: "))
            #expect(!e.description.contains("\n"))
        }
    }

    @Test func sessionFramesCarryTheirIdAndTypedBodies() throws {
        let frame = Frame.session(.exitStatus, 0xDEADBEEF, text: "137")
        let (id, body) = try frame.sessionBody()
        #expect(id == 0xDEADBEEF && body.kind == .exitStatus)
        #expect(try body.status() == 137)
        #expect(throws: WireError.badValue(.stdinAck, "no session id")) { try Frame(.stdinAck, [1, 2]).sessionID() }
    }

    @Test func sessionRequestsSurviveTheWireWhateverTheirBytes() throws {
        let requests = [SessionRequest(kind: .command, arguments: ["sh", "-c", "echo 'a b'\n\u{0}x"], environment: ["K=V=W", "E="],
                                       directory: "/srv/a b", terminal: WindowSize(rows: 50, cols: 132)),
                        SessionRequest(kind: .shell), SessionRequest(kind: .archive)]
        for request in requests {
            #expect(try SessionRequest(decoding: request.encoded()[...]) == request)
        }
    }

    @Test func malformedSessionRequestsAreRefused() {
        let good = SessionRequest(kind: .command, arguments: ["ls"]).encoded()
        for bad in [Array(good.dropLast()), [UInt8(ascii: "z"), 0, 0, 0, 0], [UInt8(ascii: "k"), 0, 0, 0, 4] + Array("nope".utf8),
                    [UInt8(ascii: "a"), 0, 0, 0, 1, 0x6c], SessionRequest(kind: .command).encoded(),
                    [UInt8(ascii: "k"), 0xff, 0xff, 0xff, 0xff]] {
            #expect(throws: WireError.self) { try SessionRequest(decoding: bad[...]) }
        }
    }
}

@Suite struct SessionFrameTests {
    /// Each typed constructor: its kind, its id, and a body its receiver's typed reader accepts.
    @Test func typedSessionFramesReadBackThroughTheTypedReaders() throws {
        let request = SessionRequest(kind: .command, arguments: ["true"], terminal: WindowSize(rows: 3, cols: 4))
        let open = try Frame.open(9, request).sessionBody()
        #expect(open.id == 9 && open.body.kind == .open)
        #expect(try SessionRequest(decoding: open.body.payload[...]) == request)
        #expect(try Frame.windowSize(9, WindowSize(rows: 40, cols: 100)).sessionBody().body.windowSize() == WindowSize(rows: 40, cols: 100))
        #expect(try Frame.signal(9, 15).sessionBody().body.status() == 15)
        #expect(try Frame.exitStatus(9, 137).sessionBody().body.status() == 137)
        #expect(try Frame.exitStatus(9, -1).sessionBody().body.status() == -1)
        #expect(try Frame.outputAck(9, 65536).sessionBody().body.count() == 65536)
        #expect(try Frame.stdinAck(9, 1).sessionBody().body.count() == 1)
        #expect(try Frame.archiveEnd(9, UInt64.max).sessionBody().body.count() == UInt64.max)
        #expect(try Frame.openFailed(9, "no such directory").sessionBody().body.text == "no such directory")
        let kinds: [(Frame, FrameKind)] = [(.stdinClosed(9), .stdinClosed), (.hangup(9), .hangup), (.signal(9, 1), .signal),
                                           (.outputAck(9, 1), .outputAck), (.stdinAck(9, 1), .stdinAck),
                                           (.exitStatus(9, 0), .exitStatus), (.archiveEnd(9, 0), .archiveEnd),
                                           (.openFailed(9, ""), .openFailed), (.windowSize(9, .standard), .windowSize)]
        for (frame, kind) in kinds {
            #expect(frame.kind == kind)
            #expect(try frame.sessionBody().id == 9)
        }
        #expect(try Frame.hangup(9).sessionBody().body.payload.isEmpty)
    }

    @Test func bootStagesAreShortWordsInBootOrder() throws {
        #expect(BootStage.allCases.first == .qemuToGuest && BootStage.allCases.last == .setup)
        for stage in BootStage.allCases {
            #expect(try Frame.stage(StageTiming(stage, 1)).stageTiming() == StageTiming(stage.rawValue, 1))
        }
    }
}
