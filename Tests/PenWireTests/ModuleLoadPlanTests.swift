import Testing
@testable import PenWire

@Suite struct ModuleLoadPlanTests {
    let order = """
        virtio_ring
        virtio virtio_ring
        virtio_blk virtio virtio_ring
        crc16
        jbd2
        ext4 crc16 jbd2 builtin_helper

        """

    @Test func eachModuleWaitsForWhatItNeedsAndIndependentOnesRunSideBySide() {
        var plan = ModuleLoadPlan(orderFile: order)
        #expect(plan.names == ["virtio_ring", "virtio", "virtio_blk", "crc16", "jbd2", "ext4"])
        #expect(plan.needs[5] == [3, 4])  // a module not listed (built in) is no constraint
        #expect(plan.take() == 0)  // virtio_ring
        #expect(plan.take() == 3)  // crc16, beside it: virtio waits for virtio_ring
        #expect(plan.take() == 4)  // jbd2
        #expect(plan.take() == nil)  // the rest wait for loads in flight
        plan.finish(3, loaded: true)
        #expect(plan.take() == nil)  // ext4 still needs jbd2
        plan.finish(4, loaded: true)
        #expect(plan.take() == 5)
        plan.finish(0, loaded: true)
        #expect(plan.take() == 1)
        #expect(plan.take() == nil)
        plan.finish(1, loaded: true)
        #expect(plan.take() == 2)
        #expect(!plan.isSettled)
        plan.finish(2, loaded: true)
        plan.finish(5, loaded: true)
        #expect(plan.take() == nil && plan.isSettled)
    }

    @Test func aFailureSettlesOnceTheLoadsInFlightEnd() {
        var plan = ModuleLoadPlan(orderFile: "a\nb a\nc\n")
        #expect(plan.take() == 0 && plan.take() == 2)
        plan.finish(0, loaded: false)
        #expect(plan.take() == nil)  // b needs a: never
        #expect(!plan.isSettled)  // c is still loading
        plan.finish(2, loaded: true)
        #expect(plan.isSettled)
    }

    @Test func anEmptyOrRepeatedListIsHarmless() {
        #expect(ModuleLoadPlan(orderFile: "").isSettled)
        #expect(ModuleLoadPlan(orderFile: "a\na\n").names == ["a"])
    }
}
