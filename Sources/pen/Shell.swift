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

    @Option(help: "Size of the VM's overlay disk when it is created (e.g. 10G).")
    var diskSize: String?

    @Option(help: "Accelerator: auto, kvm or tcg.")
    var accel: String = "auto"

    @Option(help: ArgumentHelp("A setup script run once, on the VM's first boot.", visibility: .hidden))
    var setupScript: String?

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
        // Everything the user typed is checked before anything is created.
        let vmName = try VMName(name)
        let env = ProcessInfo.processInfo.environment
        let requestedDisk = try diskSize.map { try ByteSize.parse($0, what: "--disk-size") }
        if let size = requestedDisk { try OverlayDisk.validate(size: size) }
        guard let choice = AcceleratorChoice(rawValue: accel) else {
            throw PenError("invalid --accel '\(accel)': use auto, kvm or tcg")
        }
        let setup = try setupScript.map { path -> String in
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw PenError("cannot read the setup script \(path)")
            }
            return text
        }
        let qemu = try QEMUBackend.locate(environment: env)
        let initBinary = try PenPaths.initBinary(environment: env)
        let accelerator = try Accelerator.resolve(choice, notice: say)
        let paths = PenPaths(environment: env)

        let base = BaseImage(paths: paths)
        try base.ensure(initBinary: initBinary, progress: say)

        try SafeFiles.makeDirectories(paths.vms)
        let vm = VMDirectory(paths: paths, name: vmName)
        let (record, lock) = try VMProvisioner.openOrCreate(vm, diskSize: requestedDisk ?? Self.defaultDiskSize,
                                                            diskSizeGiven: requestedDisk != nil,
                                                            cpus: ProcessInfo.processInfo.activeProcessorCount,
                                                            memoryMiB: Self.defaultMemoryMiB, notice: say)

        let interactive = command.isEmpty
        var sessionConfig = SessionConfig(mode: interactive ? .shell : .command, arguments: command,
                                          setupScript: setup, hostname: vmName.value)
        if interactive {
            if let term = env["TERM"] { sessionConfig.environment.append("TERM=\(term)") }
            if let size = RawTerminal.windowSize(fd: 0) {
                sessionConfig.rows = size.rows
                sessionConfig.cols = size.cols
            }
        }
        let vmConfig = VMConfig(
            name: vmName.value, kernelPath: base.kernelPath, initrdPath: base.initrdPath,
            kernelArguments: VMConfig.kernelArguments(accelerator: accelerator, tscKilohertz: hostTSCKilohertz()),
            diskPath: vm.diskPath, cpus: record.cpus, memoryMiB: record.memoryMiB, accelerator: accelerator,
            bootLogPath: vm.bootLogPath, consoleFD: -1, controlFD: -1)
        let timeout = env["PEN_BOOT_TIMEOUT"].flatMap(Double.init) ?? 120
        let runner = SessionRunner(hypervisor: qemu, message: say)
        let outcome = try runner.run(SessionRequest(vm: vmConfig, session: sessionConfig, interactive: interactive,
                                                    qemuLogPath: vm.qemuLogPath, inheritedFDs: [lock.fd],
                                                    bootTimeout: timeout))
        if env["PEN_TIMINGS"] != nil {
            say("pen: timings: " + outcome.stages.map { "\($0.name)=\($0.micros / 1000)ms" }.joined(separator: " "))
        }
        return outcome.exitStatus
    }
}
