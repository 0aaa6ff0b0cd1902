import Testing
@testable import PenWire

@Suite struct FrameTests {
    @Test func roundTripsEveryFrameThroughArbitraryChunking() throws {
        let frames = [Frame(.hello, text: "1"), Frame(.stdoutData, Array(0...255)), Frame(.start),
                      Frame(.exitStatus, text: "7"), Frame(.stderrData, [UInt8](repeating: 0x41, count: 70_000))]
        let stream = frames.flatMap { $0.encoded() }
        for chunk in [1, 3, 5, 4096, stream.count] {
            var decoder = FrameDecoder()
            var got: [Frame] = []
            var i = 0
            while i < stream.count {
                decoder.feed(stream[i..<min(i + chunk, stream.count)])
                while let f = try decoder.next() { got.append(f) }
                i += chunk
            }
            #expect(got == frames, "chunk size \(chunk)")
        }
    }

    @Test func rejectsUnknownKindsAndOversizedFrames() {
        var decoder = FrameDecoder()
        decoder.feed([200, 0, 0, 0, 0])
        #expect(throws: WireError.unknownKind(200)) { try decoder.next() }
        var big = FrameDecoder()
        big.feed([FrameKind.stdoutData.rawValue, 0x7f, 0, 0, 0])
        #expect(throws: WireError.oversized(0x7f00_0000)) { try big.next() }
    }

    @Test func splitsLargeDataIntoBoundedFrames() throws {
        let data = [UInt8](repeating: 1, count: maxFramePayload * 2 + 10)
        let frames = dataFrames(.stdinData, session: 7, data[...])
        #expect(frames.count == 3)
        #expect(frames.allSatisfy { $0.payload.count <= maxFramePayload })
        #expect(try frames.map { try $0.sessionID() } == [7, 7, 7])
        #expect(try frames.flatMap { try $0.sessionBody().body.payload } == data)
        #expect(dataFrames(.stdinData, session: 7, [][...]).isEmpty)
    }

    @Test func bootConfigSurvivesTheWire() throws {
        let config = BootConfig(rootMode: .image, hostname: "box", setupScript: "#!/bin/sh\necho hi\n", workspaceTag: "workspace")
        var assembler = BootConfigAssembler()
        var done = false
        for frame in config.frames() { done = try assembler.apply(frame) }
        #expect(done)
        #expect(assembler.config == config)
    }

    @Test func bootConfigRejectsAMismatchedWireVersionAndBadValues() {
        var a = BootConfigAssembler()
        #expect(throws: WireError.versionMismatch("999")) { try a.apply(Frame(.hello, text: "999")) }
        #expect(throws: WireError.badValue(.rootMode, "dance")) { try a.apply(Frame(.rootMode, text: "dance")) }
        #expect(throws: WireError.unexpected(.stdoutData)) { try a.apply(Frame(.stdoutData, text: "x")) }
    }

    @Test func freshnessSurvivesTheWireAndMalformedOnesAreRefused() throws {
        let entropy = (0..<Freshness.entropyBytes).map { UInt8($0 * 3 % 256) }
        let value = Freshness(seconds: 1_795_900_000, nanoseconds: 123_456_789, entropy: entropy)
        #expect(try Frame.fresh(value).freshness() == value)
        #expect(throws: WireError.self) { try Frame(.fresh, Array(Frame.fresh(value).payload.dropLast())).freshness() }
        #expect(throws: WireError.self) {
            try Frame.fresh(Freshness(seconds: 1, nanoseconds: 1_000_000_000, entropy: entropy)).freshness()
        }
    }
}
