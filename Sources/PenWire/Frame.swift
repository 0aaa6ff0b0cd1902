// The control channel's wire format, shared by pen (host) and PenGuestInit (guest).
// One ordered byte stream over a virtio-serial port carries every message, so the
// command's output can never overtake its exit status.
//
// A frame is: 1 byte kind, 4 bytes big-endian payload length, the payload.

/// Bumped whenever a frame's meaning changes; host and guest must agree.
public let wireVersion = 2

/// Larger payloads are split by the sender; a bigger length is a protocol error.
public let maxFramePayload = 1 << 20

public enum FrameKind: UInt8, Sendable {
    // host → guest: the session's configuration, then `start`.
    case hello = 1          // wire version, decimal
    case mode = 2           // "shell" | "command"
    case argument = 3       // one argv element of the command
    case environment = 4    // one "KEY=VALUE"
    case setupScript = 5    // the first-boot setup script
    case hostname = 6
    case windowSize = 7     // "ROWS COLS"
    case start = 8          // configuration complete
    case stdinData = 9
    case stdinClosed = 10
    case goodbye = 11       // the host has every frame; the guest may power off
    case terminate = 12     // pen was asked to stop: end the work cleanly (signal number)
    case workspace = 13     // a host directory is shared over virtio-9p with this mount tag

    // guest → host.
    case ready = 64         // init is up and has read the configuration
    case stage = 65         // "NAME MICROSECONDS": one init stage finished
    case stdoutData = 66
    case stderrData = 67
    case setupStarted = 68
    case setupFinished = 69 // exit status, decimal; non-zero means it failed
    case exitStatus = 70    // the command's or shell's exit status, decimal
    case fatal = 71         // "STAGE: message" from init before it powers off
    case notice = 72        // a one-line message for the user
    case archiveEnd = 73    // build mode: the root's tar is complete on pen.out; its size, decimal
    case diskError = 74     // writes since boot did not all reach the disk: the error's text
}

public struct Frame: Equatable, Sendable {
    public var kind: FrameKind
    public var payload: [UInt8]

    public init(_ kind: FrameKind, _ payload: [UInt8] = []) {
        self.kind = kind
        self.payload = payload
    }

    public init(_ kind: FrameKind, text: String) {
        self.init(kind, Array(text.utf8))
    }

    public var text: String { String(decoding: payload, as: UTF8.self) }

    public func encoded() -> [UInt8] {
        let n = UInt32(payload.count)
        var out: [UInt8] = [kind.rawValue, UInt8(n >> 24), UInt8((n >> 16) & 0xff),
                            UInt8((n >> 8) & 0xff), UInt8(n & 0xff)]
        out.append(contentsOf: payload)
        return out
    }
}

/// Everything that can be wrong with what arrives on the control channel.
public enum WireError: Error, Equatable, CustomStringConvertible {
    case unknownKind(UInt8)
    case oversized(Int)
    /// The peer speaks another wire version (its `hello`).
    case versionMismatch(String)
    /// A frame whose payload does not parse as its kind's value.
    case badValue(FrameKind, String)
    /// A frame that has no meaning at this point of the conversation.
    case unexpected(FrameKind)

    public var description: String {
        switch self {
        case .unknownKind(let k): return "control channel: unknown frame kind \(k)"
        case .oversized(let n): return "control channel: frame of \(n) bytes exceeds the limit"
        case .versionMismatch(let v): return "control channel: the peer speaks wire version \(v), this side \(wireVersion)"
        case .badValue(let k, let v):
            return "control channel: bad value for \(k): " + String(v.prefix(80).map { $0.isNewline ? " " : $0 })
        case .unexpected(let k): return "control channel: unexpected frame \(k)"
        }
    }
}

/// Accumulates bytes from the stream and yields whole frames.
public struct FrameDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var offset = 0

    public init() {}

    public mutating func feed<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame, or nil when more bytes are needed.
    public mutating func next() throws(WireError) -> Frame? {
        guard buffer.count - offset >= 5 else { compact(); return nil }
        let b = buffer
        let o = offset
        guard let kind = FrameKind(rawValue: b[o]) else { throw .unknownKind(b[o]) }
        let length = Int(b[o + 1]) << 24 | Int(b[o + 2]) << 16 | Int(b[o + 3]) << 8 | Int(b[o + 4])
        guard length <= maxFramePayload else { throw .oversized(length) }
        guard b.count - o - 5 >= length else { compact(); return nil }
        let frame = Frame(kind, Array(b[(o + 5)..<(o + 5 + length)]))
        offset = o + 5 + length
        return frame
    }

    private mutating func compact() {
        if offset > 0 {
            buffer.removeFirst(offset)
            offset = 0
        }
    }
}

/// Splits data into frames no larger than the limit.
public func dataFrames(_ kind: FrameKind, _ bytes: [UInt8]) -> [Frame] {
    if bytes.isEmpty { return [] }
    var frames: [Frame] = []
    var start = 0
    while start < bytes.count {
        let end = min(start + maxFramePayload, bytes.count)
        frames.append(Frame(kind, Array(bytes[start..<end])))
        start = end
    }
    return frames
}
