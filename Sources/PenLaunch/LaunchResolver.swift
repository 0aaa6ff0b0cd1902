// The cascade that decides a boot: flags win over the VM's record, which wins over the
// profile, which wins over pen's defaults; the settings give timeouts and the network. The
// result is the whole boot description, for user VMs and builder VMs alike.
// Pure: the same inputs always give the same plan, and every bad input is refused here,
// before anything on disk is touched.
import PenCore
import PenWire
import ProfileBuilder

public enum LaunchResolver {
    /// Seconds a builder VM may take to boot.
    static let builderBootTimeout = 300.0

    /// The profile a launch uses: the flag, else the VM's own, else `default`. A VM never
    /// changes profile.
    public static func profileName(_ request: BootRequest, record: VMRecord?) throws(PenError) -> String {
        if let record, let wanted = request.profile, wanted != record.profile {
            throw PenError("VM '\(record.name)' was created with profile '\(record.profile)', not '\(wanted)'",
                           fix: "drop --profile, or use a new VM name")
        }
        return request.profile ?? record?.profile ?? "default"
    }

    /// Checks every boot flag and describes the whole boot of user VM `request.name`. `workspace`
    /// is the shared directory, already resolved (see WorkspaceDirectory), `workspaceOwner` its
    /// owner (HostUser.owner), `qemu` the QEMU that will run it. The image paths stay empty
    /// (LaunchPlan.use), the snapshot undecided.
    public static func describe(_ request: BootRequest, profile: Profile, record: VMRecord?, workspace: String,
                                workspaceOwner: HostUser?, qemu: QEMU, host: LaunchHost) throws(PenError) -> LaunchPlan {
        let name = try VMName(request.name)
        let flags = try BootFlags(request)
        let paths = PenPaths(host.settings)
        let vm = VMDirectory(paths: paths, name: name)
        var notices: [String] = []
        let accelerator = try Accelerator.resolve(flags.accelerator, probe: { host.kvm }, notice: { notices.append($0) })
        let (mode, rules) = networkChoice(flags, record: record, profile: profile)
        let network = try NetworkBackend.choose(mode, passt: host.passt, slirp: host.settings.slirp, ports: flags.ports,
                                                passtLog: vm.path + "/passt.log", notice: { notices.append($0) })
        if mode == .allow && rules.isEmpty {
            notices.append("pen: --network allow with no --allow rule: the guest reaches nothing")
        }
        let setupHash = ImageHash.setupHash(profile)
        if let record, record.setupHash != setupHash {
            notices.append("pen: profile '\(profile.name)' has a different setup than when VM '\(name)' was created; this VM will not re-run it")
        }
        let newVM = NewVM(diskSize: flags.diskSize ?? profile.diskSize ?? VMResources.defaultDiskSize,
                          diskSizeGiven: flags.diskSize != nil, cpus: request.cpus ?? profile.cpus ?? host.cores,
                          memoryMiB: flags.memoryMiB ?? profile.memoryMiB ?? VMResources.defaultMemoryMiB,
                          profile: profile.name, setupHash: setupHash)
        let cpus = request.cpus ?? record?.cpus ?? newVM.cpus
        let memoryMiB = flags.memoryMiB ?? record?.memoryMiB ?? newVM.memoryMiB
        var spec = VMSpec(name: name.value, kernelPath: "", initrdPath: "", rootImagePath: nil,
                          kernelArguments: VMSpec.kernelArguments(accelerator: accelerator, tscKilohertz: host.tscKilohertz,
                                                                  logLevel: host.settings.bootLogLevel),
                          diskPath: vm.diskPath, cpus: cpus, memoryMiB: memoryMiB, accelerator: accelerator,
                          bootLogPath: vm.bootLogPath, qemuLogPath: vm.qemuLogPath, network: network, workspace: workspace)
        // pen as root (so QEMU): the workspace keeps the guest's owners, modes and device nodes
        // as metadata only (see VMSpec.workspaceMapped), and QEMU drops to the workspace's owner.
        spec.workspaceMapped = host.runsAsRoot
        spec.qemuUser = QEMUUser.choose(penIsRoot: host.runsAsRoot, workspaceOwner: workspaceOwner.map { ($0.uid, $0.gid) },
                                        hasWorkspace: true, accelerator: accelerator, kvmGroup: host.kvmGroup)
        spec.qemuCopyDirectory = paths.qemuCopyDirectory
        var facts = BootFacts(profile: profile.name, cpus: cpus, memoryMiB: memoryMiB, workspace: workspace,
                              published: flags.ports, accelerator: accelerator,
                              network: mode)
        facts.allow = mode == .allow ? rules : nil
        var supervisor = SupervisorPlan(
            spec: spec, qemu: qemu.executable,
            boot: BootConfig(hostname: name.value, setupScript: profile.setup, workspaceTag: GuestContract.workspaceTag,
                             networkPolicy: mode.isPolicy),
            detached: request.detached, idleTimeout: flags.idleTimeout, bootTimeout: host.settings.bootTimeout, facts: facts,
            snapshotStore: paths.snapshotDirectory)
        if mode.isPolicy {
            supervisor.relay = RelayPlan(policy: NetworkPolicy(mode: mode, rules: rules), logPath: vm.path + "/network.log",
                                         published: flags.ports, benchmarkingIsPublic: host.settings.benchmarkingIsPublic)
            supervisor.relay?.recordPath = vm.recordPath
        }
        supervisor.suspendWhenIdle = flags.suspendWhenIdle
        return LaunchPlan(supervisor: supervisor, newVM: newVM, notices: notices,
                          cold: request.cold || !host.settings.snapshots)
    }

    /// The network mode and rules: the flags', else what `pen vm net` left in the VM's record,
    /// else the profile's, else `public`. Rules alone (`--allow`, `[network] allow`) mean `allow`.
    static func networkChoice(_ flags: BootFlags, record: VMRecord?, profile: Profile) -> (NetworkMode, [NetworkRule]) {
        if let mode = flags.network { return (mode, mode == .allow ? (flags.allow.isEmpty ? profile.allow ?? [] : flags.allow) : []) }
        if let mode = record?.network { return (mode, mode == .allow ? record?.allow ?? [] : []) }
        if let mode = profile.network { return (mode, mode == .allow ? profile.allow ?? [] : []) }
        if let rules = profile.allow, !rules.isEmpty { return (.allow, rules) }
        return (.default, [])
    }

    /// The flags that only apply at boot, given for a running VM that booted with other values:
    /// the first one named in an error (an unchanged value, or no flag, is fine).
    public static func conflict(_ request: BootRequest, running facts: BootFacts, workspace: String?,
                                vmName: String) throws(PenError) {
        let flags = try BootFlags(request)
        func refuse(_ flag: String, _ running: String) -> PenError {
            PenError("VM '\(vmName)' is running with \(running)", cause: nil,
                     fix: "\(flag) applies when a VM boots: drop it, or stop the VM first (`pen vm stop \(vmName)`)")
        }
        if let wanted = request.profile, wanted != facts.profile {
            throw PenError("VM '\(vmName)' was created with profile '\(facts.profile)', not '\(wanted)'",
                           fix: "drop --profile, or use a new VM name")
        }
        if let cpus = request.cpus, cpus != facts.cpus { throw refuse("--cpus", "\(facts.cpus) CPUs") }
        if let memory = flags.memoryMiB, memory != facts.memoryMiB { throw refuse("--memory", "\(facts.memoryMiB) MiB of memory") }
        if !flags.ports.isEmpty, flags.ports != facts.published {
            throw refuse("--publish", facts.published.isEmpty ? "no published ports" : "ports \(facts.published.map(\.description).joined(separator: ", "))")
        }
        if let workspace, workspace != facts.workspace { throw refuse("--dir", "\(facts.workspace ?? "no directory") shared") }
        if let network = flags.network, let running = facts.network, network != running {
            throw refuse("--network", "--network \(running.rawValue)")
        }
        if flags.accelerator != .auto, Accelerator(rawValue: flags.accelerator.rawValue) != facts.accelerator {
            throw refuse("--accel", facts.accelerator.rawValue.uppercased())
        }
    }

    /// A builder VM: the base image with network and no disk, as many CPUs as the host has, kept
    /// until the builder stops it, streaming its root over an archive port; always cold.
    public static func describe(builder request: BuilderVMRequest, accelerator: Accelerator, qemu: QEMU,
                                host: LaunchHost) throws(PenError) -> LaunchPlan {
        let work = request.workDirectory
        var notices: [String] = []
        let network = try NetworkBackend.choose(.public, passt: host.passt, slirp: host.settings.slirp, ports: [],
                                                passtLog: work + "/passt.log", notice: { notices.append($0) })
        var spec = VMSpec(
            name: "build-\(request.profile)", kernelPath: request.kernelPath, initrdPath: request.initrdPath,
            rootImagePath: request.rootImagePath,
            kernelArguments: VMSpec.kernelArguments(accelerator: accelerator, tscKilohertz: host.tscKilohertz,
                                                    logLevel: host.settings.bootLogLevel),
            diskPath: nil, cpus: host.cores, memoryMiB: request.memoryMiB, accelerator: accelerator,
            bootLogPath: work + "/boot.log", qemuLogPath: work + "/qemu.log",
            network: network,
            archivePort: true)
        spec.qemuUser = QEMUUser.choose(penIsRoot: host.runsAsRoot, workspaceOwner: nil, hasWorkspace: false,
                                        accelerator: accelerator, kvmGroup: host.kvmGroup)
        var plan = SupervisorPlan(spec: spec, qemu: qemu.executable,
                                  boot: BootConfig(rootMode: .image, hostname: "pen-builder", networkPolicy: true),
                                  detached: true, idleTimeout: nil, bootTimeout: builderBootTimeout, archivePath: request.archivePath,
                                  facts: BootFacts(profile: request.profile, cpus: host.cores, memoryMiB: request.memoryMiB,
                                                   workspace: nil, published: [], accelerator: accelerator))
        if let limit = host.settings.maxRootSize { plan.archiveLimit = limit }
        // The build's downloads go through the relay: public addresses only, or what `[build] allow` names.
        let policy = request.allow.map { NetworkPolicy(mode: .allow, rules: $0) } ?? NetworkPolicy(mode: .public)
        plan.relay = RelayPlan(policy: policy, logPath: work + "/network.log",
                               benchmarkingIsPublic: host.settings.benchmarkingIsPublic)
        return LaunchPlan(supervisor: plan, newVM: nil, notices: notices, cold: true)
    }

    public static func acceleratorChoice(_ text: String) throws(PenError) -> AcceleratorChoice {
        guard let choice = AcceleratorChoice(rawValue: text) else {
            throw PenError("invalid --accel '\(text)'", fix: "use auto, kvm or tcg")
        }
        return choice
    }
}

/// The boot flags of a request, parsed and checked.
struct BootFlags {
    var ports: [PublishedPort]
    var diskSize: UInt64?
    var memoryMiB: Int?
    var accelerator: AcceleratorChoice
    var idleTimeout: Double?
    /// `--on-idle suspend`: the idle timeout suspends the VM instead of stopping it.
    var suspendWhenIdle = false
    var network: NetworkMode?
    var allow: [NetworkRule]

    init(_ request: BootRequest) throws(PenError) {
        network = try request.network.map { text throws(PenError) in try NetworkMode.parse(text, what: "--network") }
        allow = try request.allow.map { text throws(PenError) in try NetworkRule(text) }
        if !allow.isEmpty, let network, network != .allow {
            throw PenError("--allow names what --network allow lets through, and this boot asks for --network \(network.rawValue)",
                           fix: "drop --allow, or use --network allow")
        }
        if !allow.isEmpty { network = .allow }
        ports = try request.publish.map { text throws(PenError) in try PublishedPort(text) }
        diskSize = try request.diskSize.map { text throws(PenError) in try ByteSize.parse(text, what: "--disk-size") }
        if let diskSize { try OverlayDisk.validate(size: diskSize) }
        memoryMiB = try request.memory.map { text throws(PenError) in try VMResources.memoryMiB(text) }
        if let cpus = request.cpus { try VMResources.validate(cpus: cpus) }
        accelerator = try LaunchResolver.acceleratorChoice(request.accel ?? "auto")
        idleTimeout = try request.idleTimeout.map { text throws(PenError) in try Duration.seconds(text, flag: "--idle-timeout") }
        switch request.onIdle {
        case nil, "stop": break
        case "suspend": suspendWhenIdle = true
        case let other?: throw PenError("invalid --on-idle '\(other)'", fix: "use suspend or stop")
        }
        if request.onIdle != nil && idleTimeout == nil {
            throw PenError("--on-idle says what the idle timeout does, and no --idle-timeout is given", fix: "add --idle-timeout DURATION (e.g. 30m)")
        }
    }
}
