@preconcurrency import CExt2fs
#if canImport(Glibc)
import Glibc
#endif

/// A failed libext2fs call: which step of the job it was and the library's error code.
struct Ext2Failure: Error {
    let step: String
    let code: errcode_t

    /// The com_err text for `code` ("No space left on device", "Could not allocate block ...").
    var text: String { Ext2.message(for: code) }
}

enum Ext2 {
    /// Registers libext2fs's com_err table once, so `error_message` can name its codes.
    private static let errorTable: Void = { initialize_ext2_error_table() }()

    static func message(for code: errcode_t) -> String {
        _ = errorTable
        guard let text = error_message(code) else { return "error \(code)" }
        return String(cString: text)
    }

    /// Throws an `Ext2Failure` naming `step` when `code` is not 0.
    static func check(_ code: errcode_t, _ step: @autoclosure () -> String) throws {
        if code != 0 { throw Ext2Failure(step: step(), code: code) }
    }

    /// libext2fs's plain Unix-file I/O manager.
    static var unixIO: io_manager { unix_io_manager }

    /// True when `code` is one of the errno values that means the host ran out of room.
    static func isOutOfSpace(_ code: errcode_t) -> Bool {
        code == errcode_t(ENOSPC) || code == errcode_t(EDQUOT) || code == errcode_t(EFBIG)
    }
}
