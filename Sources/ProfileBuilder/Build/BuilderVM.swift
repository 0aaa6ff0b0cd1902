// What a profile build needs from a VM, said without saying how VMs are started: the launcher
// (PenLaunch) turns this into a boot of the base image and runs it like any other VM.
import PenCore

public struct BuilderVMRequest {
    /// The profile being built (names the VM and its messages).
    public var profile: String
    /// The base image to boot.
    public var kernelPath: String
    public var initrdPath: String
    /// The base root image: the lower layer the packages are installed over.
    public var rootImagePath: String
    /// The shell script the builder runs as root, with network, over the base root (a tmpfs upper layer).
    public var script: String
    /// What the builder may reach: nil is `public`; rules are `allow` with them (and apt's sources).
    public var allow: [NetworkRule]?
    /// Where the VM's logs go (boot.log, qemu.log, passt.log) and the root's tar is written.
    public var workDirectory: String
    public var archivePath: String
    /// The root is built in RAM (tmpfs gets half of it).
    public var memoryMiB: Int
    /// Seconds the whole build may take.
    public var timeout: Double
    /// Receives everything the build prints (stdout and stderr).
    public var output: ([UInt8]) -> Void

    public init(profile: String, kernelPath: String, initrdPath: String, rootImagePath: String, script: String, allow: [NetworkRule]? = nil,
                workDirectory: String, archivePath: String, memoryMiB: Int, timeout: Double, output: @escaping ([UInt8]) -> Void) {
        self.allow = allow
        self.profile = profile
        self.kernelPath = kernelPath
        self.initrdPath = initrdPath
        self.rootImagePath = rootImagePath
        self.script = script
        self.workDirectory = workDirectory
        self.archivePath = archivePath
        self.memoryMiB = memoryMiB
        self.timeout = timeout
        self.output = output
    }
}

/// Boots a builder VM for the request and returns how its session ended.
public typealias BuilderVM = (BuilderVMRequest) throws(PenError) -> SessionOutcome
