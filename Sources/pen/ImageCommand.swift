import ArgumentParser
import Foundation
import PenCore
import PenLaunch
import ProfileBuilder

struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image", abstract: "Manage images.", subcommands: [Base.self, List.self, Verify.self, Prune.self])

    struct Base: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build the base image (kernel + Debian minbase root + guest init).")

        @Flag(help: "Rebuild even when a current base image exists.")
        var rebuild = false

        @Option(help: "Use this kernel .deb instead of downloading Debian's linux-image-amd64.")
        var kernelDeb: String?

        @OptionGroup var output: JSONOption

        func run() throws {
            try reportingErrors {
                let (image, manifest) = try launcher().baseImage(rebuild: rebuild, kernelDeb: kernelDeb)
                try output.print(manifest) {
                    print("base image: \(image.directory)")
                    print("  kernel   \(manifest.kernelPackage) (\(manifest.kernelRelease)), \(ByteSize.format(manifest.kernelBytes)) vmlinux")
                    print("  root     \(ByteSize.format(manifest.root.bytes)) EROFS image, \(ByteSize.format(manifest.root.unpackedBytes)) of files, \(manifest.root.entryCount) entries")
                    print("  initrd   \(ByteSize.format(manifest.initrdBytes)) (the init and \(manifest.modules.count) modules)")
                    print("  modules  \(manifest.modules.joined(separator: " "))")
                    print("  identity \(try image.identity())")
                }
            }
        }
    }
}
