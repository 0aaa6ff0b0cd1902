// The one error users see: what failed, the underlying cause, and the fix, rendered as one
// line ("what: cause; fix"). Domain errors (a profile's bad key, a malformed archive, a frame
// the guest should not have sent) keep their own types where code or tests inspect them, and
// convert into this one through `UserFacingError`; the CLI prints nothing else.
import Foundation

public struct PenError: Error, CustomStringConvertible, Codable, Equatable, Sendable {
    /// What failed, naming the thing: "cannot create /x/vm.json", "invalid --disk-size '10X'".
    public var what: String
    /// Why, when it is not already in `what`: errno's text, a tool's last line, a domain error.
    public var cause: String?
    /// What the user can do about it.
    public var fix: String?
    /// Lines shown under the message (a failed build's last log lines); empty for most errors.
    public var details: [String]
    /// The process exit code pen uses for this error.
    public var exitCode: Int32

    public init(_ what: String, cause: String? = nil, fix: String? = nil, details: [String] = [], exitCode: Int32 = 1) {
        self.what = what
        self.cause = cause
        self.fix = fix
        self.details = details
        self.exitCode = exitCode
    }

    /// Any error as the one users see: itself, a domain error's conversion, or (for errors from
    /// Foundation or the system) its description as the cause of `context`.
    public init(_ error: any Error, context: String? = nil) {
        switch error {
        case let error as PenError: self = error
        case let error as any UserFacingError: self = error.penError
        default:
            let text = String(describing: error)
            self = context.map { PenError($0, cause: text) } ?? PenError(text)
        }
    }

    /// The one line users read.
    public var message: String {
        var line = what
        if let cause, !cause.isEmpty { line += ": " + cause }
        if let fix, !fix.isEmpty { line += "; " + fix }
        return line.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    public var description: String { message }

    /// The message, then its details indented: everything pen prints for this error.
    public var report: [String] {
        [message] + details.map { "  " + $0 }
    }

    /// A failed system call: errno's text as the cause, and the fix for errors a user can act on.
    public static func system(_ what: String, _ err: Int32 = errno) -> PenError {
        PenError(what, cause: String(cString: strerror(err)), fix: fix(for: err))
    }

    /// The fix for the errno values a user can act on.
    public static func fix(for err: Int32) -> String? {
        switch err {
        case ENOSPC, EDQUOT: return "free some space on that filesystem and try again"
        case ELOOP: return "a symlink is in the way and pen does not follow symlinks in its state: remove it"
        default: return nil
        }
    }
}

/// A domain error that knows how to say itself to a user.
public protocol UserFacingError: Error {
    var penError: PenError { get }
}

/// Runs body, turning whatever it throws into a PenError (`context` says what was being done,
/// for errors that do not say it themselves).
public func converting<T>(_ context: String? = nil, _ body: () throws -> T) throws(PenError) -> T {
    do { return try body() } catch { throw PenError(error, context: context) }
}
