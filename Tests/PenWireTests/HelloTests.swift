import Testing
@testable import PenWire

@Suite struct HelloTests {
    @Test func thisSidesHelloPasses() throws {
        try Frame.hello.checkHello()
        try Frame(.hello, text: "\(wireVersion)").checkHello()
        #expect(Frame.hello.kind == .hello)
    }

    @Test func anotherVersionIsAMismatch() {
        #expect(throws: WireError.versionMismatch("\(wireVersion - 1)")) { try Frame(.hello, text: "\(wireVersion - 1)").checkHello() }
        #expect(throws: WireError.versionMismatch("\(wireVersion)0")) { try Frame(.hello, text: "\(wireVersion)0").checkHello() }
    }

    @Test func garbageIsRefused() {
        #expect(throws: WireError.versionMismatch("")) { try Frame(.hello).checkHello() }
        #expect(throws: WireError.versionMismatch(" \(wireVersion)")) { try Frame(.hello, text: " \(wireVersion)").checkHello() }
        let junk: [UInt8] = [0xff, 0x00, 0x34]
        #expect(throws: WireError.versionMismatch(String(decoding: junk, as: UTF8.self))) { try Frame(.hello, junk).checkHello() }
        #expect(throws: WireError.unexpected(.status)) { try Frame(.status, text: "\(wireVersion)").checkHello() }
    }

    @Test func theBootConfigurationOpensWithTheCheckedHello() throws {
        let frames = BootConfig(hostname: "box").frames()
        #expect(frames.first == Frame.hello)
        var assembler = BootConfigAssembler()
        #expect(throws: WireError.versionMismatch("x")) { try assembler.apply(Frame(.hello, text: "x")) }
    }
}
