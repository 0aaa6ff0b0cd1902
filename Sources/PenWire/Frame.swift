// The control channel's wire format, shared by pen (host) and PenGuestInit (guest).
// One ordered byte stream over a virtio-serial port carries every message, so the
// command's output can never overtake its exit status.
//
// A frame is: 1 byte kind, 4 bytes big-endian payload length, the payload.

/// Bumped whenever a frame's meaning changes; host and guest must agree (see `Frame.hello`).
/// 3: many sessions per VM, each with its own id, flow control and exit status.
/// 4: a VM may be restored from a snapshot: `snapshotPoint`, `wantFresh` and `fresh`.
/// 5: the network policy: `networkPolicy` in the configuration, and the `pen.net` port's streams.
/// 6: suspend and resume: `suspend`, `suspendReady`, `suspendRefused`, `resumed`, `carryOn`; `suspendVM`/`suspended`.
public let wireVersion = 6

/// Larger payloads are split by the sender; a bigger length is a protocol error.
public let maxFramePayload = 1 << 20

/// How many bytes of one session's output (or input) may be in flight unacknowledged. The
/// sender stops reading the source when it is reached, so a reader that falls behind slows its
/// own session down, never the channel the other sessions share.
public let sessionWindow = 256 * 1024

public enum FrameKind: UInt8, Sendable {
    // The boot's configuration, host → guest, before `start` (see BootConfig).
    case hello = 1          // wire version, decimal (also client → supervisor)
    case rootMode = 2       // "overlay" | "image"
    case setupScript = 5    // the first-boot setup script
    case hostname = 6
    case start = 8          // configuration complete
    case workspace = 13     // a host directory is shared over virtio-9p with this mount tag
    case fresh = 14         // host → guest, asked for by `wantFresh`: the host's wall clock and 64 random bytes
    case networkPolicy = 15 // the guest's network goes through pen (`pen.net`): dummy0, the redirect, the listeners

    // Sessions, host → guest; the payload starts with the session id (4 bytes, big-endian).
    case windowSize = 7     // sid + "ROWS COLS"
    case stdinData = 9      // sid + bytes
    case stdinClosed = 10   // sid
    case open = 20          // sid + a SessionRequest
    case signal = 21        // sid + signal number: deliver it to the session's process group
    case hangup = 22        // sid: its client is gone; SIGHUP to the session
    case outputAck = 23     // sid + count: this much of the session's output was passed on

    // The VM, host → guest.
    case goodbye = 11       // the host has every frame; the guest may power off
    case shutdown = 12      // end every session (each reports its status), then halt (signal number)
    case suspend = 24       // "force" or "": release /workspace (its users named, or with force ended), sync and
                            // freeze the disk; answered by suspendReady or suspendRefused
    case resumed = 25       // the machine runs again (restored from its suspend, or the save failed), with the
                            // host's clock and entropy (as `fresh`): thaw the disk, set them, mount /workspace
                            // again, start the network relay afresh; answered by ready
    case carryOn = 26       // the save failed (or was abandoned): the same supervisor carries on, with the
                            // host's clock and entropy (as `fresh`): thaw, mount /workspace again, the relay
                            // afresh; the sessions and what was queued are kept; answered by ready

    // Guest → host.
    case ready = 64         // init is up and has read the configuration
    case stage = 65         // "NAME MICROSECONDS": one init stage finished
    case stdoutData = 66    // sid + bytes (session 0 is the first-boot setup)
    case stderrData = 67    // sid + bytes
    case setupStarted = 68
    case setupFinished = 69 // exit status, decimal; non-zero means it failed
    case exitStatus = 70    // sid + exit status, decimal (128 + N for a signal)
    case fatal = 71         // "STAGE: message" from init before it powers off
    case notice = 72        // a one-line message for the user
    case archiveEnd = 73    // sid + the size of the root's tar on the archive port, decimal
    case diskError = 74     // writes since boot did not all reach the disk: the error's text
    case stdinAck = 75      // sid + count: this much of the session's input was written to it
    case halted = 76        // every session has ended; the guest powers off after `goodbye`
    case openFailed = 77    // sid + why the session could not start
    case snapshotPoint = 78 // nothing of this VM touched yet: the host may save the machine now
    case wantFresh = 79     // after the configuration: the clock and entropy, please (see `fresh`)
    case suspendReady = 80  // the disk is frozen and /workspace released: the host may save the machine
    case suspendRefused = 81 // why not (one printable line); nothing was frozen

    // The `pen.net` port only (see NetFrame.swift): the guest's connections and DNS queries.
    case netConnect = 90    // guest → host: sid + a NetDestination (a guest program's connection)
    case netConnected = 91  // host → guest: sid: the host connected; data may flow
    case netRefused = 92    // host → guest: sid + why (printable): the guest resets its connection
    case netData = 93       // both: sid + bytes
    case netAck = 94        // both: sid + count: this much of the stream's data was passed on
    case netClose = 95      // both: sid: this side sends nothing more (a half close)
    case netReset = 96      // both: sid: the stream is gone (either side may forget it)
    case dnsQuery = 97      // guest → host: qid + a DNS message as a program sent it over UDP
    case dnsAnswer = 98     // host → guest: qid + the DNS message to send back
    case netInbound = 99    // host → guest: sid + port, decimal: connect to the guest's 127.0.0.1:port (a published port)

    // Client ↔ supervisor only (the socket of a running VM).
    case status = 30        // client → supervisor: describe the VM
    case statusReport = 31  // supervisor → client: a JSON object (see PenCore's SupervisorStatus)
    case stopping = 32      // supervisor → client: the VM is shutting down; the socket closes once it is down
    case policyChange = 33  // client → supervisor: a JSON PolicyChange (`pen vm net NAME allow|deny RULE`); answered by a statusReport or fatal
    case suspendVM = 34     // client → supervisor: "force" or "": save the whole machine and stop QEMU; answered by suspended or fatal
    case suspended = 35     // supervisor → client: the machine is saved ("BYTES SECONDS"); the socket closes once QEMU is gone
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

/// Splits a session's data into frames no larger than the limit.
public func dataFrames(_ kind: FrameKind, session: UInt32, _ bytes: ArraySlice<UInt8>) -> [Frame] {
    var frames: [Frame] = []
    var start = bytes.startIndex
    while start < bytes.endIndex {
        let end = min(start + maxFramePayload - 4, bytes.endIndex)
        frames.append(.session(kind, session, bytes[start..<end]))
        start = end
    }
    return frames
}
