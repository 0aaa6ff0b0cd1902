// A VM's CPUs and memory: the limits and defaults, checked the same way whether they come
// from a flag or from a profile's [vm] table.

public enum VMResources {
    public static let cpuRange = 1...64
    public static let memoryRangeMiB = 256...(1 << 20)  // 256 MiB to 1 TiB
    public static let defaultMemoryMiB = 2048
    public static let defaultDiskSize: UInt64 = 10 << 30

    /// "from 256M to 1T (256 to 1048576 MiB)", for messages.
    public static var memoryRangeText: String {
        let (low, high) = (memoryRangeMiB.lowerBound, memoryRangeMiB.upperBound)
        return "from \(ByteSize.format(UInt64(low) << 20)) to \(ByteSize.format(UInt64(high) << 20)) (\(low) to \(high) MiB)"
    }

    /// Why `bytes` cannot be a VM's memory (nil when it can).
    public static func memoryProblem(bytes: UInt64) -> String? {
        guard bytes % (1 << 20) == 0 else { return "not a whole number of MiB" }
        guard memoryRangeMiB.contains(Int(clamping: bytes >> 20)) else { return "memory must be \(memoryRangeText)" }
        return nil
    }

    /// `--memory 2G`: whole MiB within the range.
    public static func memoryMiB(_ text: String, flag: String = "--memory") throws(PenError) -> Int {
        let bytes = try ByteSize.parse(text, what: flag)
        if let problem = memoryProblem(bytes: bytes) {
            throw PenError("invalid \(flag) '\(text)'", cause: problem, fix: "write e.g. 2G or 4096M")
        }
        return Int(bytes >> 20)
    }

    public static func validate(cpus: Int, flag: String = "--cpus") throws(PenError) {
        guard cpuRange.contains(cpus) else {
            throw PenError("invalid \(flag) \(cpus)", fix: "use \(cpuRange.lowerBound) to \(cpuRange.upperBound)")
        }
    }
}
