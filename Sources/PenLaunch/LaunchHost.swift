// What the host offers a launch, read once, so that resolving a plan is a pure function of
// its inputs (and unit tests can describe any host).
import Foundation
import PenCore
import PenWire

public struct LaunchHost: Sendable {
    /// pen's settings (Settings: the environment, read once).
    public var settings: Settings
    public var cores: Int
    public var tscKilohertz: Int?
    public var kvm: KVMProbe
    public var passt: Passt?
    public var currentDirectory: String
    /// Whether stdin is a terminal, and its size when it says (a new pty may report 0 × 0).
    public var stdinIsTerminal: Bool
    public var terminalSize: WindowSize?
    /// pen runs as root (QEMU then drops to another uid: QEMUUser).
    public var runsAsRoot = false
    /// The group that may open /dev/kvm, for a QEMU that drops its privileges.
    public var kvmGroup: UInt32?

    public init(settings: Settings, cores: Int, tscKilohertz: Int?, kvm: KVMProbe, passt: Passt?,
                currentDirectory: String, stdinIsTerminal: Bool = false, terminalSize: WindowSize? = nil) {
        self.settings = settings
        self.cores = cores
        self.tscKilohertz = tscKilohertz
        self.kvm = kvm
        self.passt = passt
        self.currentDirectory = currentDirectory
        self.stdinIsTerminal = stdinIsTerminal || terminalSize != nil
        self.terminalSize = terminalSize
    }

    /// This machine, now.
    public static func current(_ settings: Settings) -> LaunchHost {
        var host = LaunchHost(settings: settings, cores: ProcessInfo.processInfo.activeProcessorCount, tscKilohertz: hostTSCKilohertz(),
                              kvm: KVMProbe.run(), passt: Passt.locate(environment: settings.environment),
                              currentDirectory: FileManager.default.currentDirectoryPath, stdinIsTerminal: isatty(0) == 1,
                              terminalSize: RawTerminal.windowSize(fd: 0))
        host.runsAsRoot = geteuid() == 0
        var kvm = stat()
        if stat("/dev/kvm", &kvm) == 0 { host.kvmGroup = kvm.st_gid }
        return host
    }
}
