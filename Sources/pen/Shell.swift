import ArgumentParser
import Foundation
import PenCore
import PenLaunch

struct Shell: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open a shell in VM NAME (created on first use), or run a command in it.",
        discussion: """
            A running VM gets a new session; a stopped one boots, and stops again when its last
            session ends (unless `pen vm start` started it). Without a command: a login shell, on a
            pty when stdin is a terminal, else reading its commands from stdin. With `-- CMD…`
            the command runs with pipes: its stdout and stderr reach pen's, and pen exits with its
            status. pen's own failures exit with 125.
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

    @Option(help: "Accelerator: auto, kvm or tcg (default: auto).")
    var accel: String?

    @Option(help: "Host directory shared read-write at /workspace (default: the current directory).")
    var dir: String?

    @Option(name: .customLong("env"), help: ArgumentHelp("Set KEY=VALUE in the guest shell's environment (repeatable).", valueName: "KEY=VALUE"))
    var envPairs: [String] = []

    @Option(name: .customLong("env-from-host"), help: ArgumentHelp("Pass KEY's value from pen's environment (repeatable; keeps secrets off the command line).", valueName: "KEY"))
    var envFromHost: [String] = []

    @Option(name: .customLong("publish"), help: ArgumentHelp("Forward 127.0.0.1:HOST on the host to GUEST in the VM (repeatable).", valueName: "HOST:GUEST"))
    var publish: [String] = []

    @Flag(help: "Boot the kernel instead of restoring the boot snapshot (when the VM is not running).")
    var cold = false

    @Option(help: "What the guest reaches: none (no network device) or internet (default: the profile's, else internet).")
    var network: String?

    @Argument(parsing: .postTerminator, help: "The command to run instead of a shell.")
    var command: [String] = []

    /// pen's own failures, as opposed to the command's exit status.
    static let penFailure: Int32 = 125

    func run() throws {
        // --env values must not stay readable in the host's process list while the VM runs.
        SessionEnvironment.scrubArgumentValues()
        let request = LaunchRequest(name: name, profile: profile, diskSize: diskSize, cpus: cpus, memory: memory,
                                    accel: accel, directory: dir, environment: envPairs, environmentFromHost: envFromHost,
                                    publish: publish, command: command, cold: cold, network: network)
        let status = try reportingErrors(exitCode: Self.penFailure) { try Launcher(say: say).shell(request) }
        throw ExitCode(status)
    }
}
