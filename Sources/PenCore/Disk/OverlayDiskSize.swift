// Checks a requested disk size before anything is created, so a bad size changes nothing.

extension OverlayDisk {
    public static func validate(size: UInt64, flag: String = "--disk-size") throws(PenError) {
        guard size >= minimumSize else {
            throw PenError("invalid \(flag) \(ByteSize.format(size)): the overlay disk needs at least \(ByteSize.format(minimumSize))")
        }
        guard size <= maximumSize else {
            throw PenError("invalid \(flag) \(ByteSize.format(size)): the overlay disk can be at most \(ByteSize.format(maximumSize))")
        }
    }
}
