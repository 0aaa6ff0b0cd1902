// Every error pen shows a user: one line naming the thing and, where there is one, the fix.
import Foundation

public struct PenError: Error, CustomStringConvertible, Equatable {
    public let message: String
    /// The process exit code pen uses for this error.
    public let exitCode: Int32

    public init(_ message: String, exitCode: Int32 = 1) {
        self.message = message
        self.exitCode = exitCode
    }

    public var description: String { message }

    /// A failed syscall, with errno's text.
    public static func system(_ what: String, _ err: Int32 = errno) -> PenError {
        PenError("\(what): \(String(cString: strerror(err)))\(fix(for: err))")
    }

    /// The fix for the errors a user can act on.
    public static func fix(for err: Int32) -> String {
        switch err {
        case ENOSPC, EDQUOT: return "; free some space on that filesystem and try again"
        case ELOOP: return "; a symlink is in the way and pen does not follow symlinks in its state: remove it"
        default: return ""
        }
    }
}
