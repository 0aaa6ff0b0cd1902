// What one boot's session ended with.
import PenWire

public struct SessionOutcome: Sendable {
    public var exitStatus: Int32
    public var setupStatus: Int32?
    /// Init's stage timings and pen's own (name, microseconds).
    public var stages: [StageTiming]
    /// Build mode: the bytes of the root archive received.
    public var archiveBytes: UInt64

    public init(exitStatus: Int32, setupStatus: Int32? = nil, stages: [StageTiming] = [], archiveBytes: UInt64 = 0) {
        self.exitStatus = exitStatus
        self.setupStatus = setupStatus
        self.stages = stages
        self.archiveBytes = archiveBytes
    }
}
