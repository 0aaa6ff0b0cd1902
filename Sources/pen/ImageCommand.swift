import ArgumentParser
import Foundation
import PenCore
import ProfileBuilder

struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image", abstract: "Manage images.", subcommands: [Base.self, List.self, Verify.self])

    struct Base: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build the base image (kernel + Debian minbase root + guest init).")

        @Flag(help: "Rebuild even when a current base image exists.")
        var rebuild = false

        @Option(help: "Use this kernel .deb instead of downloading Debian's linux-image-amd64.")
        var kernelDeb: String?

        @Flag(help: "Print the manifest as JSON on stdout.")
        var json = false

        func run() throws {
            try reportingErrors {
                let paths = PenPaths()
                if let deb = kernelDeb, !FileManager.default.isReadableFile(atPath: deb) {
                    throw PenError("--kernel-deb \(deb): no such readable file")
                }
                let initBinary = try PenPaths.initBinary()
                let image = BaseImage(paths: paths)
                let manifest = try image.ensure(initBinary: initBinary, kernelDeb: kernelDeb, rebuild: rebuild, progress: say)
                if json {
                    try printJSON(manifest)
                } else {
                    print("base image: \(image.directory)")
                    print("  kernel   \(manifest.kernelPackage) (\(manifest.kernelRelease)), \(ByteSize.format(manifest.kernelBytes)) vmlinux")
                    print("  initrd   \(ByteSize.format(manifest.initrdBytes)) compressed, \(ByteSize.format(manifest.unpackedBytes)) unpacked, \(manifest.entryCount) entries")
                    print("  modules  \(manifest.modules.joined(separator: " "))")
                    print("  identity \(try image.identity())")
                }
            }
        }
    }
}
