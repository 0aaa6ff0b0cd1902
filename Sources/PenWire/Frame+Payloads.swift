// Typed payloads: every frame that carries a value (a window size, a stage timing, a status,
// a byte count) is written and read through these, never by hand on either side.

/// A terminal's size in character cells.
public struct WindowSize: Equatable, Sendable {
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
    public var name: String
    public var micros: UInt64

    public init(_ name: String, _ micros: UInt64) {
        self.name = name
        self.micros = micros
    }
}

extension Frame {
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
        guard parts.count == 2, !parts[0].isEmpty, let micros = UInt64(parts[1]) else { throw .badValue(kind, text) }
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
