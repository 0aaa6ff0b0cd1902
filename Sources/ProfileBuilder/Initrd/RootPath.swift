// Lexical path normalisation for root-tree paths. Works on UTF-8 bytes, not
// Characters, so that a "/" followed by a combining mark still splits and the
// result is byte-exact.

enum RootPath {
    enum Outcome: Equatable {
        /// The path names the root directory itself ("", ".", "./", "/").
        case root
        case path(String)
        /// Starts with "/" while absolute paths were not allowed.
        case absolute
        /// A ".." climbs above the root.
        case escapes
    }

    private static let slash = UInt8(ascii: "/")
    private static let dot = UInt8(ascii: ".")

    /// Drops empty and "." components, resolves ".." lexically.
    /// - Parameter allowAbsolute: when true a leading "/" is treated as the tree's
    ///   root (for paths written by our own code); when false it is an error (for
    ///   archive members, where an absolute name signals a broken or hostile tar).
    static func normalise(_ raw: String, allowAbsolute: Bool) -> Outcome {
        let bytes = Array(raw.utf8)
        if !allowAbsolute, bytes.first == slash { return .absolute }
        var parts: [ArraySlice<UInt8>] = []
        for part in bytes.split(separator: slash, omittingEmptySubsequences: true) {
            if part.count == 1 && part.first == dot { continue }
            if part.count == 2 && part.allSatisfy({ $0 == dot }) {
                if parts.isEmpty { return .escapes }
                parts.removeLast()
                continue
            }
            parts.append(part)
        }
        if parts.isEmpty { return .root }
        // Fast path: already normal, keep the original string storage.
        let joined = Array(parts.joined(separator: [slash]))
        if joined == bytes { return .path(raw) }
        return .path(String(decoding: joined, as: UTF8.self))
    }

    /// The ancestors of a normalised path, outermost first ("a/b/c" -> ["a", "a/b"]).
    static func ancestors(of path: String) -> [String] {
        let bytes = Array(path.utf8)
        var result: [String] = []
        for (i, b) in bytes.enumerated() where b == slash {
            result.append(String(decoding: bytes[..<i], as: UTF8.self))
        }
        return result
    }
}
