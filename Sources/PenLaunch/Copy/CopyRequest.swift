// `pen cp SRC… DEST`: which side is the VM (`NAME:PATH`, exactly one side), and what goes where.
// Pure: parsed and checked before anything is copied.
import PenCore

public struct CopyRequest: Equatable, Sendable {
    public enum Direction: Equatable, Sendable {
        /// Host paths (or `-`: a tar on stdin) into the VM at `destination`.
        case into(sources: [String], destination: String)
        /// Paths in the VM to the host at `destination` (or `-`: a tar on stdout).
        case out(sources: [String], destination: String)
    }

    public var vm: String
    public var direction: Direction

    public init(vm: String, direction: Direction) {
        self.vm = vm
        self.direction = direction
    }

    /// `NAME:PATH` is the VM's side: a valid VM name before the first ':' (a local path with a
    /// ':' in it needs a '/' before it, e.g. ./a:b).
    public static func parse(_ arguments: [String]) throws(PenError) -> CopyRequest {
        guard arguments.count >= 2 else {
            throw PenError("pen cp needs a source and a destination", fix: "e.g. pen cp file.txt dev:/root/ or pen cp dev:/etc/hosts .")
        }
        let sources = Array(arguments.dropLast()), destination = arguments.last!
        let guestSources = sources.compactMap(guestPath)
        if let (vm, path) = guestPath(destination) {
            guard guestSources.isEmpty else { throw PenError("pen cp copies between the host and one VM", fix: "give NAME:PATH on one side only") }
            if sources.contains("-") && sources.count > 1 { throw PenError("pen cp: '-' (a tar on stdin) must be the only source") }
            return CopyRequest(vm: vm, direction: .into(sources: sources, destination: try absolute(path)))
        }
        guard guestSources.count == sources.count else {
            throw PenError("pen cp needs NAME:PATH on one side", fix: "e.g. pen cp file.txt dev:/root/ or pen cp dev:/etc/hosts .")
        }
        guard Set(guestSources.map(\.0)).count == 1 else { throw PenError("pen cp copies from one VM at a time") }
        return CopyRequest(vm: guestSources[0].0,
                           direction: .out(sources: try guestSources.map { s throws(PenError) in try absolute(s.1) }, destination: destination))
    }

    static func guestPath(_ argument: String) -> (String, String)? {
        guard let colon = argument.firstIndex(of: ":") else { return nil }
        let name = String(argument[..<colon])
        guard !name.contains("/"), (try? VMName(name)) != nil else { return nil }
        return (name, String(argument[argument.index(after: colon)...]))
    }

    /// A path in the VM: absolute, trailing slashes dropped ("/" itself is refused: a whole root).
    static func absolute(_ path: String) throws(PenError) -> String {
        guard path.hasPrefix("/") else {
            throw PenError("pen cp: '\(path)' in the VM is not absolute", fix: "write NAME:/absolute/path")
        }
        var p = Substring(path)
        while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
        return String(p)
    }
}

/// POSIX dirname and basename of an absolute, normalised path.
func splitPath(_ path: String) -> (parent: String, name: String) {
    guard let slash = path.lastIndex(of: "/") else { return (".", path) }
    let parent = path[..<slash]
    return (parent.isEmpty ? "/" : String(parent), String(path[path.index(after: slash)...]))
}
