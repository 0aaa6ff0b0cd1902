import ArgumentParser
import Foundation
import PenCore
import PenWire
import ProfileBuilder

struct Shell: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open a shell in VM NAME (created on first use), or run a command in it.",
        discussion: """
            Without a command the terminal is attached to the guest console; the shell's exit
            ends the session. With `-- CMD…` the command runs non-interactively: its stdout and
            stderr reach pen's, and pen exits with its status. pen's own failures exit with 125.
            """)

    @Argument(help: "The VM's name (letters, digits, '.', '_', '-').")
    var name: String

    @Option(help: "The profile to create the VM from (default: the VM's own, or 'default').")
    var profile: String?

    @Option(help: "Size of the VM's overlay disk when it is created (e.g. 10G).")
    var diskSize: String?

    @Option(help: "Virtual CPUs (default: the profile's, else the host's cores).")
    var cpus: Int?

    @Option(help: "Memory, e.g. 2G or 4096M (default: the profile's, else 2G).")
    var memory: String?

    @Option(help: "Accelerator: auto, kvm or tcg.")
    var accel: String = "auto"

    @Option(help: "Host directory shared read-write at /workspace (default: the current directory).")
    var dir: String?

    @Option(name: .customLong("env"), help: ArgumentHelp("Set KEY=VALUE in the guest shell's environment (repeatable).", valueName: "KEY=VALUE"))
    var envPairs: [String] = []

    @Option(name: .customLong("env-from-host"), help: ArgumentHelp("Pass KEY's value from pen's environment (repeatable; keeps secrets off the command line).", valueName: "KEY"))
    var envFromHost: [String] = []

    @Option(name: .customLong("publish"), help: ArgumentHelp("Forward 127.0.0.1:HOST on the host to GUEST in the VM (repeatable).", valueName: "HOST:GUEST"))
    var publish: [String] = []

    @Argument(parsing: .postTerminator, help: "The command to run instead of a shell.")
    var command: [String] = []

    static let defaultDiskSize: UInt64 = 10 << 30
    static let defaultMemoryMiB = 2048
    static let penFailure: Int32 = 125

    func run() throws {
        let status = try reportingErrors(exitCode: Self.penFailure) { try session() }
        throw ExitCode(status)
    }

    private func session() throws -> Int32 {
        let started = Date()
        // Everything the user typed is checked before anything is created.
        SessionEnvironment.scrubArgumentValues()
        let vmName = try VMName(name)
        let env = ProcessInfo.processInfo.environment
        let guestEnvironment = try SessionEnvironment.collect(pairs: envPairs, fromHost: envFromHost, host: env)
        let ports = try publish.map { try PublishedPort($0) }
        let workspace = try WorkspaceDirectory.resolve(dir ?? FileManager.default.currentDirectoryPath)
        let requestedDisk = try diskSize.map { try ByteSize.parse($0, what: "--disk-size") }
        if let size = requestedDisk { try OverlayDisk.validate(size: size) }
        let requestedMemory = try memory.map { try Resources.memoryMiB($0) }
        if let cpus { try Resources.validate(cpus: cpus) }
        let choice = try Resources.accelerator(accel)
        let qemu = try QEMUBackend.locate(environment: env)
        let initBinary = try PenPaths.initBinary(environment: env)
        let paths = PenPaths(environment: env)
        let vm = VMDirectory(paths: paths, name: vmName)

        let existing = vm.exists ? try vm.loadIfPresent() : nil
        if let existing, let wanted = profile, wanted != existing.profile {
            throw PenError("VM '\(vmName)' was created with profile '\(existing.profile)', not '\(wanted)': drop --profile, or use a new VM name")
        }
        let profileName = profile ?? existing?.profile ?? "default"
        let store = ProfileStore.standard(paths: paths, environment: env)
        let chosen = try store.load(profileName)

        let accelerator = try Accelerator.resolve(choice, notice: say)
        let builder = ProfileImageBuilder(paths: paths, hypervisor: qemu, accelerator: accelerator,
                                          initBinary: initBinary, environment: env, say: say)
        let decisionStarted = Date()
        let image = try builder.ensure(chosen)
        let decisionMicros = UInt64(Date().timeIntervalSince(decisionStarted) * 1_000_000)

        try SafeFiles.makeDirectories(paths.vms)
        let setupHash = ImageHash.setupHash(chosen)
        let (record, lock) = try VMProvisioner.openOrCreate(
            vm, diskSize: requestedDisk ?? chosen.diskSize ?? Self.defaultDiskSize, diskSizeGiven: requestedDisk != nil,
            cpus: cpus ?? chosen.cpus ?? ProcessInfo.processInfo.activeProcessorCount,
            memoryMiB: requestedMemory ?? chosen.memoryMiB ?? Self.defaultMemoryMiB,
            profile: profileName, setupHash: setupHash, notice: say)
        if record.directory != workspace {
            var updated = record
            updated.directory = workspace
            try vm.save(updated)
        }
        if existing != nil && record.setupHash != setupHash {
            say("pen: profile '\(profileName)' has a different setup than when VM '\(vmName)' was created; this VM will not re-run it")
        }

        let interactive = command.isEmpty
        var sessionConfig = SessionConfig(mode: interactive ? .shell : .command, arguments: command,
                                          environment: guestEnvironment, setupScript: chosen.setup,
                                          hostname: vmName.value, workspaceTag: "workspace")
        if interactive {
            if let term = env["TERM"] { sessionConfig.environment.append("TERM=\(term)") }
            if let size = RawTerminal.windowSize(fd: 0) {
                sessionConfig.rows = size.rows
                sessionConfig.cols = size.cols
            }
        }
        var vmConfig = VMConfig(
            name: vmName.value, kernelPath: image.kernelPath, initrdPath: image.initrdPath,
            kernelArguments: VMConfig.kernelArguments(accelerator: accelerator, tscKilohertz: hostTSCKilohertz()),
            diskPath: vm.diskPath, cpus: cpus ?? record.cpus, memoryMiB: requestedMemory ?? record.memoryMiB,
            accelerator: accelerator, bootLogPath: vm.bootLogPath, consoleFD: -1, controlFD: -1)
        vmConfig.workspace = workspace
        vmConfig.publishedPorts = ports
        let passt = Passt.locate(environment: env)
        if passt == nil {
            say("pen: passt not found (install it with `sudo apt-get install passt`); using QEMU's slirp, which lets the guest reach the host's loopback services")
        }
        let timeout = env["PEN_BOOT_TIMEOUT"].flatMap(Double.init) ?? 120
        let runner = SessionRunner(hypervisor: qemu, message: say)
        let outcome = try runner.run(SessionRequest(vm: vmConfig, session: sessionConfig, interactive: interactive,
                                                    qemuLogPath: vm.qemuLogPath, inheritedFDs: [lock.fd],
                                                    bootTimeout: timeout,
                                                    passt: passt.map { ($0, ports, vm.path + "/passt.log") }))
        if env["PEN_TIMINGS"] != nil {
            let stages = [("image_decision", decisionMicros)] + outcome.stages.map { ($0.name, $0.micros) }
                + [("pen_total", UInt64(Date().timeIntervalSince(started) * 1_000_000))]
            say("pen: timings: " + stages.map { "\($0.0)=\($0.1)us" }.joined(separator: " "))
        }
        return outcome.exitStatus
    }
}

/// Checks for the resource flags shared by commands.
enum Resources {
    static func memoryMiB(_ text: String) throws -> Int {
        let bytes = try ByteSize.parse(text, what: "--memory")
        guard bytes % (1 << 20) == 0, bytes >= 256 << 20, bytes <= 1 << 40 else {
            throw PenError("invalid --memory '\(text)': use whole MiB from 256M to 1T, e.g. 2G")
        }
        return Int(bytes >> 20)
    }

    static func validate(cpus: Int) throws {
        guard (1...64).contains(cpus) else { throw PenError("invalid --cpus \(cpus): use 1 to 64") }
    }

    static func accelerator(_ text: String) throws -> AcceleratorChoice {
        guard let choice = AcceleratorChoice(rawValue: text) else {
            throw PenError("invalid --accel '\(text)': use auto, kvm or tcg")
        }
        return choice
    }
}
