import ArgumentParser
import Foundation
import PenCore

struct VMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm", abstract: "List, stop and remove VMs.",
        subcommands: [List.self, Stop.self, Remove.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List VMs: profile, status, resources and disk use.")

        @Flag(help: "Print a JSON list on stdout.")
        var json = false

        func run() throws {
            try reportingErrors {
                let rows = VMListing.summaries(paths: PenPaths())
                if json {
                    try printJSON(rows)
                    return
                }
                printTable(["NAME", "PROFILE", "STATUS", "CPUS", "MEMORY", "DISK", "DIR"], rows.map { vm in
                    // DISK is the ext4 filesystem's own use, not the sparse file's size.
                    let used = vm.diskUsedBytes.map(ByteSize.short) ?? "?"
                    return [vm.name, vm.profile, vm.status, String(vm.cpus), ByteSize.short(UInt64(vm.memoryMiB) << 20),
                            "\(used)/\(ByteSize.short(vm.diskSizeBytes))", vm.directory ?? "-"]
                })
            }
        }
    }
}
