// Typed payloads: every frame that carries a value (a window size, a stage timing, a status,
// a byte count) is written and read through these, never by hand on either side.

/// A terminal's size in character cells.
public struct WindowSize: Codable, Equatable, Sendable {
    public var rows: UInt16
    public var cols: UInt16

    public init(rows: UInt16, cols: UInt16) {
        self.rows = rows
        self.cols = cols
    }

    public static let standard = WindowSize(rows: 24, cols: 80)
}

/// One init stage and how long it took.
public struct StageTiming: Equatable, Sendable {
    /// A name is a short printable ASCII word: the host reports every stage in one status frame.
    public static let maxNameBytes = 64
    public var name: String
    public var micros: UInt64

    public init(_ name: String, _ micros: UInt64) {
        self.name = name
        self.micros = micros
    }
}

/// What makes a guest restored from a shared snapshot its own: the host's wall clock at the
/// moment it answers, and entropy to reseed the kernel's RNG with.
public struct Freshness: Equatable, Sendable {
    public static let entropyBytes = 64
    public var seconds: Int64
    public var nanoseconds: Int32
    public var entropy: [UInt8]

    public init(seconds: Int64, nanoseconds: Int32, entropy: [UInt8]) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
        self.entropy = entropy
    }
}

extension Frame {
    /// `fresh`: seconds (8 bytes) and nanoseconds (4 bytes), big-endian, then the entropy.
    public static func fresh(_ value: Freshness) -> Frame {
        var bytes: [UInt8] = []
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value.seconds >> Int64(shift))) }
        for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value.nanoseconds >> Int32(shift))) }
        return Frame(.fresh, bytes + value.entropy)
    }

    /// `resumed`: the same payload as `fresh` (the restored guest's clock and entropy come with it).
    public static func resumed(_ value: Freshness) -> Frame {
        Frame(.resumed, fresh(value).payload)
    }

    /// `carryOn`: the same payload as `fresh`.
    public static func carryOn(_ value: Freshness) -> Frame {
        Frame(.carryOn, fresh(value).payload)
    }

    public func freshness() throws(WireError) -> Freshness {
        guard payload.count == 12 + Freshness.entropyBytes else { throw .badValue(kind, "\(payload.count) bytes") }
        let seconds = payload[0..<8].reduce(Int64(0)) { $0 << 8 | Int64($1) }
        let nanoseconds = payload[8..<12].reduce(Int32(0)) { $0 << 8 | Int32($1) }
        guard seconds > 0, (0..<1_000_000_000).contains(nanoseconds) else { throw .badValue(kind, "\(seconds).\(nanoseconds)") }
        return Freshness(seconds: seconds, nanoseconds: nanoseconds, entropy: Array(payload[12...]))
    }

    /// `windowSize`: "ROWS COLS".
    public static func windowSize(_ size: WindowSize) -> Frame {
        Frame(.windowSize, text: "\(size.rows) \(size.cols)")
    }

    /// `stage`: "NAME MICROSECONDS"; the name has no spaces.
    public static func stage(_ timing: StageTiming) -> Frame {
        Frame(.stage, text: "\(timing.name) \(timing.micros)")
    }

    /// A process status (exit code, or 128 + signal) as decimal: `exitStatus`, `setupFinished`, `terminate`.
    public static func status(_ kind: FrameKind, _ value: Int32) -> Frame {
        Frame(kind, text: String(value))
    }

    /// A byte count as decimal: `archiveEnd`.
    public static func count(_ kind: FrameKind, _ value: UInt64) -> Frame {
        Frame(kind, text: String(value))
    }

    public func windowSize() throws(WireError) -> WindowSize {
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, let rows = UInt16(parts[0]), let cols = UInt16(parts[1]) else {
            throw .badValue(kind, text)
        }
        return WindowSize(rows: rows, cols: cols)
    }

    public func stageTiming() throws(WireError) -> StageTiming {
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].utf8.count <= StageTiming.maxNameBytes,
              parts[0].utf8.allSatisfy({ (0x21...0x7e).contains($0) }), let micros = UInt64(parts[1]) else {
            throw .badValue(kind, text)
        }
        return StageTiming(String(parts[0]), micros)
    }

    public func status() throws(WireError) -> Int32 {
        guard let value = Int32(text) else { throw .badValue(kind, text) }
        return value
    }

    public func count() throws(WireError) -> UInt64 {
        guard let value = UInt64(text) else { throw .badValue(kind, text) }
        return value
    }
}

// MARK: sessions

extension Frame {
    /// A session's frame: the session id (4 bytes, big-endian), then the body.
    public static func session<C: Collection>(_ kind: FrameKind, _ id: UInt32, _ body: C) -> Frame where C.Element == UInt8 {
        var payload: [UInt8] = [UInt8(id >> 24), UInt8((id >> 16) & 0xff), UInt8((id >> 8) & 0xff), UInt8(id & 0xff)]
        payload.append(contentsOf: body)
        return Frame(kind, payload)
    }

    public static func session(_ kind: FrameKind, _ id: UInt32, text: String = "") -> Frame {
        session(kind, id, Array(text.utf8))
    }

    /// The session id of a session's frame.
    public func sessionID() throws(WireError) -> UInt32 {
        guard payload.count >= 4 else { throw .badValue(kind, "no session id") }
        return UInt32(payload[0]) << 24 | UInt32(payload[1]) << 16 | UInt32(payload[2]) << 8 | UInt32(payload[3])
    }

    /// A session's frame without its id: its body as a frame of the same kind, so the typed
    /// readers (`status()`, `count()`, `windowSize()`) apply to it.
    public func sessionBody() throws(WireError) -> (id: UInt32, body: Frame) {
        let id = try sessionID()
        return (id, Frame(kind, Array(payload[4...])))
    }
}

/// What a client asks the guest to run in one session.
public struct SessionRequest: Equatable, Sendable {
    public enum Kind: String, Sendable {
        /// `arguments` as a command.
        case command
        /// The user's login shell (interactive on a terminal, or reading a script from stdin).
        case shell
        /// A builder VM's root as a tar on the archive port (no arguments).
        case archive
    }

    public var kind: Kind
    public var arguments: [String]
    /// "KEY=VALUE" pairs over the guest's defaults; they reach this session only.
    public var environment: [String]
    /// The working directory; nil: the workspace when one is shared, else /root.
    public var directory: String?
    /// A terminal of this size (a pty); nil: pipes for stdin, stdout and stderr.
    public var terminal: WindowSize?

    public init(kind: Kind, arguments: [String] = [], environment: [String] = [], directory: String? = nil,
                terminal: WindowSize? = nil) {
        self.kind = kind
        self.arguments = arguments
        self.environment = environment
        self.directory = directory
        self.terminal = terminal
    }

    /// Tagged, length-prefixed fields: unambiguous for any bytes in arguments or values.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        func field(_ tag: Character, _ text: String) {
            let bytes = Array(text.utf8)
            let n = UInt32(bytes.count)
            out += [UInt8(ascii: tag.unicodeScalars.first!), UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)]
            out += bytes
        }
        field("k", kind.rawValue)
        arguments.forEach { field("a", $0) }
        environment.forEach { field("e", $0) }
        if let directory { field("d", directory) }
        if let terminal { field("t", "\(terminal.rows) \(terminal.cols)") }
        return out
    }

    public init(decoding bytes: ArraySlice<UInt8>) throws(WireError) {
        var kind: Kind?
        var request = SessionRequest(kind: .command)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            guard bytes.endIndex - i >= 5 else { throw .badValue(.open, "truncated field") }
            let tag = bytes[i]
            let n = Int(bytes[i + 1]) << 24 | Int(bytes[i + 2]) << 16 | Int(bytes[i + 3]) << 8 | Int(bytes[i + 4])
            guard n <= bytes.endIndex - i - 5 else { throw .badValue(.open, "truncated field") }
            let text = String(decoding: bytes[(i + 5)..<(i + 5 + n)], as: UTF8.self)
            switch tag {
            case UInt8(ascii: "k"):
                guard let k = Kind(rawValue: text) else { throw .badValue(.open, "kind \(text)") }
                kind = k
            case UInt8(ascii: "a"): request.arguments.append(text)
            case UInt8(ascii: "e"): request.environment.append(text)
            case UInt8(ascii: "d"): request.directory = text
            case UInt8(ascii: "t"): request.terminal = try Frame(.windowSize, text: text).windowSize()
            default: throw .badValue(.open, "field \(tag)")
            }
            i += 5 + n
        }
        guard let kind else { throw .badValue(.open, "no kind") }
        request.kind = kind
        if kind == .command && request.arguments.isEmpty { throw .badValue(.open, "a command without arguments") }
        self = request
    }
}
