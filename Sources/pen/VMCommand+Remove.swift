import ArgumentParser
import Foundation
import PenCore

extension VMCommand {
    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm", abstract: "Remove a stopped VM and its disk.")

        @Argument(help: "The VM's name.")
        var name: String

        @Flag(help: "Remove without asking, even when the VM's disk holds a lot of data.")
        var force = false

        /// Above this much data on its disk, removing a VM needs a yes (or --force).
        static let confirmAbove: UInt64 = 100_000_000

        func run() throws {
            try reportingErrors {
                let vm = VMDirectory(paths: PenPaths(.cli), name: try VMName(name))
                try VMRemover.checkRemovable(vm)
                let used = VMRemover.dataBytes(vm)
                if used > Self.confirmAbove && !force {
                    let megabytes = used / 1_000_000
                    guard isatty(0) == 1 && isatty(2) == 1 else {
                        throw PenError("VM '\(vm.name)' holds \(megabytes) MB of data; pass --force to remove it without asking")
                    }
                    FileHandle.standardError.write(Data("remove VM '\(vm.name)' and its \(megabytes) MB of data? [y/N] ".utf8))
                    let answer = readLine()?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
                    guard answer == "y" || answer == "yes" else {
                        say("pen: kept VM '\(vm.name)'")
                        throw ExitCode(1)
                    }
                }
                try VMRemover.remove(vm)
                say("pen: removed VM '\(vm.name)'")
            }
        }
    }
}
