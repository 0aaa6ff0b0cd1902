// Typed constructors of the session-scoped frames: each mirrors the typed reader its receiver
// applies to the body (`count()`, `status()`, `windowSize()`, `SessionRequest(decoding:)`).

/// The guest's first-boot setup runs as this session: its output is the setup's progress. The
/// host numbers the sessions it opens from 1.
public let setupSessionID: UInt32 = 0

/// A client's connection to its supervisor carries one session, always under this id; the
/// supervisor maps it to the session's id in the guest.
public let connectionSessionID: UInt32 = 0

extension Frame {
    // Host → guest (and client → supervisor).

    public static func open(_ id: UInt32, _ request: SessionRequest) -> Frame {
        session(.open, id, request.encoded())
    }

    public static func windowSize(_ id: UInt32, _ size: WindowSize) -> Frame {
        session(.windowSize, id, Frame.windowSize(size).payload)
    }

    public static func stdinClosed(_ id: UInt32) -> Frame { session(.stdinClosed, id) }

    /// A signal number for the session's process group.
    public static func signal(_ id: UInt32, _ number: Int32) -> Frame {
        session(.signal, id, status(.signal, number).payload)
    }

    public static func hangup(_ id: UInt32) -> Frame { session(.hangup, id) }

    /// This many bytes of the session's output were passed on.
    public static func outputAck(_ id: UInt32, _ bytes: UInt64) -> Frame {
        session(.outputAck, id, count(.outputAck, bytes).payload)
    }

    // Guest → host (and supervisor → client).

    /// This many bytes of the session's input were written to it.
    public static func stdinAck(_ id: UInt32, _ bytes: UInt64) -> Frame {
        session(.stdinAck, id, count(.stdinAck, bytes).payload)
    }

    /// The session's exit status (128 + N for a signal).
    public static func exitStatus(_ id: UInt32, _ status: Int32) -> Frame {
        session(.exitStatus, id, Frame.status(.exitStatus, status).payload)
    }

    /// The size of the root's tar on the archive port.
    public static func archiveEnd(_ id: UInt32, _ bytes: UInt64) -> Frame {
        session(.archiveEnd, id, count(.archiveEnd, bytes).payload)
    }

    /// Why the session could not start.
    public static func openFailed(_ id: UInt32, _ why: String) -> Frame {
        session(.openFailed, id, text: why)
    }
}
