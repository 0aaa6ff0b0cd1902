// Where one session's client stands, and the one place that changes: the user's input (open,
// ended, left by Ctrl-] q), the window it may still send within, the stop signals the user sent,
// and how the session ended (its exit status, or a failure). SessionClient tells it what
// happened; `advance` takes the transition or refuses it (nil) and says which frames to send.
// No I/O here: SessionClientStateTests covers every transition.
import Foundation
import PenWire

struct SessionClientState: Sendable {
    enum Input: Equatable, Sendable {
        /// The user's input is read and forwarded.
        case open
        /// Its end was sent (stdin closed, or the command takes no input).
        case ended
        /// The user left the session (Ctrl-] q).
        case left
    }

    /// The user's stop signals: the first goes to the session's processes, later ones leave it.
    enum Interrupt: Equatable, Sendable {
        case none
        case signalled
        case hungUp
    }

    enum End: Equatable, Sendable {
        case running
        case exited(Int32)
        /// The session or its VM failed (an exit status that came before is not reported).
        case failed(PenError)
    }

    enum Event: Equatable, Sendable {
        /// `count` bytes of input went to the supervisor.
        case inputSent(Int)
        /// The guest wrote `count` bytes of input: that much may be sent again.
        case inputAcknowledged(UInt64)
        /// The user's input ended (or could not be read).
        case inputEnded
        /// Ctrl-] q.
        case escape
        case stopSignal
        case exitStatus(Int32)
        /// Replaces an earlier failure (the session could not start, the supervisor broke the protocol).
        case openFailed(PenError)
        case malformedFrame(PenError)
        /// Keeps an earlier failure (the first one is the cause).
        case fatal(PenError)
        case vmStopping
        case diskError(String)
    }

    enum Effect: Equatable, Sendable {
        case sendStdinClosed
        case sendHangup
        /// SIGHUP to a terminal's shell, SIGTERM to a command.
        case sendSignal
        /// The supervisor broke the protocol: nothing more is read from it.
        case closeLink
    }

    let vmName: String
    private(set) var input: Input
    private(set) var interrupt: Interrupt = .none
    private(set) var end: End = .running
    /// Input bytes the guest's window still takes.
    private(set) var credit = sessionWindow
    /// The supervisor said the VM is stopping.
    private(set) var vmStopping = false
    /// What the guest said of a failed disk write (the last report).
    private(set) var diskError: String?
    /// When the session's exit status (or a failure) arrived.
    private(set) var endedAt: Date?

    init(vmName: String, forwardInput: Bool) {
        self.vmName = vmName
        input = forwardInput ? .open : .ended
    }

    /// What goes out before the relay starts.
    var initialEffects: [Effect] { input == .ended ? [.sendStdinClosed] : [] }

    var exitStatus: Int32? {
        if case .exited(let status) = end { return status }
        return nil
    }

    var failure: PenError? {
        if case .failed(let error) = end { return error }
        return nil
    }

    /// Whether the user's input is read now.
    var readsInput: Bool { input == .open && credit > 0 && exitStatus == nil }

    mutating func advance(_ event: Event, now: Date = Date()) -> [Effect]? {
        switch event {
        case .inputSent(let count):
            guard input == .open, count <= credit else { return nil }
            credit -= count
            return []
        case .inputAcknowledged(let count):
            guard count <= UInt64(sessionWindow - credit) else {
                // More than was sent is a broken peer: the session ends with an error.
                fail(PenError("VM '\(vmName)' acknowledged more input than it was sent (\(count) bytes)",
                              fix: "stop it with `pen vm stop \(vmName)`"), replacing: false, now: now)
                return [.closeLink]
            }
            credit += Int(count)
            return []
        case .inputEnded:
            guard input == .open else { return nil }
            input = .ended  // never polled again: no spinning on a closed stdin
            return [.sendStdinClosed]
        case .escape:
            guard input == .open else { return nil }
            input = .left
            return [.sendHangup]
        case .stopSignal:
            switch interrupt {
            case .none:
                interrupt = .signalled
                return [.sendSignal]
            case .signalled, .hungUp:
                interrupt = .hungUp
                return [.sendHangup]
            }
        case .exitStatus(let status):
            switch end {
            case .running, .exited:
                end = .exited(status)
                endedAt = endedAt ?? now
                return []
            case .failed:
                return nil  // the failure is what the session reports
            }
        case .openFailed(let error):
            fail(error, replacing: true, now: now)
            return []
        case .malformedFrame(let error):
            fail(error, replacing: true, now: now)
            return [.closeLink]
        case .fatal(let error):
            guard failure == nil else { return nil }
            fail(error, replacing: false, now: now)
            return []
        case .vmStopping:
            vmStopping = true
            return []
        case .diskError(let text):
            diskError = text
            return []
        }
    }

    private mutating func fail(_ error: PenError, replacing: Bool, now: Date) {
        if !replacing, failure != nil { return }
        end = .failed(error)
        endedAt = endedAt ?? now
    }
}
