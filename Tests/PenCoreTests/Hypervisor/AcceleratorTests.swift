import Foundation
import PenTestSupport
import Testing
@testable import PenCore

@Suite struct AcceleratorTests {
    @Test func autoFallsBackToTCGWithOneNotice() throws {
        var notices: [String] = []
        let accel = try Accelerator.resolve(.auto, probe: { KVMProbe(usable: false, reason: "no vmx") }, notice: { notices.append($0) })
        #expect(accel == .tcg)
        #expect(notices.count == 1 && notices[0].contains("TCG") && notices[0].contains("no vmx"))
    }

    @Test func forcedKVMFailsClearlyWhenUnusable() {
        #expect(throws: PenError.self) {
            try Accelerator.resolve(.kvm, probe: { KVMProbe(usable: false, reason: "PVM") }, notice: { _ in })
        }
        #expect(try! Accelerator.resolve(.kvm, probe: { KVMProbe(usable: true, reason: "") }, notice: { _ in }) == .kvm)
    }

    @Test func probeReadsCPUFlagsAndPVM() throws {
        let scratch = try TemporaryDirectory()
        let dir = scratch.path
        let device = dir + "/kvm"
        FileManager.default.createFile(atPath: device, contents: Data())
        let noFlags = KVMProbe.run(devicePath: device, cpuinfo: "flags\t: fpu sse2\n", pvmModulePath: dir + "/none")
        #expect(!noFlags.usable && noFlags.reason.contains("vmx"))
        let good = KVMProbe.run(devicePath: device, cpuinfo: "flags\t: fpu vmx sse2\n", pvmModulePath: dir + "/none")
        #expect(good.usable)
        let pvm = KVMProbe.run(devicePath: device, cpuinfo: "flags\t: vmx\n", pvmModulePath: dir)
        #expect(!pvm.usable && pvm.reason.contains("PVM"))
        let missing = KVMProbe.run(devicePath: dir + "/absent", cpuinfo: "flags: vmx", pvmModulePath: dir + "/none")
        #expect(!missing.usable && missing.reason.contains("does not exist"))
    }

    @Test func tscFrequencyFromCPUInfo() {
        #expect(hostTSCKilohertz(cpuinfo: "processor: 0\ncpu MHz\t\t: 2596.138\n") == 2_596_138)
        #expect(hostTSCKilohertz(cpuinfo: "nothing") == nil)
    }
}
