// Where pen keeps things: XDG locations by default, or all under PEN_HOME.
import Foundation

public struct PenPaths: Sendable {
    /// User profiles (config).
    public let profiles: String
    /// Kernel, base and profile images (cache: rebuildable).
    public let images: String
    /// VM state (data: overlay disks the user cares about).
    public let vms: String

    public init(environment env: [String: String] = ProcessInfo.processInfo.environment) {
        // PEN_IMAGES moves only the image cache (tests share one cache across PEN_HOMEs).
        let imagesOverride = env["PEN_IMAGES"].flatMap { $0.isEmpty ? nil : Self.absolute($0) }
        if let home = env["PEN_HOME"], !home.isEmpty {
            let root = Self.absolute(home)
            profiles = root + "/profiles"
            images = imagesOverride ?? root + "/images"
            vms = root + "/vms"
            return
        }
        let userHome = env["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        func xdg(_ key: String, _ fallback: String) -> String {
            if let v = env[key], v.hasPrefix("/") { return v }  // XDG says relative values are ignored
            return userHome + "/" + fallback
        }
        profiles = xdg("XDG_CONFIG_HOME", ".config") + "/pen/profiles"
        images = imagesOverride ?? xdg("XDG_CACHE_HOME", ".cache") + "/pen/images"
        vms = xdg("XDG_DATA_HOME", ".local/share") + "/pen/vms"
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
    public static func initBinary(environment env: [String: String] = ProcessInfo.processInfo.environment) throws(PenError) -> String {
        if let explicit = env["PEN_INIT"], !explicit.isEmpty {
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
