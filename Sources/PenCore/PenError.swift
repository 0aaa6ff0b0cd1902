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
        PenError("\(what): \(String(cString: strerror(err)))")
    }
}
