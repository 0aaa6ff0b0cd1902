// The greeting each peer opens with: the host to the guest (first frame of the boot
// configuration), a client to its supervisor. Written and checked here only.

extension Frame {
    /// `hello`: this side's wire version, decimal.
    public static var hello: Frame { Frame(.hello, text: String(wireVersion)) }

    /// Throws unless this is a `hello` of this side's wire version.
    public func checkHello() throws(WireError) {
        guard kind == .hello else { throw .unexpected(kind) }
        guard text == String(wireVersion) else { throw .versionMismatch(text) }
    }
}
