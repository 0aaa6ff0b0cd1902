// What the host offers a launch, read once, so that resolving a plan is a pure function of
// its inputs (and unit tests can describe any host).
import Foundation
import PenCore
import PenWire

public struct LaunchHost: Sendable {
    public var environment: [String: String]
    public var cores: Int
    public var tscKilohertz: Int?
    public var kvm: KVMProbe
    public var passt: Passt?
    public var currentDirectory: String
    /// The size of the terminal on stdin, when it is one.
    public var terminalSize: WindowSize?

    public init(environment: [String: String], cores: Int, tscKilohertz: Int?, kvm: KVMProbe, passt: Passt?,
                currentDirectory: String, terminalSize: WindowSize?) {
        self.environment = environment
        self.cores = cores
        self.tscKilohertz = tscKilohertz
        self.kvm = kvm
        self.passt = passt
        self.currentDirectory = currentDirectory
        self.terminalSize = terminalSize
    }

    /// This machine, now.
    public static func current(environment env: [String: String] = ProcessInfo.processInfo.environment) -> LaunchHost {
        LaunchHost(environment: env, cores: ProcessInfo.processInfo.activeProcessorCount, tscKilohertz: hostTSCKilohertz(),
                   kvm: KVMProbe.run(), passt: Passt.locate(environment: env),
                   currentDirectory: FileManager.default.currentDirectoryPath, terminalSize: RawTerminal.windowSize(fd: 0))
    }

    /// A number of seconds from the environment (PEN_BOOT_TIMEOUT, …), else the default.
    func seconds(_ key: String, default value: Double) -> Double {
        environment[key].flatMap(Double.init).flatMap { $0 > 0 && $0.isFinite ? $0 : nil } ?? value
    }
}
