// One finding of `pen doctor`: what was checked, how it went, and what to do about it.
import Foundation

public enum CheckStatus: String, Codable, Sendable {
    case ok, warn, fail
}

public struct HostCheck: Codable, Equatable, Sendable {
    public var name: String
    public var status: CheckStatus
    public var detail: String
    /// What to do, for a warn or a fail (nil when nothing is needed).
    @NullWhenAbsent public var fix: String?

    public init(_ name: String, _ status: CheckStatus, _ detail: String, fix: String? = nil) {
        self.name = name
        self.status = status
        self.detail = detail
        self.fix = fix
    }

    /// `ok    qemu: detail`, plus an indented `fix:` line for problems.
    public var lines: [String] {
        let head = status.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0) + "\(name): \(detail)"
        guard status != .ok, let fix else { return [head] }
        return [head, "      fix: \(fix)"]
    }
}
