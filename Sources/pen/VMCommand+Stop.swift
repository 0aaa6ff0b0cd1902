import ArgumentParser
import Foundation
import PenCore

extension VMCommand {
    struct Stop: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop a running VM: shut its guest down cleanly, or kill it after the timeout.")

        @Argument(help: "The VM's name.")
        var name: String

        @Option(help: "Seconds to wait for a clean shutdown before killing the VM.")
        var timeout: Double = 30

        func run() throws {
            try reportingErrors {
                let vm = VMDirectory(paths: PenPaths(.cli), name: try VMName(name))
                switch try VMStopper.stop(vm, timeout: timeout, say: say) {
                case .notRunning: say("pen: VM '\(vm.name)' is not running")
                case .stopped: say("pen: VM '\(vm.name)' stopped")
                case .forced: say("pen: VM '\(vm.name)' did not shut down within \(Int(timeout)) s; forced it off (its disk may need a journal replay on the next boot)")
                }
            }
        }
    }
}
