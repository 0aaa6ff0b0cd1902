// Lexical path normalisation for root-tree paths. Paths are bytes (a Linux file name need not
// be UTF-8), so a "/" followed by a combining mark still splits and the result is byte-exact.

enum RootPath {
    enum Outcome: Equatable {
        /// The path names the root directory itself ("", ".", "./", "/").
        case root
        case path([UInt8])
        /// Starts with "/" while absolute paths were not allowed.
        case absolute
        /// A ".." climbs above the root.
        case escapes
    }

    static let slash = UInt8(ascii: "/")
    private static let dot = UInt8(ascii: ".")

    /// Drops empty and "." components, resolves ".." lexically.
    /// - Parameter allowAbsolute: when true a leading "/" is treated as the tree's
    ///   root (for paths written by our own code); when false it is an error (for
    ///   archive members, where an absolute name signals a broken or hostile tar).
    static func normalise(_ bytes: [UInt8], allowAbsolute: Bool) -> Outcome {
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
        return .path(Array(parts.joined(separator: [slash])))
    }

    static func normalise(_ raw: String, allowAbsolute: Bool) -> Outcome {
        normalise(Array(raw.utf8), allowAbsolute: allowAbsolute)
    }

    /// The ancestors of a normalised path, outermost first ("a/b/c" -> ["a", "a/b"]).
    static func ancestors(of path: [UInt8]) -> [[UInt8]] {
        path.indices.filter { path[$0] == slash }.map { Array(path[..<$0]) }
    }

    /// The ancestors of a normalised path, deepest first ("a/b/c" -> "a/b", "a"), made one at a
    /// time as they are asked for.
    static func parentsDeepestFirst(of path: [UInt8]) -> some Sequence<[UInt8]> {
        AnySequence { () -> AnyIterator<[UInt8]> in
            var end = path.count
            return AnyIterator {
                guard let cut = path[..<end].lastIndex(of: Self.slash) else { return nil }
                end = cut
                return Array(path[..<cut])
            }
        }
    }

    /// The last component of a normalised path.
    static func name(of path: [UInt8]) -> ArraySlice<UInt8> {
        path[(path.lastIndex(of: slash).map { $0 + 1 } ?? 0)...]
    }

    /// A path for a message: printable ASCII and valid UTF-8 letters as they are, anything else
    /// (control characters, bytes that are not UTF-8) as \xNN, so a hostile name cannot forge
    /// lines or terminal escapes; long names are cut.
    static func display(_ bytes: [UInt8], limit: Int = 300) -> String {
        var out = ""
        var i = 0
        while i < bytes.count, out.utf8.count < limit {
            let b = bytes[i]
            if b >= 0x20 && b < 0x7f && b != UInt8(ascii: "\\") {
                out.unicodeScalars.append(Unicode.Scalar(b))
                i += 1
                continue
            }
            // One UTF-8 sequence of a printable, non-control letter.
            let length = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 ? 2 : 0
            if length > 0, i + length <= bytes.count,
               let s = String(validating: bytes[i..<i + length], as: UTF8.self),
               let scalar = s.unicodeScalars.first, !scalar.properties.generalCategory.isControlOrFormat {
                out += s
                i += length
                continue
            }
            out += "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16)
            i += 1
        }
        return i < bytes.count ? out + "…" : out
    }
}

private extension Unicode.GeneralCategory {
    var isControlOrFormat: Bool {
        switch self {
        case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }
}
