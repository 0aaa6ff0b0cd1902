// The host directory a VM shares at /workspace: an existing directory, never the whole host.
import Foundation

public enum WorkspaceDirectory {
    /// The real path (symlinks and `..` resolved) of an existing directory other than `/`.
    public static func resolve(_ path: String) throws(PenError) -> String {
        guard let real = realpath(path, nil) else {
            throw PenError("--dir \(path): \(String(cString: strerror(errno))); pass an existing directory")
        }
        defer { free(real) }
        let resolved = String(cString: real)
        var st = stat()
        guard stat(resolved, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw PenError("--dir \(path): not a directory; pass the project directory to share")
        }
        guard resolved != "/" else {
            throw PenError("--dir \(path): refusing to share the whole host filesystem; pass a project directory")
        }
        return resolved
    }
}
