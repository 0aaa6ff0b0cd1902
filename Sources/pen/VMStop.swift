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
                let vmName = try VMName(name)
                guard timeout >= 0, timeout.isFinite else {
                    throw PenError("invalid --timeout \(timeout): use a number of seconds, 0 or more")
                }
                let vm = VMDirectory(paths: PenPaths(), name: vmName)
                try SafeFiles.refuseSymlink(vm.path)
                guard SafeFiles.isDirectory(vm.path) else {
                    throw PenError("no VM named '\(vmName)': see `pen vm ls`")
                }
                switch try VMStopper.stop(vm, timeout: timeout, say: say) {
                case .notRunning: say("pen: VM '\(vmName)' is not running")
                case .stopped: say("pen: VM '\(vmName)' stopped")
                case .forced: say("pen: VM '\(vmName)' did not shut down within \(Int(timeout)) s; forced it off (its disk may need a journal replay on the next boot)")
                }
            }
        }
    }
}
