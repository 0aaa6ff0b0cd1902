import ArgumentParser
import Foundation
import PenCore
import PenLaunch

extension ImageCommand {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls", abstract: "List the base image and the profile images in the cache.")

        @OptionGroup var output: JSONOption

        func run() throws {
            try reportingErrors {
                let catalog = Catalog(.cli)
                let rows = catalog.images()
                try output.print(rows) {
                    if rows.isEmpty { say("pen: no images in \(catalog.paths.images) yet: `pen image base` builds the base image") }
                    printTable(["NAME", "SIZE", "AGE", "HASH", "STATUS", "DETAIL"], rows.map { image in
                        let detail: String
                        switch image.kind {
                        case .base: detail = "kernel \(image.kernel ?? "?"), builder v\(image.builderVersion)"
                        case .profile: detail = "profile image, builder v\(image.builderVersion)"
                        case .snapshot: detail = "boot snapshot: \(image.machine ?? "?")"
                        }
                        return [image.name, ByteSize.short(image.sizeBytes), Age.since(image.createdAt),
                                String(image.hash.prefix(12)), image.status.rawValue, detail]
                    })
                }
            }
        }
    }
}
