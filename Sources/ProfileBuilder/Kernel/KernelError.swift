// Everything that can go wrong getting the guest kernel out of Debian's package: finding and
// downloading it, reading the .deb, decompressing the bzImage, reading modules and ordering
// them. One line each, naming the file and, where there is one, the fix.
import PenCore

public enum KernelError: Error, CustomStringConvertible, Sendable, Equatable {
    case cannotResolve
    case downloadFailed(package: String, detail: String)
    case missingKernelImage(deb: String)
    case missingModules(deb: String)
    case ambiguousRelease(deb: String, releases: [String])
    case unknownRoot(String, release: String)
    /// The bzImage holds no compressed kernel we can find.
    case noPayload(source: String, detail: String)
    case notAModule(file: String, reason: String)
    /// A requested module is not in the kernel package.
    case missingModule(String)
    /// A module's `depends=` names a module the package does not contain.
    case missingDependency(String, requiredBy: String)
    /// Modules that (directly or through softdeps) depend on each other; first == last.
    case cycle([String])
    /// A .deb without one of its members.
    case missingMember(deb: String, member: String)
    case entryDataUnavailable(path: String)
    /// libarchive's own message, after what was being read.
    case archive(context: String, message: String)

    public var description: String {
        switch self {
        case .cannotResolve: "cannot find Debian's kernel package: run `apt-get update` (or pass --kernel-deb FILE)"
        case let .downloadFailed(package, detail): "cannot download \(package) with `apt-get download` (\(detail)): check network access and run `apt-get update` (or pass --kernel-deb FILE)"
        case let .missingKernelImage(deb): "\(deb) contains no boot/vmlinuz-*: is it a linux-image package?"
        case let .missingModules(deb): "\(deb) contains no lib/modules/<release>/ directory: is it a linux-image package?"
        case let .ambiguousRelease(deb, releases): "\(deb) contains modules for several kernels (\(releases.joined(separator: ", "))): use a single linux-image package"
        case let .unknownRoot(name, release): "kernel module \(name) is neither in the kernel package nor built into kernel \(release)"
        case let .noPayload(source, detail): "cannot extract the kernel from \(source): \(detail)"
        case let .notAModule(file, reason): "\(file) is not a usable kernel module: \(reason)"
        case let .missingModule(name): "kernel module \(name) is not in the kernel package"
        case let .missingDependency(name, by): "kernel module \(by) needs module \(name), which is not in the kernel package"
        case let .cycle(names): "kernel modules depend on each other in a cycle: \(names.joined(separator: " -> "))"
        case let .missingMember(deb, member): "\(deb) is not a Debian package: it has no \(member) member"
        case let .entryDataUnavailable(path): "internal error: data of \(path) read twice or outside its callback"
        case let .archive(context, message): "\(context): \(message)"
        }
    }
}

extension KernelError: UserFacingError {
    public var penError: PenError { PenError(description) }
}
