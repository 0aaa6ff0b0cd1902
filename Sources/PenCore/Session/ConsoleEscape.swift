// The console's way out of a hung guest: Ctrl-] then q stops the VM; Ctrl-] twice sends one Ctrl-].

public struct ConsoleEscape: Sendable {
    public static let key: UInt8 = 0x1d  // Ctrl-]
    private var armed = false

    public init() {}

    /// Bytes held back from the last filter (a Ctrl-] waiting for its next key): the next filter
    /// may return that many more than it was given.
    public var held: Int { armed ? 1 : 0 }

    /// The bytes to pass to the guest; calls onStop when the sequence is typed.
    public mutating func filter(_ bytes: [UInt8], onStop: () -> Void) -> [UInt8] {
        var out: [UInt8] = []
        for b in bytes {
            if armed {
                armed = false
                if b == UInt8(ascii: "q") || b == UInt8(ascii: "Q") {
                    onStop()
                    continue
                }
                out.append(Self.key)
                if b == Self.key { continue }
                out.append(b)
            } else if b == Self.key {
                armed = true
            } else {
                out.append(b)
            }
        }
        return out
    }
}
