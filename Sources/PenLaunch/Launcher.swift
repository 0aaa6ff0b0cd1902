// The one way pen starts and reaches VMs: resolve the plan, make sure its image exists
// (building a profile image in a builder VM, itself started through here), provision the VM
// under its lock, start its supervisor; then attach sessions to the running VM. `pen shell`,
// `pen exec`, `pen vm start`, `pen cp`, `pen profile build` and the builder VM come through here.
import Foundation
import PenCore
import PenWire
import ProfileBuilder

public struct Launcher {
    public let paths: PenPaths
    public let host: LaunchHost
    let say: (String) -> Void

    public init(host: LaunchHost, say: @escaping (String) -> Void) {
        self.host = host
        paths = PenPaths(host.settings)
        self.say = say
    }

    var settings: Settings { host.settings }
    var profiles: ProfileStore { ProfileStore.standard(paths: paths, settings: settings) }
    var bootTimeout: Double { settings.bootTimeout }

    func vmDirectory(_ name: String) throws(PenError) -> VMDirectory {
        VMDirectory(paths: paths, name: try VMName(name))
    }

    // MARK: sessions

    /// `pen shell`: a session in VM `request.name`, booting it first when it is not running
    /// (then it stops with its last session). Returns the session's exit status.
    public func shell(_ request: BootRequest, _ options: SessionOptions) throws(PenError) -> Int32 {
        let started = Date()
        let vm = try vmDirectory(request.name)
        let session = try SessionResolver.resolve(options, host: host)
        var timings: [StageTiming] = []
        var connection = try running(vm, request)
        if connection == nil { connection = try boot(vm, request, timings: &timings) }
        return try attach(connection!, session, vm: vm, started: started, timings: timings)
    }

    /// `pen exec`: a session in running VM `name`.
    public func exec(_ name: String, _ options: SessionOptions) throws(PenError) -> Int32 {
        _ = try SignalPipe.shared()
        let vm = try vmDirectory(name)
        let session = try SessionResolver.resolve(options, host: host)
        var connection = try SupervisorConnection.connect(vm, wait: bootTimeout)
        if connection == nil, SuspendStore(vmPath: vm.path).exists {
            // A suspended VM is resumed for the command (detached, as `pen vm start` would).
            // Its own workspace, not the caller's directory: the sandbox's processes see what they saw;
            // and the idleness its last `pen vm start` asked for.
            let record = try vm.loadIfPresent()
            _ = try start(BootRequest(name: name, directory: record?.directory,
                                      idleTimeout: record?.idleTimeout.map { "\(Int($0))s" },
                                      onIdle: record?.suspendWhenIdle == true ? "suspend" : nil))
            connection = try SupervisorConnection.connect(vm, wait: bootTimeout)
        }
        guard let connection else {
            throw PenError("VM '\(vm.name)' is not running", fix: "start it with `pen vm start \(vm.name)`")
        }
        return try attach(connection, session, vm: vm, started: Date(), timings: [])
    }

    /// `pen cp`: files between the host and a running VM. Returns the guest tar's status.
    public func copy(_ request: CopyRequest) throws(PenError) -> Int32 {
        try Copier(launcher: self, request: request).run()
    }

    /// `pen vm start`: boots the VM detached; false when it was running already.
    public func start(_ request: BootRequest) throws(PenError) -> Bool {
        let vm = try vmDirectory(request.name)
        var detached = request
        detached.detached = true
        if let connection = try running(vm, detached) {
            connection.close()
            return false
        }
        var timings: [StageTiming] = []
        try boot(vm, detached, timings: &timings).close()
        return true
    }

    /// The running VM's supervisor, after checking that no boot-only flag asks for something else.
    func running(_ vm: VMDirectory, _ request: BootRequest) throws(PenError) -> SupervisorConnection? {
        guard let connection = try SupervisorConnection.connect(vm, wait: bootTimeout) else { return nil }
        do {
            let workspace = try request.directory.map { dir throws(PenError) in
                try WorkspaceDirectory.resolve(dir, guard: .init(paths: paths, settings: settings))
            }
            try LaunchResolver.conflict(request, running: connection.status.facts, workspace: workspace, vmName: vm.name.value)
        } catch {
            connection.close()
            throw error
        }
        return connection
    }

    private func attach(_ connection: SupervisorConnection, _ session: SessionPlan, vm: VMDirectory,
                        started: Date, timings: [StageTiming]) throws(PenError) -> Int32 {
        let stages = connection.status.stages
        try connection.open(session.request)
        let client = SessionClient(connection: connection.fd, vmName: vm.name.value, io: session.io, message: say)
        let opened = Date()
        let status = try client.run(diskPath: vm.diskPath)
        if settings.timings {
            let guest = BootStage.allCases.compactMap { stage in stages[stage.rawValue].map { StageTiming(stage, $0) } }
            let ended = client.endedAt ?? Date()
            let session = [StageTiming("session", UInt64(max(0, ended.timeIntervalSince(opened)) * 1e6)),
                           StageTiming("stop", micros(since: ended))]
            let all = timings + guest + session + [StageTiming("pen_total", micros(since: started))]
            say("pen: timings: " + all.map { "\($0.name)=\($0.micros)us" }.joined(separator: " "))
        }
        return status
    }

    // MARK: booting

    /// Boots VM `vm` for `request` and returns a connection to its supervisor. Another pen
    /// booting it at the same moment wins the VM's lock: then this one attaches to that boot.
    private func boot(_ vm: VMDirectory, _ request: BootRequest,
                      timings: inout [StageTiming]) throws(PenError) -> SupervisorConnection {
        for _ in 0..<5 {
            do {
                timings = try startSupervisor(vm, request)
                if let connection = try SupervisorConnection.connect(vm, wait: bootTimeout) { return connection }
            } catch let error where error == VMLock.busy(vm.name) {
                // Another pen holds the lock: it is booting the VM (or stopping it); attach to that boot.
                if let connection = try running(vm, request) { return connection }
            }
        }
        throw PenError("VM '\(vm.name)' could not be started", fix: "see \(vm.supervisorLogPath)")
    }

    /// Boots the VM; returns pen's own timings (the image decision, the supervisor's start until ready).
    private func startSupervisor(_ vm: VMDirectory, _ request: BootRequest) throws(PenError) -> [StageTiming] {
        let workspace = try WorkspaceDirectory.resolve(request.directory ?? host.currentDirectory,
                                                       explicit: request.directory != nil,
                                                       guard: .init(paths: paths, settings: settings))
        let qemu = try QEMU.locate(settings)
        let initBinary = try PenPaths.initBinary(settings)
        let existing = vm.exists ? try vm.loadIfPresent() : nil
        let profile = try profiles.load(try LaunchResolver.profileName(request, record: existing))
        var plan = try LaunchResolver.describe(request, profile: profile, record: existing, workspace: workspace,
                                               workspaceOwner: HostUser.owner(of: workspace), qemu: qemu, host: host)
        plan.notices.forEach(say)
        let decisionStarted = Date()
        let image = try imageBuilder(initBinary: initBinary, accelerator: plan.spec.accelerator, qemu: qemu).ensure(profile)
        let decision = StageTiming("image_decision", micros(since: decisionStarted))
        // From here a stop is caught: asked for while the VM boots, it reaches its session.
        // (Building an image before this point stops like any program.)
        _ = try SignalPipe.shared()

        try SafeFiles.makeDirectories(paths.vms)
        guard let newVM = plan.newVM else { preconditionFailure("a user VM's plan says how to create it") }
        let (record, lock) = try VMProvisioner.openOrCreate(vm, newVM, notice: say)
        var updated = record
        updated.directory = workspace
        if plan.supervisor.detached {
            updated.idleTimeout = plan.supervisor.idleTimeout
            updated.suspendWhenIdle = plan.supervisor.suspendWhenIdle ? true : nil
        }
        if updated != record { try vm.save(updated) }
        plan.use(image)
        let machineKey = SnapshotChooser.key(plan.spec, kernelSHA256: image.kernelSHA256, initrdSHA256: image.initrdSHA256,
                                             rootImageSHA256: image.rootImageSHA256, qemu: qemu)
        plan.supervisor.suspendStore = vm.path
        plan.supervisor.machineKey = machineKey
        if let resume = ResumeChooser.choose(vmName: vm.name.value, store: SuspendStore(vmPath: vm.path), key: machineKey,
                                             cold: request.cold, say: say) {
            plan.use(resume)
        } else if !plan.cold {
            plan.use(SnapshotChooser(store: BootSnapshotStore(paths: paths), say: say)
                .choose(plan.spec, kernelSHA256: image.kernelSHA256, initrdSHA256: image.initrdSHA256,
                        rootImageSHA256: image.rootImageSHA256, qemu: qemu))
        }
        let verifiedState = plan.spec.snapshotDescriptor
        defer { if let verifiedState { close(verifiedState) } }
        let spawned = Date()
        _ = try SupervisorProcess.start(plan.supervisor, run: vm.run, lock: lock.fd, logPath: vm.supervisorLogPath,
                                        attached: false, inheriting: verifiedState.map { [$0] } ?? [], settings: settings)
        withExtendedLifetime(lock) {}  // the supervisor holds the lock now (and QEMU with it)
        return [decision, StageTiming("supervisor_to_ready", micros(since: spawned))]
    }

    // MARK: images

    /// `pen profile build`: bakes the profile's image now (or says it is fresh).
    public func buildProfile(_ name: String, force: Bool, accel: String) throws(PenError) -> (Profile, BootImage) {
        let choice = try LaunchResolver.acceleratorChoice(accel)
        let profile = try profiles.load(name)
        let qemu = try QEMU.locate(settings)
        let initBinary = try PenPaths.initBinary(settings)
        let accelerator = try Accelerator.resolve(choice, probe: { host.kvm }, notice: say)
        return (profile, try imageBuilder(initBinary: initBinary, accelerator: accelerator, qemu: qemu).ensure(profile, force: force))
    }

    /// `pen image base`: the base image, built when missing or asked to.
    public func baseImage(rebuild: Bool, kernelDeb: String?) throws(PenError) -> (BaseImage, BaseImageManifest) {
        if let deb = kernelDeb, !FileManager.default.isReadableFile(atPath: deb) {
            throw PenError("--kernel-deb \(deb): no such readable file")
        }
        let initBinary = try PenPaths.initBinary(settings)
        let image = BaseImage(paths: paths)
        return (image, try image.ensure(initBinary: initBinary, kernelDeb: kernelDeb, rebuild: rebuild, progress: say))
    }

    func imageBuilder(initBinary: String, accelerator: Accelerator, qemu: QEMU) -> ProfileImageBuilder {
        ProfileImageBuilder(paths: paths, initBinary: initBinary,
                            buildTimeout: settings.buildTimeout, rootLimit: settings.maxRootSize ?? RootTree.defaultMaxBytes,
                            builderVM: { request throws(PenError) in
                                // Its sessions catch stops; packing the image afterwards must not.
                                defer { SignalPipe.release() }
                                return try BuilderRun(launcher: self, request: request, accelerator: accelerator, qemu: qemu).run()
                            }, say: say)
    }
}

func micros(since date: Date) -> UInt64 { UInt64(max(0, Date().timeIntervalSince(date)) * 1_000_000) }
