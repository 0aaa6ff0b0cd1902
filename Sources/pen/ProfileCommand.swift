import ArgumentParser
import Foundation
import PenCore
import ProfileBuilder

struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile", abstract: "Build and inspect profiles (TOML files describing VM images).",
        subcommands: [Build.self, List.self, Show.self])

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Bake a profile's image now (a builder VM installs its packages and runs its build script).")

        @Argument(help: "The profile's name.")
        var name: String

        @Flag(help: "Rebuild even when the image is fresh.")
        var force = false

        @Option(help: "Accelerator: auto, kvm or tcg.")
        var accel: String = "auto"

        func run() throws {
            try reportingErrors {
                let env = ProcessInfo.processInfo.environment
                let choice = try Resources.accelerator(accel)
                let paths = PenPaths(environment: env)
                let profile = try ProfileStore.standard(paths: paths, environment: env).load(name)
                let qemu = try QEMUBackend.locate(environment: env)
                let initBinary = try PenPaths.initBinary(environment: env)
                let accelerator = try Accelerator.resolve(choice, notice: say)
                let builder = ProfileImageBuilder(paths: paths, hypervisor: qemu, accelerator: accelerator,
                                                  initBinary: initBinary, environment: env, say: say)
                let image = try builder.ensure(profile, force: force)
                print("\(profile.name) \(image.hash) \(image.initrdPath)")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List profiles and the state of their images.")

        @Flag(help: "Print a JSON list on stdout.")
        var json = false

        func run() throws {
            try reportingErrors {
                let env = ProcessInfo.processInfo.environment
                let paths = PenPaths(environment: env)
                let inspector = ProfileInspector(paths: paths)
                let rows = ProfileStore.standard(paths: paths, environment: env).list().map { inspector.summary($0) }
                if json {
                    try printJSON(rows)
                } else {
                    printTable(["NAME", "PACKAGES", "SETUP", "IMAGE"], rows.map { row in
                        [row.name, row.error == nil ? row.packages.joined(separator: ",").ifEmpty("-") : "-",
                         row.setup ? "yes" : "no", row.error == nil ? row.image.rawValue : "invalid: \(row.error!)"]
                    })
                }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a profile: its fields, image hash and status, and the VMs using it.")

        @Argument(help: "The profile's name.")
        var name: String

        @Flag(help: "Print a JSON object on stdout.")
        var json = false

        func run() throws {
            try reportingErrors {
                let env = ProcessInfo.processInfo.environment
                let paths = PenPaths(environment: env)
                let profile = try ProfileStore.standard(paths: paths, environment: env).load(name)
                let detail = ProfileInspector(paths: paths).detail(profile)
                if json {
                    try printJSON(detail)
                } else {
                    print("name      \(detail.name)")
                    print("file      \(detail.path)")
                    if let d = detail.description { print("about     \(d)") }
                    print("packages  \(detail.packages.joined(separator: " ").ifEmpty("(none)"))")
                    print("build     \(detail.build.map { "\($0.split(separator: "\n").count) line(s)" } ?? "(none)")")
                    print("setup     \(detail.setup.map { "\($0.split(separator: "\n").count) line(s)" } ?? "(none)")")
                    print("disk      \(detail.diskSize.map(ByteSize.format) ?? "(default)")")
                    print("vm        cpus \(detail.cpus.map(String.init) ?? "(default)"), memory \(detail.memoryMiB.map { "\($0)M" } ?? "(default)")")
                    print("hash      \(detail.hash ?? "(unknown until the base image exists)")")
                    print("image     \(detail.image.rawValue)\(detail.imageBytes.map { ", \(ByteSize.format($0))" } ?? "")")
                    print("vms       \(detail.vms.joined(separator: " ").ifEmpty("(none)"))")
                }
            }
        }
    }
}

extension String {
    func ifEmpty(_ replacement: String) -> String { isEmpty ? replacement : self }
}

func printJSON<T: Encodable>(_ value: T) throws {
    print(String(decoding: try PenJSON.encode(value), as: UTF8.self))
}

/// Left-aligned columns, for people; scripts use --json.
func printTable(_ header: [String], _ rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
    for row in all {
        print(row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  "))
    }
}
