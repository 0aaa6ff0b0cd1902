/// A failure creating or reading a VM's overlay disk.
///
/// `description` is a single line meant for the user: it names the path, says what
/// went wrong and, where there is one, what to do about it.
public struct DiskError: Error, CustomStringConvertible, Sendable {
    /// The disk image the operation was about.
    public let path: String
    /// What went wrong, without the path.
    public let reason: String
    /// What the user can do about it (may be empty).
    public let fix: String

    public init(path: String, reason: String, fix: String = "") {
        self.path = path
        self.reason = reason
        self.fix = fix
    }

    public var description: String {
        let head = "overlay disk \(path): \(reason)"
        return fix.isEmpty ? head : "\(head); \(fix)"
    }
}
