import ArgumentParser
import Foundation
import PenCore
import PenLaunch
import ProfileBuilder

extension ImageCommand {
    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove images no profile uses any more and what interrupted or replaced builds left.")

        @Flag(help: "Only list what would be removed.")
        var dryRun = false

        @OptionGroup var output: JSONOption

        struct Report: Encodable {
            var dryRun: Bool
            var removed: [PrunedItem]
            var bytes: UInt64
            enum CodingKeys: String, CodingKey { case dryRun = "dry_run", removed, bytes }
        }

        func run() throws {
            try reportingErrors {
                let catalog = Catalog(.cli)
                let items = catalog.pruneImages(dryRun: dryRun)
                let bytes = items.reduce(0) { $0 + $1.bytes }
                try output.print(Report(dryRun: dryRun, removed: items, bytes: bytes)) {
                    for item in items { print("\(ByteSize.short(item.bytes))\t\(item.path)\t\(item.reason)") }
                    let verb = dryRun ? "would free" : "freed"
                    say(items.isEmpty ? "pen: nothing to prune" : "pen: \(verb) \(ByteSize.format(bytes)) (\(items.count) item\(items.count == 1 ? "" : "s"))")
                }
            }
        }
    }
}
