import Foundation
// Finds a program the way a shell does: PATH first, then a few system directories
// (sbin ones are often missing from a user's PATH).

public enum ExecutableSearch {
    public static func find(_ name: String, environment env: [String: String],
                            alsoIn extra: [String] = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]) -> String? {
        let path = env["PATH"] ?? "/usr/bin:/bin"
        let dirs = path.split(separator: ":").map(String.init) + extra
        for dir in dirs where !dir.isEmpty {
            let candidate = dir + "/" + name
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}
