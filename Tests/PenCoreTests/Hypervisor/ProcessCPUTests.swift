import Foundation
import Glibc
import Testing
@testable import PenCore

@Suite struct ProcessCPUTests {
    @Test func userAndSystemTicksAreCountedAfterTheCommandName() {
        // A command name with spaces and a ')' must not shift the fields.
        let line = "4242 (qemu) x (y)) R 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 100 0 0"
        #expect(ProcessCPU.seconds(statLine: line, ticksPerSecond: 100) == 3.0)
        #expect(ProcessCPU.seconds(statLine: "garbage", ticksPerSecond: 100) == nil)
    }

    @Test func aBusyProcessShowsCPUUsed() {
        let before = ProcessCPU.seconds(pid: getpid()) ?? -1
        var x: UInt64 = 0
        let started = Date()
        while Date().timeIntervalSince(started) < 0.3 { x &+= 1 }
        #expect(x > 0)
        #expect((ProcessCPU.seconds(pid: getpid()) ?? -1) > before)
    }
}
