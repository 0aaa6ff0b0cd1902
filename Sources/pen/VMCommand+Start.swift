import ArgumentParser
import Foundation
import PenCore
import PenLaunch

extension VMCommand {
    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Boot VM NAME detached: it runs with no session until `pen vm stop` (or the idle timeout).")

        @Argument(help: "The VM's name (created on first use).")
        var name: String

        @Option(help: "The profile to create the VM from (default: the VM's own, or 'default').")
        var profile: String?

        @Option(help: "Host directory shared read-write at /workspace (default: the current directory).")
        var dir: String?

        @Option(help: "Virtual CPUs (default: the profile's, else the host's cores).")
        var cpus: Int?

        @Option(help: "Memory, e.g. 2G or 4096M (default: the profile's, else 2G).")
        var memory: String?

        @Option(help: "Size of the VM's overlay disk when it is created (e.g. 10G).")
        var diskSize: String?

        @Option(name: .customLong("publish"), help: ArgumentHelp("Forward 127.0.0.1:HOST on the host to GUEST in the VM (repeatable).", valueName: "HOST:GUEST"))
        var publish: [String] = []

        @Option(help: "Accelerator: auto, kvm or tcg (default: auto).")
        var accel: String?

        @Option(help: ArgumentHelp("Stop the VM after this long without a session (e.g. 30m, 2h).", valueName: "DURATION"))
        var idleTimeout: String?

        @Flag(help: "Boot the kernel instead of restoring the boot snapshot.")
        var cold = false

        @Option(help: "What the guest reaches: none (no network device) or internet (default: the profile's, else internet).")
        var network: String?

        func run() throws {
            try reportingErrors {
                let request = LaunchRequest(name: name, profile: profile, diskSize: diskSize, cpus: cpus, memory: memory,
                                            accel: accel, directory: dir, publish: publish, detached: true, idleTimeout: idleTimeout,
                                            cold: cold, network: network)
                if try Launcher(say: say).start(request) {
                    say("pen: VM '\(name)' is running; reach it with `pen shell \(name)` or `pen exec \(name) -- CMD`")
                } else {
                    say("pen: VM '\(name)' is already running")
                }
            }
        }
    }
}
