// The one check of an overlay disk's size, shared by `--disk-size`, a profile's `[disk] size`
// and the disk's creation, so all three accept and refuse the same sizes with the same words.

extension OverlayDisk {
    /// Why `bytes` cannot be an overlay disk's size (nil when it can).
    public static func sizeProblem(_ bytes: UInt64) -> String? {
        if bytes / Ext4Formatter.blockSize * Ext4Formatter.blockSize < minimumSize {
            return "the overlay disk needs at least \(describe(minimumSize))"
        }
        if bytes > maximumSize { return "the overlay disk can be at most \(describe(maximumSize))" }
        return nil
    }

    /// Refuses a `--disk-size` (or another flag's) value before anything is created.
    public static func validate(size: UInt64, flag: String = "--disk-size") throws(PenError) {
        if let problem = sizeProblem(size) {
            throw PenError("invalid \(flag) \(ByteSize.format(size))", cause: problem)
        }
    }
}
