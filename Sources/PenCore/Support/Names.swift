// VM (and later profile) names become directory names, so they are checked strictly.

public struct VMName: Hashable, CustomStringConvertible, Sendable {
    public let value: String
    public var description: String { value }

    public static let maxLength = 63

    /// Letters, digits, '.', '_' and '-'; starts with a letter or digit; at most 63 characters.
    /// That excludes '/', "..", empty names and leading '-' (which would read as a flag).
    public init(_ raw: String, kind: String = "VM name") throws(PenError) {
        let fix = "use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
        guard !raw.isEmpty else { throw PenError("invalid \(kind) '': \(fix)") }
        guard raw.utf8.count <= Self.maxLength else {
            throw PenError("invalid \(kind) '\(raw.prefix(20))…': longer than \(Self.maxLength) characters")
        }
        let allowed = raw.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
                || $0 == "." || $0 == "_" || $0 == "-"
        }
        let first = raw.unicodeScalars.first!
        let startsWell = ("a"..."z").contains(first) || ("A"..."Z").contains(first) || ("0"..."9").contains(first)
        guard allowed, startsWell else { throw PenError("invalid \(kind) '\(raw)': \(fix)") }
        value = raw
    }
}
