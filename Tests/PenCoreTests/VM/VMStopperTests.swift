import Foundation
import PenTestSupport
import Testing
@testable import PenCore

@Suite struct VMStopperTests: VMHomeSuite {
    let home = VMHome()

    @Test func stopOfAStoppedVMNeverSignalsThePidInItsLockFile() throws {
        let vm = try makeVM("idle")
        let sleeper = try python("")
        defer { sleeper.terminate() }
        try "\(sleeper.processIdentifier)\n".write(toFile: vm.lockPath, atomically: false, encoding: .utf8)
        #expect(try VMStopper.stop(vm, timeout: 1, say: { _ in }) == .notRunning)
        usleep(100_000)
        #expect(sleeper.isRunning)
    }

    @Test func stopSignalsTheConfirmedHolder() throws {
        let vm = try makeVM("run")
        let holder = try lockHolder(vm.lockPath)
        #expect(VMLock.holder(path: vm.lockPath) == holder.processIdentifier)
        var said: [String] = []
        #expect(try VMStopper.stop(vm, timeout: 10, say: { said.append($0) }) == .stopped)
        holder.waitUntilExit()
        #expect(holder.terminationReason == .uncaughtSignal && holder.terminationStatus == SIGTERM)
        #expect(!VMLock.isHeld(path: vm.lockPath))
        #expect(said.count == 1)
    }

    @Test func stopKillsAHolderThatIgnoresTerm() throws {
        let vm = try makeVM("stubborn")
        let holder = try lockHolder(vm.lockPath, ignoreTerm: true)
        #expect(try VMStopper.stop(vm, timeout: 0.5, say: { _ in }) == .forced)
        holder.waitUntilExit()
        #expect(holder.terminationStatus == SIGKILL)
    }

    @Test func processHandleSignalsAndSeesTheExit() throws {
        let sleeper = try python("")
        let handle = try ProcessHandle(pid: sleeper.processIdentifier)
        #expect(!handle.waitForExit(seconds: 0.1))
        try handle.send(SIGTERM)
        #expect(handle.waitForExit(seconds: 5))
        sleeper.waitUntilExit()
        try handle.send(SIGTERM)  // already gone: not an error, and nobody else is signalled
        #expect(throws: PenError.self) { try ProcessHandle(pid: 2_147_483_646) }
    }
}
