import ArgumentParser
import Foundation
import PenCore

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check this host for what pen needs: QEMU, KVM, the kernel package, tools, disk space, images.",
        discussion: "Exits 0 when nothing failed (warnings included), 1 otherwise.")

    @Flag(help: "Print a JSON object on stdout.")
    var json = false

    struct Report: Encodable {
        var checks: [HostCheck]
        var paths: [String: String?]
    }

    func run() throws {
        try reportingErrors {
            let env = ProcessInfo.processInfo.environment
            let report = DoctorChecks(environment: env).run()
            if json {
                try printJSON(report)
            } else {
                for check in report.checks { check.lines.forEach { print($0) } }
                print("paths:")
                for key in ["profiles", "images", "vms", "init", "qemu"] {
                    print("  " + key.padding(toLength: 9, withPad: " ", startingAt: 0) + ((report.paths[key] ?? nil) ?? "(not found)"))
                }
            }
            if report.checks.contains(where: { $0.status == .fail }) { throw ExitCode(1) }
        }
    }
}
