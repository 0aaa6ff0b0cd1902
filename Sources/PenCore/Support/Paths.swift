// Where pen keeps things: XDG locations by default, or all under PEN_HOME.
import Foundation

public struct PenPaths: Sendable {
    /// User profiles (config).
    public let profiles: String
    /// Kernel, base and profile images (cache: rebuildable).
    public let images: String
    /// VM state (data: overlay disks the user cares about).
    public let vms: String

    public init(_ settings: Settings) {
        // PEN_IMAGES moves only the image cache (tests share one cache across PEN_HOMEs).
        let imagesOverride = settings.images.map(Self.absolute)
        if let home = settings.home {
            let root = Self.absolute(home)
            profiles = root + "/profiles"
            images = imagesOverride ?? root + "/images"
            vms = root + "/vms"
            return
        }
        let userHome = settings.userHome ?? NSHomeDirectory()
        func xdg(_ value: String?, _ fallback: String) -> String {
            if let value, value.hasPrefix("/") { return value }  // XDG says relative values are ignored
            return userHome + "/" + fallback
        }
        profiles = xdg(settings.xdgConfigHome, ".config") + "/pen/profiles"
        images = imagesOverride ?? xdg(settings.xdgCacheHome, ".cache") + "/pen/images"
        vms = xdg(settings.xdgDataHome, ".local/share") + "/pen/vms"
    }

    /// The paths a literal environment gives (tests), its checked values ignored.
    public init(environment: [String: String]) {
        self.init(Settings(unchecked: environment))
    }

    public func vmDirectory(_ name: VMName) -> String { vms + "/" + name.value }
    public var baseImageDirectory: String { images + "/base" }
    public var kernelDirectory: String { images + "/kernel" }
    /// Boot snapshots, one per kernel, initrd and machine shape (plan 09).
    public var snapshotDirectory: String { images + "/snapshots" }
    /// Execute-only copies of QEMU, for a root pen's QEMU that runs as another user.
    public var qemuCopyDirectory: String { images + "/qemu" }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    /// The guest init: PEN_INIT, else `PenGuestInit` next to the running pen executable.
    public static func initBinary(_ settings: Settings) throws(PenError) -> String {
        if let explicit = settings.initBinary {
            guard FileManager.default.isExecutableFile(atPath: explicit) else {
                throw PenError("PEN_INIT=\(explicit) is not an executable file: point it at a PenGuestInit built by `make build`")
            }
            return absolute(explicit)
        }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let candidate = (exe as NSString).deletingLastPathComponent + "/PenGuestInit"
        guard FileManager.default.isExecutableFile(atPath: candidate) else {
            throw PenError("guest init not found at \(candidate): install pen with `make install` (it puts PenGuestInit next to pen) or set PEN_INIT")
        }
        return candidate
    }
}
