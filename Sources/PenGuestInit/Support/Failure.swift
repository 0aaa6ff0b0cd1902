// Every failure in init names its stage and errno; PID 1 reports it and powers off.
import Glibc

struct InitFailure: Error {
    let stage: String
    let message: String

    init(_ stage: String, _ message: String) {
        self.stage = stage
        self.message = message
    }

    /// A failed syscall: the message carries errno's number and text.
    static func sys(_ stage: String, _ what: String, _ err: Int32 = errno) -> InitFailure {
        InitFailure(stage, "\(what): errno \(err) (\(String(cString: strerror(err))))")
    }

    var line: String { "pen-init: \(stage): \(message)" }
}

/// Throws an InitFailure naming the stage when a syscall returned -1.
@discardableResult
func sys(_ rc: Int32, _ stage: String, _ what: String) throws(InitFailure) -> Int32 {
    if rc == -1 { throw .sys(stage, what) }
    return rc
}
