// A path from a guest's archive as BYTES: split on the byte 0x2F only (never on Swift
// Characters: a combining mark or a prepend scalar next to '/' makes one grapheme of both, and
// a component holding a real '/' would reach openat whole). Each component goes to the
// *at() calls as its exact bytes.
import Foundation

/// One path component: bytes without '/' or NUL, never "." or "..".
struct PathComponent: Hashable {
    let bytes: [UInt8]

    /// Calls `body` with the component as a C string (NUL-terminated copy).
    func withCString<R>(_ body: (UnsafePointer<CChar>) -> R) -> R {
        (bytes + [0]).withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) }
        }
    }
}

enum ArchivePath {
    static let slash = UInt8(ascii: "/")
    static let dot = UInt8(ascii: ".")
    /// Deeper paths are refused: each level holds a descriptor while it is written.
    static let maximumDepth = 400

    enum Refusal: Error, Equatable {
        case absolute, parent, empty, tooDeep
    }

    /// The components of a relative archive path; empty and "." components dropped; an absolute
    /// path, a ".." anywhere, an empty path or one deeper than `maximumDepth` refused.
    static func components(_ bytes: some Collection<UInt8>) -> Result<[PathComponent], Refusal> {
        guard bytes.first != slash else { return .failure(.absolute) }
        var parts: [PathComponent] = []
        for part in bytes.split(separator: slash, omittingEmptySubsequences: true) {
            if part.count == 1 && part.first == dot { continue }
            if part.count == 2 && part.allSatisfy({ $0 == dot }) { return .failure(.parent) }
            // split on 0x2F already; NUL cannot come through a C string, checked anyway.
            guard !part.contains(0), !part.contains(slash) else { return .failure(.parent) }
            parts.append(PathComponent(bytes: Array(part)))
            if parts.count > maximumDepth { return .failure(.tooDeep) }
        }
        return parts.isEmpty ? .failure(.empty) : .success(parts)
    }

    /// The bytes of a C string from libarchive (not decoded: compared and passed on as bytes).
    static func bytes(_ cString: UnsafePointer<CChar>?) -> [UInt8] {
        guard let cString else { return [] }
        return Array(UnsafeBufferPointer(start: UnsafeRawPointer(cString).assumingMemoryBound(to: UInt8.self),
                                         count: strlen(cString)))
    }
}
