import ArgumentParser
import PenCore
import PenLaunch

extension ProfileCommand {
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a profile: its fields, image hash and status, and the VMs using it.")

        @Argument(help: "The profile's name.")
        var name: String

        @OptionGroup var output: JSONOption

        func run() throws {
            try reportingErrors {
                let detail = try Catalog(.cli).profile(name)
                try output.print(detail) {
                    func lines(_ script: String?) -> String { script.map { "\($0.split(separator: "\n").count) line(s)" } ?? "(none)" }
                    print("name      \(detail.name)")
                    print("file      \(detail.path)")
                    if let d = detail.description { print("about     \(d)") }
                    print("packages  \(detail.packages.joined(separator: " ").ifEmpty("(none)"))")
                    print("build     \(lines(detail.build))")
                    if let rules = detail.buildAllow {
                        print("builder   reaches only \((rules + ["apt's Debian mirrors"]).joined(separator: ", "))")
                    }
                    print("setup     \(lines(detail.setup))")
                    print("disk      \(detail.diskSize.map(ByteSize.format) ?? "(default)")")
                    print("vm        cpus \(detail.cpus.map(String.init) ?? "(default)"), memory \(detail.memoryMiB.map { "\($0)M" } ?? "(default)")")
                    print("network   \(detail.network ?? "(default: public)")\(detail.allow.map { ", allow " + $0.joined(separator: " ").ifEmpty("(none)") } ?? "")")
                    print("hash      \(detail.hash ?? "(unknown until the base image exists)")")
                    print("image     \(detail.image.rawValue)\(detail.imageBytes.map { ", \(ByteSize.format($0))" } ?? "")")
                    print("vms       \(detail.vms.joined(separator: " ").ifEmpty("(none)"))")
                }
            }
        }
    }
}
