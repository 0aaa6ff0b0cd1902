import ArgumentParser
import Foundation
import PenCore

extension VMCommand {
    struct Checkpoint: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Keep a stopped or suspended VM's disk (and a suspended one's processes) under LABEL, to roll back to.")

        @OptionGroup var target: VMArgument

        @Argument(help: "The checkpoint's label (default: cp-DATE-TIME).")
        var label: String?

        @Option(name: .customLong("rm"), help: ArgumentHelp("Remove this checkpoint instead.", valueName: "LABEL"))
        var remove: String?

        func run() throws {
            try reportingErrors {
                let vm = try target.directory()
                let checkpoints = VMCheckpoints(vm)
                if let remove {
                    try checkpoints.remove(remove)
                    return say("pen: VM '\(vm.name)': checkpoint '\(remove)' removed")
                }
                let made = try checkpoints.make(try VMCheckpoints.label(label))
                say("pen: VM '\(vm.name)': checkpoint '\(made.label)' (\(ByteSize.format(made.bytes))\(made.withMemory ? ", its processes too" : "")); `pen vm rollback \(vm.name) \(made.label)` goes back to it")
            }
        }
    }

    struct Checkpoints: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a VM's checkpoints.")

        @OptionGroup var target: VMArgument
        @OptionGroup var output: JSONOption

        func run() throws {
            try reportingErrors {
                let vm = try target.directory()
                guard vm.exists else { throw PenError("no VM named '\(vm.name)'", fix: "see `pen vm ls`") }
                try output.list(VMCheckpoints(vm).list(), columns: ["LABEL", "CREATED", "SIZE", "PROCESSES"]) { record in
                    [record.label, Age.format(Date().timeIntervalSince(record.createdAt)) + " ago", ByteSize.short(record.bytes),
                     record.withMemory ? "kept" : "-"]
                }
            }
        }
    }

    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put a stopped or suspended VM back to a checkpoint: its disk, and its processes if the checkpoint kept them.")

        @OptionGroup var target: VMArgument

        @Argument(help: "The checkpoint's label (see `pen vm checkpoints`).")
        var label: String

        func run() throws {
            try reportingErrors {
                let vm = try target.directory()
                let record = try VMCheckpoints(vm).rollback(to: try VMName(label, kind: "checkpoint label").value)
                say("pen: VM '\(vm.name)' is back at checkpoint '\(record.label)'\(record.withMemory ? " (suspended: its processes come back with `pen shell \(vm.name)`)" : "")")
            }
        }
    }
}
