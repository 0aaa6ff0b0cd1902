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

    @Test func malformedPayloadsAreBadValuesNamingTheirKind() {
        for text in ["", "40", "40 100 1", "40x100", "-1 80", "70000 80", " 40 80"] {
            #expect(throws: WireError.badValue(.windowSize, text)) { try Frame(.windowSize, text: text).windowSize() }
        }
        for text in ["", "modules", "modules x", " 12", "a b c", "modules -1"] {
            #expect(throws: WireError.badValue(.stage, text)) { try Frame(.stage, text: text).stageTiming() }
        }
        for text in ["", "x", "3.5", "99999999999"] {
            #expect(throws: WireError.badValue(.exitStatus, text)) { try Frame(.exitStatus, text: text).status() }
        }
        #expect(throws: WireError.badValue(.archiveEnd, "-5")) { try Frame(.archiveEnd, text: "-5").count() }
    }

    @Test func everyWireErrorIsOneLineNamingTheChannel() {
        let errors: [WireError] = [.unknownKind(9), .oversized(1 << 30), .versionMismatch("9"),
                                   .badValue(.mode, String(repeating: "x\n", count: 100)), .unexpected(.ready)]
        for e in errors {
            #expect(e.description.hasPrefix("control channel: "))
            #expect(!e.description.contains("\n"))
        }
    }
}
