// Why a profile file was rejected: which file, which key, what is wrong and (where obvious)
// how to fix it — in one line, because users see it as pen's only output.
import PenCore

public struct ProfileError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The profile file.
    public let file: String
    /// The dotted key (`vm.cpus`, `disk.size`, `packages[2]`); nil for problems with the whole
    /// file (unreadable, TOML syntax error).
    public let key: String?
    /// What is wrong, with the fix where there is an obvious one.
    public let problem: String

    public init(file: String, key: String?, problem: String) {
        self.file = file
        self.key = key
        self.problem = problem
    }

    public var description: String {
        if let key { return "profile \(file): key '\(key)': \(problem)" }
        return "profile \(file): \(problem)"
    }

}

extension ProfileError: UserFacingError {
    public var penError: PenError { PenError(description) }
}
