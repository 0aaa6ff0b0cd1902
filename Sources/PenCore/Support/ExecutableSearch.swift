import Foundation
// Finds a program the way a shell does: PATH first, then a few system directories
// (sbin ones are often missing from a user's PATH). Only absolute directories count: with
// "." or "" in PATH a shell would run whatever a guest wrote into the shared workspace.

public enum ExecutableSearch {
    public static func find(_ name: String, environment env: [String: String],
                            alsoIn extra: [String] = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]) -> String? {
        let path = env["PATH"] ?? "/usr/bin:/bin"
        let dirs = path.split(separator: ":", omittingEmptySubsequences: false).map(String.init) + extra
        for dir in dirs where dir.hasPrefix("/") {
            let candidate = dir + "/" + name
            var info = stat()
            guard stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}
