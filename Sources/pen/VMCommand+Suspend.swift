import ArgumentParser
import Foundation
import PenCore

extension VMCommand {
    struct Suspend: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Save a running VM's whole machine beside its disk and stop QEMU; `pen vm start`, `pen shell` or `pen exec` resume it.")

        @OptionGroup var target: VMArgument

        @Flag(help: "End the sessions attached, and the processes using /workspace, instead of refusing.")
        var force = false

        func run() throws {
            try reportingErrors {
                let vm = try target.directory()
                guard let connection = try SupervisorConnection.connect(vm, wait: 0) else {
                    throw PenError("VM '\(vm.name)' is not running", fix: "only a running VM can be suspended; see `pen vm ls`")
                }
                defer { connection.close() }
                let saved = try connection.suspend(force: force, seconds: 600)
                say("pen: VM '\(vm.name)' suspended: \(ByteSize.format(saved.bytes)) saved in \(String(format: "%.1f", saved.seconds)) s; `pen shell \(vm.name)` resumes it")
            }
        }
    }
}
