import ArgumentParser
import Foundation
import PenCore
import PenLaunch

struct VMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm", abstract: "Start, list, stop and remove VMs.",
        subcommands: [Start.self, List.self, Stop.self, Suspend.self, Fork.self, Checkpoint.self, Checkpoints.self, Rollback.self, Remove.self, Fsck.self, Net.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List VMs: profile, status, resources and disk use.")

        @OptionGroup var output: JSONOption

        func run() throws {
            try reportingErrors {
                try output.list(Catalog(.cli).vms(),
                                columns: ["NAME", "PROFILE", "STATUS", "SESSIONS", "UPTIME", "CPUS", "MEMORY", "DISK", "DIR"]) { vm in
                    // DISK is the ext4 filesystem's own use, not the sparse file's size.
                    let used = vm.diskUsedBytes.map(ByteSize.short) ?? "?"
                    var status = vm.status + (vm.detached == true ? " (detached)" : "")
                    if let at = vm.suspendedAt, let bytes = vm.suspendedBytes {
                        status += " \(Age.format(Date().timeIntervalSince(at))) ago, \(ByteSize.short(bytes))"
                    }
                    return [vm.name, vm.profile, status, vm.sessions.map(String.init) ?? "-",
                            vm.uptimeSeconds.map { Age.format(Double($0)) } ?? "-", String(vm.cpus),
                            ByteSize.short(UInt64(vm.memoryMiB) << 20),
                            "\(used)/\(ByteSize.short(vm.diskSizeBytes))"
                                + (vm.checkpoints > 0 ? "+\(ByteSize.short(vm.checkpointBytes))(\(vm.checkpoints)cp)" : ""),
                            vm.directory ?? "-"]
                }
            }
        }
    }
}
