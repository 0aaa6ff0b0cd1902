import Testing
import PenTestSupport
@testable import PenCore

@Suite struct SettingsTests {
    @Test func noVariableGivesEveryDocumentedDefault() throws {
        let settings = try Settings(environment: [:])
        #expect(settings == Settings.defaults)
        #expect(settings.home == nil && settings.images == nil && settings.profilesDirectory == nil)
        #expect(settings.initBinary == nil && settings.qemu == nil && !settings.slirp)
        #expect(settings.bootTimeout == 120 && settings.buildTimeout == 1800 && settings.bootLogLevel == 4)
        #expect(settings.maxRootSize == nil && settings.snapshots && !settings.timings)
        #expect(settings.userHome == nil && settings.term == nil && settings.environment.isEmpty)
    }

    @Test func eachVariableSetsItsValue() throws {
        let environment = [
            "PEN_HOME": "/p", "PEN_IMAGES": "/i", "PEN_PROFILES_DIR": "/shipped", "PEN_INIT": "/bin/init",
            "PEN_QEMU": "/bin/qemu", "PEN_NETWORK": "slirp", "PEN_BOOT_TIMEOUT": "30", "PEN_BUILD_TIMEOUT": "90.5",
            "PEN_BOOT_LOGLEVEL": "7", "PEN_MAX_ROOT_SIZE": "16G", "PEN_SNAPSHOT": "0", "PEN_TIMINGS": "1",
            "HOME": "/home/u", "XDG_CONFIG_HOME": "/c", "XDG_CACHE_HOME": "/k", "XDG_DATA_HOME": "/d", "TERM": "xterm",
            "SECRET": "kept for --env-from-host",
        ]
        let settings = try Settings(environment: environment)
        #expect(settings.home == "/p" && settings.images == "/i" && settings.profilesDirectory == "/shipped")
        #expect(settings.initBinary == "/bin/init" && settings.qemu == "/bin/qemu" && settings.slirp)
        #expect(settings.bootTimeout == 30 && settings.buildTimeout == 90.5 && settings.bootLogLevel == 7)
        #expect(settings.maxRootSize == 16 << 30 && !settings.snapshots && settings.timings)
        #expect(settings.userHome == "/home/u" && settings.xdgConfigHome == "/c" && settings.xdgCacheHome == "/k")
        #expect(settings.xdgDataHome == "/d" && settings.term == "xterm")
        #expect(settings.environment == environment)
    }

    @Test func anEmptyVariableIsUnset() throws {
        let settings = try Settings(environment: ["PEN_HOME": "", "PEN_BOOT_TIMEOUT": "", "PEN_NETWORK": "", "HOME": ""])
        #expect(settings.home == nil && settings.bootTimeout == 120 && !settings.slirp && settings.userHome == nil)
        // PEN_SNAPSHOT turns snapshots off only with 0; PEN_TIMINGS is on when set at all.
        #expect(try Settings(environment: ["PEN_SNAPSHOT": "1"]).snapshots)
        #expect(try Settings(environment: ["PEN_TIMINGS": ""]).timings)
    }

    @Test(arguments: [
        ("PEN_BOOT_TIMEOUT", "x"), ("PEN_BOOT_TIMEOUT", "-5"), ("PEN_BOOT_TIMEOUT", "0"), ("PEN_BOOT_TIMEOUT", "inf"),
        ("PEN_BOOT_TIMEOUT", "nan"), ("PEN_BUILD_TIMEOUT", "soon"), ("PEN_BOOT_LOGLEVEL", "9"),
        ("PEN_BOOT_LOGLEVEL", "debug"), ("PEN_MAX_ROOT_SIZE", "lots"), ("PEN_NETWORK", "passt"),
    ])
    func aValuePenCannotUseIsAnErrorNamingTheVariable(_ key: String, _ value: String) {
        let message = thrownMessage { _ = try Settings(environment: [key: value]) }
        #expect(message.hasPrefix("invalid \(key) '\(value)'"), "\(message)")
    }

    @Test func pathsComeFromTheSettings() throws {
        let paths = PenPaths(try Settings(environment: ["HOME": "/home/u", "XDG_DATA_HOME": "relative"]))
        #expect(paths.vms == "/home/u/.local/share/pen/vms" && paths.images == "/home/u/.cache/pen/images")
        #expect(PenPaths(try Settings(environment: ["PEN_HOME": "/p"])).profiles == "/p/profiles")
    }
}
