// The cascade that decides a boot: flags win over the VM's record, which wins over the
// profile, which wins over pen's defaults; the environment sets timeouts and the network.
// Pure: the same inputs always give the same plan, and every bad input is refused here,
// before anything on disk is touched.
import PenCore
import PenWire
import ProfileBuilder

public enum LaunchResolver {
    /// Seconds a boot may take to reach the guest init's `ready` (PEN_BOOT_TIMEOUT).
    static let defaultBootTimeout = 120.0
    /// Seconds a profile build may take (PEN_BUILD_TIMEOUT).
    static let defaultBuildTimeout = 1800.0
    /// Seconds a builder VM may take to boot.
    static let builderBootTimeout = 300.0

    /// The profile a launch uses: the flag, else the VM's own, else `default`. A VM never
    /// changes profile.
    public static func profileName(_ request: LaunchRequest, record: VMRecord?) throws(PenError) -> String {
        if let record, let wanted = request.profile, wanted != record.profile {
            throw PenError("VM '\(record.name)' was created with profile '\(record.profile)', not '\(wanted)'",
                           fix: "drop --profile, or use a new VM name")
        }
        return request.profile ?? record?.profile ?? "default"
    }

    /// Checks every flag and resolves the plan. `workspace` is the shared directory, already
    /// resolved (see WorkspaceDirectory); `vmDirectory` the VM's directory (for passt's log).
    public static func resolve(_ request: LaunchRequest, profile: Profile, record: VMRecord?, workspace: String,
                               vmDirectory: String, host: LaunchHost) throws(PenError) -> LaunchPlan {
        let name = try VMName(request.name)
        let guestEnvironment = try SessionEnvironment.collect(pairs: request.environment, fromHost: request.environmentFromHost,
                                                              host: host.environment)
        let ports = try request.publish.map { text throws(PenError) in try PublishedPort(text) }
        let diskSize = try request.diskSize.map { text throws(PenError) in try ByteSize.parse(text, what: "--disk-size") }
        if let diskSize { try OverlayDisk.validate(size: diskSize) }
        let memory = try request.memory.map { text throws(PenError) in try VMResources.memoryMiB(text) }
        if let cpus = request.cpus { try VMResources.validate(cpus: cpus) }
        let choice = try acceleratorChoice(request.accel)

        var notices: [String] = []
        let accelerator = try Accelerator.resolve(choice, probe: { host.kvm }, notice: { notices.append($0) })
        let network = NetworkBackend.choose(passt: host.passt, environment: host.environment, ports: ports,
                                            passtLog: vmDirectory + "/passt.log", notice: { notices.append($0) })
        let setupHash = ImageHash.setupHash(profile)
        if let record, record.setupHash != setupHash {
            notices.append("pen: profile '\(profile.name)' has a different setup than when VM '\(name)' was created; this VM will not re-run it")
        }
        let newVM = NewVM(diskSize: diskSize ?? profile.diskSize ?? VMResources.defaultDiskSize, diskSizeGiven: diskSize != nil,
                          cpus: request.cpus ?? profile.cpus ?? host.cores,
                          memoryMiB: memory ?? profile.memoryMiB ?? VMResources.defaultMemoryMiB,
                          profile: profile.name, setupHash: setupHash)

        let interactive = request.command.isEmpty
        var session = SessionConfig(mode: interactive ? .shell : .command, arguments: request.command,
                                    environment: guestEnvironment, setupScript: profile.setup, hostname: name.value,
                                    workspaceTag: GuestContract.workspaceTag)
        if interactive {
            if let term = host.environment["TERM"] { session.environment.append("TERM=\(term)") }
            if let size = host.terminalSize { session.windowSize = size }
        }
        return LaunchPlan(
            name: name, profile: profile.name, newVM: newVM,
            cpus: request.cpus ?? record?.cpus ?? newVM.cpus, memoryMiB: memory ?? record?.memoryMiB ?? newVM.memoryMiB,
            accelerator: accelerator,
            kernelArguments: VMSpec.kernelArguments(accelerator: accelerator, tscKilohertz: host.tscKilohertz),
            network: network, workspace: workspace, session: session, interactive: interactive,
            bootTimeout: host.seconds("PEN_BOOT_TIMEOUT", default: defaultBootTimeout), notices: notices)
    }

    /// A builder VM: the base image with network and no disk, as many CPUs as the host has,
    /// running the build script in build mode.
    public static func builder(_ request: BuilderVMRequest, accelerator: Accelerator, host: LaunchHost,
                               notice: (String) -> Void) -> (VMSpec, SessionConfig) {
        let work = request.workDirectory
        let spec = VMSpec(
            name: "build-\(request.profile)", kernelPath: request.kernelPath, initrdPath: request.initrdPath,
            kernelArguments: VMSpec.kernelArguments(accelerator: accelerator, tscKilohertz: host.tscKilohertz),
            diskPath: nil, cpus: host.cores, memoryMiB: request.memoryMiB, accelerator: accelerator,
            bootLogPath: work + "/boot.log", qemuLogPath: work + "/qemu.log",
            network: NetworkBackend.choose(passt: host.passt, environment: host.environment, ports: [],
                                           passtLog: work + "/passt.log", notice: notice),
            archivePort: true)
        let session = SessionConfig(mode: .build, arguments: ["/bin/sh", "-c", request.script], hostname: "pen-builder")
        return (spec, session)
    }

    public static func acceleratorChoice(_ text: String) throws(PenError) -> AcceleratorChoice {
        guard let choice = AcceleratorChoice(rawValue: text) else {
            throw PenError("invalid --accel '\(text)'", fix: "use auto, kvm or tcg")
        }
        return choice
    }
}
