import ArgumentParser
import Foundation
import PenLaunch

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check this host for what pen needs: QEMU, KVM, the kernel package, tools, disk space, images.",
        discussion: "Exits 0 when nothing failed (warnings included), 1 otherwise.")

    @OptionGroup var output: JSONOption

    func run() throws {
        try reportingErrors {
            let report = HostDoctor(.cli).run()
            try output.print(report) {
                for check in report.checks { check.lines.forEach { print($0) } }
                print("paths:")
                for key in ["profiles", "images", "vms", "init", "qemu"] {
                    print("  " + key.padding(toLength: 9, withPad: " ", startingAt: 0) + ((report.paths[key] ?? nil) ?? "(not found)"))
                }
            }
            if report.failed { throw ExitCode(1) }
        }
    }
}
