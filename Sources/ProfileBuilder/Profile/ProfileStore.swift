// Where profiles come from: the user's directory first, then the ones installed with pen.
// pen only ever reads profiles; it never writes them.
import Foundation
import PenCore

public struct ProfileStore: Sendable {
    /// The user's profiles (PenPaths.profiles); they win over shipped ones of the same name.
    public let userDirectory: String
    /// Profiles installed with pen, searched in order after the user's.
    public let shippedDirectories: [String]

    /// Profile files larger than this are refused: a profile is a few lines, and anything
    /// bigger is a mistake (a wrong symlink) not worth reading into memory.
    public static let maximumFileBytes = 1 << 20

    public init(userDirectory: String, shippedDirectories: [String]) {
        self.userDirectory = userDirectory
        self.shippedDirectories = shippedDirectories
    }

    /// Shipped profiles: PEN_PROFILES_DIR if set, else `<dir of the running executable>/../share/pen/profiles`
    /// (where `make build`/`make install` put the repo's profiles/ directory).
    public static func standard(paths: PenPaths, settings: Settings) -> ProfileStore {
        if let dir = settings.profilesDirectory {
            let absolute = dir.hasPrefix("/") ? dir : FileManager.default.currentDirectoryPath + "/" + dir
            return ProfileStore(userDirectory: paths.profiles, shippedDirectories: [absolute])
        }
        // /proc/self/exe is the real binary even when pen was started through a symlink.
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let bin = (exe as NSString).deletingLastPathComponent
        let prefix = (bin as NSString).deletingLastPathComponent
        return ProfileStore(userDirectory: paths.profiles, shippedDirectories: [prefix + "/share/pen/profiles"])
    }

    /// Finds and parses NAME.toml; the user's directory wins over shipped ones.
    /// A symlinked profile file is read through (users may link their dotfiles).
    public func load(_ name: String) throws(PenError) -> Profile {
        let valid = try VMName(name, kind: "profile name")
        let directories = [userDirectory] + shippedDirectories
        for directory in directories {
            let path = Self.file(in: directory, name: valid.value)
            // lstat, so a dangling symlink in the user's directory is reported, not skipped
            // in favour of a shipped profile the user did not mean.
            var info = stat()
            if lstat(path, &info) != 0 {
                let err = errno
                if err == ENOENT || err == ENOTDIR { continue }
                throw PenError.system("cannot look for profile '\(valid.value)' at \(path)", err)
            }
            do {
                return try Self.readProfile(path: path, name: valid.value)
            } catch {
                throw error.penError
            }
        }
        let searched = directories.map { Self.trimmed($0) }
        let list = searched.count <= 1 ? searched.joined() : searched.dropLast().joined(separator: ", ") + " and " + searched.last!
        throw PenError("profile '\(valid.value)' not found: looked for \(valid.value).toml in \(list); "
            + "create \(Self.file(in: userDirectory, name: valid.value)) or see `pen profile ls`")
    }

    /// Every visible profile (user + shipped, one per name, sorted by name), each parsed or with
    /// its error: one broken file must not hide the others.
    public func list() -> [ProfileListing] {
        var seen: [String: ProfileListing] = [:]
        let directories = [(userDirectory, ProfileListing.Origin.user)]
            + shippedDirectories.map { ($0, ProfileListing.Origin.shipped) }
        for (directory, origin) in directories {
            // A missing or unreadable directory simply has no profiles.
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { continue }
            for entry in entries where entry.hasSuffix(".toml") && !entry.hasPrefix(".") {
                let name = String(entry.dropLast(".toml".count))
                guard seen[name] == nil else { continue }  // the user's (or an earlier shipped) one wins
                let path = Self.file(in: directory, name: name)
                let result: Result<Profile, ProfileError>
                do {
                    _ = try VMName(name, kind: "profile name")
                    result = .success(try Self.readProfile(path: path, name: name))
                } catch let error as ProfileError {
                    result = .failure(error)
                } catch let error as PenError {
                    result = .failure(ProfileError(file: path, key: nil, problem: "\(error.message); rename the file"))
                } catch {
                    result = .failure(ProfileError(file: path, key: nil, problem: "\(error)"))
                }
                seen[name] = ProfileListing(name: name, path: path, origin: origin, result: result)
            }
        }
        return seen.values.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    // MARK: reading

    static func trimmed(_ directory: String) -> String {
        var dir = Substring(directory)
        while dir.count > 1, dir.hasSuffix("/") { dir = dir.dropLast() }
        return String(dir)
    }

    static func file(in directory: String, name: String) -> String {
        let dir = trimmed(directory)
        return (dir == "/" ? "" : dir) + "/" + name + ".toml"
    }

    /// Reads and parses one profile file (following symlinks).
    static func readProfile(path: String, name: String) throws(ProfileError) -> Profile {
        func fail(_ problem: String) -> ProfileError { ProfileError(file: path, key: nil, problem: problem) }
        // O_NONBLOCK: a FIFO named like a profile must not hang pen; regular files ignore it.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw fail("cannot read: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw fail("cannot read: \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw fail("not a regular file") }
        guard info.st_size <= maximumFileBytes else {
            throw fail("is \(ByteSize.format(UInt64(info.st_size))), more than a profile can be (\(ByteSize.format(UInt64(maximumFileBytes))))")
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw fail("cannot read: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytes += chunk[0..<n]
            // The file may have grown since fstat.
            guard bytes.count <= maximumFileBytes else {
                throw fail("is more than a profile can be (\(ByteSize.format(UInt64(maximumFileBytes))))")
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw fail("is not valid UTF-8 text (TOML files must be UTF-8)")
        }
        return try ProfileParser.parse(text, name: name, path: path)
    }
}

/// One entry of `pen profile ls`.
public struct ProfileListing: Equatable, Sendable {
    public enum Origin: String, Equatable, Sendable {
        /// From the user's profile directory.
        case user
        /// Installed with pen.
        case shipped
    }

    public let name: String
    public let path: String
    public let origin: Origin
    /// The parsed profile, or why it cannot be used.
    public let result: Result<Profile, ProfileError>

    public init(name: String, path: String, origin: Origin, result: Result<Profile, ProfileError>) {
        self.name = name
        self.path = path
        self.origin = origin
        self.result = result
    }
}
