// The one way pen starts a VM: resolve the plan, make sure its image exists (building a
// profile image in a builder VM, itself launched through here), provision the VM under its
// lock, and run it. `pen shell`, `pen profile build` and the builder VM all come through here.
import Foundation
import PenCore
import PenWire
import ProfileBuilder

public struct Launcher {
    public let paths: PenPaths
    public let host: LaunchHost
    let say: (String) -> Void

    public init(host: LaunchHost = .current(), say: @escaping (String) -> Void) {
        self.host = host
        paths = PenPaths(environment: host.environment)
        self.say = say
    }

    var profiles: ProfileStore { ProfileStore.standard(paths: paths, environment: host.environment) }

    /// `pen shell`: boots VM `request.name` (creating it on first use) and runs the request's
    /// command or an interactive shell in it. Returns the session's exit status.
    public func shell(_ request: LaunchRequest) throws(PenError) -> Int32 {
        let started = Date()
        // Everything the user typed is checked before anything is created.
        let vm = VMDirectory(paths: paths, name: try VMName(request.name))
        let workspace = try WorkspaceDirectory.resolve(request.directory ?? host.currentDirectory)
        let qemu = try QEMU.locate(environment: host.environment)
        let initBinary = try PenPaths.initBinary(environment: host.environment)
        let existing = vm.exists ? try vm.loadIfPresent() : nil
        let profile = try profiles.load(try LaunchResolver.profileName(request, record: existing))
        let plan = try LaunchResolver.resolve(request, profile: profile, record: existing, workspace: workspace,
                                              vmDirectory: vm.path, host: host)
        plan.notices.forEach(say)

        let decisionStarted = Date()
        let image = try imageBuilder(initBinary: initBinary, accelerator: plan.accelerator, qemu: qemu).ensure(profile)
        let decisionMicros = micros(since: decisionStarted)

        try SafeFiles.makeDirectories(paths.vms)
        let (record, lock) = try VMProvisioner.openOrCreate(vm, plan.newVM, notice: say)
        if record.directory != workspace {
            var updated = record
            updated.directory = workspace
            try vm.save(updated)
        }
        let spec = VMSpec(name: plan.name.value, kernelPath: image.kernelPath, initrdPath: image.initrdPath,
                          kernelArguments: plan.kernelArguments, diskPath: vm.diskPath, cpus: plan.cpus,
                          memoryMiB: plan.memoryMiB, accelerator: plan.accelerator, bootLogPath: vm.bootLogPath,
                          qemuLogPath: vm.qemuLogPath, network: plan.network, workspace: plan.workspace)
        var boot = BootRequest(spec: spec, session: plan.session)
        boot.interactive = plan.interactive
        boot.bootTimeout = plan.bootTimeout
        boot.keepOpen = [lock.fd]
        let outcome = try VMRunner.run(boot, qemu: qemu, message: say)
        withExtendedLifetime(lock) {}
        if host.environment["PEN_TIMINGS"] != nil {
            let stages = [StageTiming("image_decision", decisionMicros)] + outcome.stages
                + [StageTiming("pen_total", micros(since: started))]
            say("pen: timings: " + stages.map { "\($0.name)=\($0.micros)us" }.joined(separator: " "))
        }
        return outcome.exitStatus
    }

    /// `pen profile build`: bakes the profile's image now (or says it is fresh).
    public func buildProfile(_ name: String, force: Bool, accel: String) throws(PenError) -> (Profile, BootImage) {
        let choice = try LaunchResolver.acceleratorChoice(accel)
        let profile = try profiles.load(name)
        let qemu = try QEMU.locate(environment: host.environment)
        let initBinary = try PenPaths.initBinary(environment: host.environment)
        let accelerator = try Accelerator.resolve(choice, probe: { host.kvm }, notice: say)
        return (profile, try imageBuilder(initBinary: initBinary, accelerator: accelerator, qemu: qemu).ensure(profile, force: force))
    }

    /// `pen image base`: the base image, built when missing or asked to.
    public func baseImage(rebuild: Bool, kernelDeb: String?) throws(PenError) -> (BaseImage, BaseImageManifest) {
        if let deb = kernelDeb, !FileManager.default.isReadableFile(atPath: deb) {
            throw PenError("--kernel-deb \(deb): no such readable file")
        }
        let initBinary = try PenPaths.initBinary(environment: host.environment)
        let image = BaseImage(paths: paths)
        return (image, try image.ensure(initBinary: initBinary, kernelDeb: kernelDeb, rebuild: rebuild, progress: say))
    }

    func imageBuilder(initBinary: String, accelerator: Accelerator, qemu: QEMU) -> ProfileImageBuilder {
        ProfileImageBuilder(paths: paths, initBinary: initBinary,
                            buildTimeout: host.seconds("PEN_BUILD_TIMEOUT", default: LaunchResolver.defaultBuildTimeout),
                            builderVM: { request throws(PenError) in
                                try runBuilderVM(request, accelerator: accelerator, qemu: qemu)
                            }, say: say)
    }

    /// A profile build's VM, booted like every other VM.
    func runBuilderVM(_ request: BuilderVMRequest, accelerator: Accelerator, qemu: QEMU) throws(PenError) -> SessionOutcome {
        let (spec, session) = LaunchResolver.builder(request, accelerator: accelerator, host: host, notice: say)
        var boot = BootRequest(spec: spec, session: session)
        boot.bootTimeout = LaunchResolver.builderBootTimeout
        boot.sessionTimeout = request.timeout
        boot.archivePath = request.archivePath
        boot.output = { _, bytes in request.output(bytes) }
        return try VMRunner.run(boot, qemu: qemu, message: say)
    }
}

func micros(since date: Date) -> UInt64 { UInt64(max(0, Date().timeIntervalSince(date)) * 1_000_000) }
