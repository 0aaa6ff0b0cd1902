import ArgumentParser
import Foundation
import PenCore

extension VMCommand {
    struct Fsck: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a stopped VM's disk with e2fsck (and repair it with --repair).")

        @Argument(help: "The VM's name.")
        var name: String

        @Flag(help: "Repair what e2fsck finds (e2fsck -f -y); without it nothing is written.")
        var repair = false

        func run() throws {
            try reportingErrors {
                let vm = VMDirectory(paths: PenPaths(.cli), name: try VMName(name))
                let outcome = try VMFsck.run(vm, repair: repair)
                if outcome.clean {
                    say("pen: the disk of VM '\(vm.name)' is clean")
                } else if outcome.repaired && repair {
                    say("pen: the disk of VM '\(vm.name)' was repaired")
                } else if outcome.status < 8 && !repair {
                    say("pen: the disk of VM '\(vm.name)' has errors; repair them with `pen vm fsck \(vm.name) --repair`")
                    throw ExitCode(1)
                } else {
                    say("pen: e2fsck could not repair the disk of VM '\(vm.name)' (status \(outcome.status)); it was kept as it is")
                    throw ExitCode(1)
                }
            }
        }
    }
}
