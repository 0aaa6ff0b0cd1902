import ArgumentParser
import Foundation
import PenCore
import ProfileBuilder

/// Hidden entry points to pen's own building blocks, so `make bench` times exactly what pen runs.
struct BenchTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-tool", abstract: "Internal: pen's building blocks for the benchmarks.",
        shouldDisplay: false, subcommands: [Overlay.self, Pack.self, RootImage.self])

    struct Overlay: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an overlay disk through libext2fs.")
        @Argument var path: String
        @Argument var size: String

        func run() throws {
            try reportingErrors {
                let bytes = try ByteSize.parse(size)
                let started = DispatchTime.now().uptimeNanoseconds
                try OverlayDisk.create(at: path, size: bytes)
                // The creation itself, as `pen shell` pays it (in-process), in seconds.
                print(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
            }
        }
    }

    struct Pack: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Repack a root archive (tar or cpio, any compression) as pen's initrd.")
        @Argument var input: String
        @Argument var output: String
        @Option var level: Int = 3

        func run() throws {
            try reportingErrors {
                let result = try InitrdPacker.pack(try RootTree.readTar(path: input), to: output, zstdLevel: level)
                print("\(result.compressedBytes) \(result.unpackedBytes) \(result.entryCount)")
            }
        }
    }

    struct RootImage: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "root-image",
                                                        abstract: "Write a root archive (tar or cpio, any compression) as pen's EROFS root image.")
        @Argument var input: String
        @Argument var output: String

        func run() throws {
            try reportingErrors {
                let started = DispatchTime.now().uptimeNanoseconds
                let result = try ErofsWriter.write(try RootTree.readTar(path: input), to: output)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
                print("\(result.bytes) \(result.unpackedBytes) \(result.entryCount) \(seconds) \(result.sha256)")
            }
        }
    }
}
