// pen's settings from its environment, read in one place: every PEN_* variable, the few standard
// ones pen looks at (HOME, XDG_*, TERM, PATH) and the raw environment (for the values
// `--env-from-host` names, and what children may keep). Nothing else in pen reads the process
// environment: the CLI reads it once and hands the value down; `Settings.current` is the same
// value for the low-level helpers that cannot be handed one (a child's environment, PATH search).
// An empty variable counts as unset; a value pen cannot use is an error naming the variable.
import Foundation

public struct Settings: Equatable, Sendable {
    /// PEN_HOME: profiles, images and VMs all under this directory (default: the XDG locations).
    public var home: String?
    /// PEN_IMAGES: only the image cache here (default: PEN_HOME/images, else XDG_CACHE_HOME/pen/images).
    public var images: String?
    /// PEN_PROFILES_DIR: the shipped profiles (default: `<pen's dir>/../share/pen/profiles`).
    public var profilesDirectory: String?
    /// PEN_INIT: the guest init binary (default: `PenGuestInit` next to the pen executable).
    public var initBinary: String?
    /// PEN_QEMU: the QEMU binary (default: `qemu-system-x86_64` on PATH).
    public var qemu: String?
    /// PEN_NETWORK=slirp: QEMU's slirp instead of passt (default: passt).
    public var slirp = false
    /// PEN_BOOT_TIMEOUT: seconds a VM may take to boot (default 120).
    public var bootTimeout = Settings.defaultBootTimeout
    public static let defaultBootTimeout = 120.0
    /// PEN_BUILD_TIMEOUT: seconds a profile build may take (default 1800).
    public var buildTimeout = Settings.defaultBuildTimeout
    public static let defaultBuildTimeout = 1800.0
    /// PEN_BOOT_LOGLEVEL: the guest kernel's console log level in boot.log, 0–8 (default 4).
    public var bootLogLevel = 4
    /// PEN_MAX_ROOT_SIZE: the largest root a profile build may stream back (nil: the default, 8G).
    public var maxRootSize: UInt64?
    /// PEN_SNAPSHOT=0: never restore or save a boot snapshot (default: use them).
    public var snapshots = true
    /// PEN_TIMINGS (any value): print the boot's stage timings (default: off).
    public var timings = false
    /// PEN_TEST_PUBLIC_BENCHMARKING=1: the network policy counts 198.18.0.0/15 as public, so a test
    /// can put a "public" server in a network namespace it makes (default: not public).
    public var benchmarkingIsPublic = false

    /// HOME (nil when unset or empty).
    public var userHome: String?
    /// XDG_CONFIG_HOME, XDG_CACHE_HOME, XDG_DATA_HOME as given (PenPaths ignores relative ones).
    public var xdgConfigHome: String?
    public var xdgCacheHome: String?
    public var xdgDataHome: String?
    /// TERM, handed to a session on a pty.
    public var term: String?
    /// The whole environment as pen got it: `--env-from-host` reads it, children keep parts of it.
    public var environment: [String: String]

    /// The settings in `environment`; a PEN_* value pen cannot use is a PenError naming it.
    public init(environment env: [String: String]) throws(PenError) {
        self.init(unchecked: env)
        func value(_ key: String) -> String? { env[key].flatMap { $0.isEmpty ? nil : $0 } }
        if let text = value("PEN_NETWORK") {
            guard text == "slirp" else { throw PenError("invalid PEN_NETWORK '\(text)'", fix: "use slirp, or unset it for passt") }
            slirp = true
        }
        if let text = value("PEN_BOOT_TIMEOUT") { bootTimeout = try Self.seconds(text, "PEN_BOOT_TIMEOUT") }
        if let text = value("PEN_BUILD_TIMEOUT") { buildTimeout = try Self.seconds(text, "PEN_BUILD_TIMEOUT") }
        if let text = value("PEN_BOOT_LOGLEVEL") {
            guard let level = Int(text), (0...8).contains(level) else {
                throw PenError("invalid PEN_BOOT_LOGLEVEL '\(text)'", fix: "use a kernel log level from 0 to 8")
            }
            bootLogLevel = level
        }
        if let text = value("PEN_MAX_ROOT_SIZE") { maxRootSize = try ByteSize.parse(text, what: "PEN_MAX_ROOT_SIZE") }
    }

    /// The environment's paths and switches, every checked value at its default.
    init(unchecked env: [String: String]) {
        func value(_ key: String) -> String? { env[key].flatMap { $0.isEmpty ? nil : $0 } }
        environment = env
        home = value("PEN_HOME")
        images = value("PEN_IMAGES")
        profilesDirectory = value("PEN_PROFILES_DIR")
        initBinary = value("PEN_INIT")
        qemu = value("PEN_QEMU")
        snapshots = env["PEN_SNAPSHOT"] != "0"
        timings = env["PEN_TIMINGS"] != nil
        benchmarkingIsPublic = env["PEN_TEST_PUBLIC_BENCHMARKING"] == "1"
        userHome = value("HOME")
        xdgConfigHome = value("XDG_CONFIG_HOME")
        xdgCacheHome = value("XDG_CACHE_HOME")
        xdgDataHome = value("XDG_DATA_HOME")
        term = value("TERM")
    }

    /// No variable set: every default.
    public static let defaults = Settings(unchecked: [:])

    /// This process's environment, the one place pen reads it.
    private static let processEnvironment = ProcessInfo.processInfo.environment

    /// This process's settings, checked: the CLI reads them once, first, and refuses bad values.
    public static func load() throws(PenError) -> Settings {
        try Settings(environment: processEnvironment)
    }

    /// The same, for helpers that cannot be handed a value (the CLI has refused bad values by then).
    public static let current: Settings = (try? load()) ?? Settings(unchecked: processEnvironment)

    private static func seconds(_ text: String, _ key: String) throws(PenError) -> Double {
        guard let value = Double(text), value > 0, value.isFinite else {
            throw PenError("invalid \(key) '\(text)'", fix: "give a number of seconds, e.g. 300")
        }
        return value
    }
}
