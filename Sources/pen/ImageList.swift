import ArgumentParser
import Foundation
import PenCore
import ProfileBuilder

extension ImageCommand {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls", abstract: "List the base image and the profile images in the cache.")

        @Flag(help: "Print a JSON list on stdout.")
        var json = false

        func run() throws {
            try reportingErrors {
                let env = ProcessInfo.processInfo.environment
                let paths = PenPaths(environment: env)
                let rows = ImageInventory.list(paths: paths, store: ProfileStore.standard(paths: paths, environment: env))
                if json {
                    try printJSON(rows)
                    return
                }
                if rows.isEmpty { say("pen: no images in \(paths.images) yet: `pen image base` builds the base image") }
                printTable(["NAME", "SIZE", "AGE", "HASH", "STATUS", "DETAIL"], rows.map { image in
                    let detail = image.kind == .base
                        ? "kernel \(image.kernel ?? "?"), builder v\(image.builderVersion)"
                        : "profile image, builder v\(image.builderVersion)"
                    return [image.name, ByteSize.short(image.sizeBytes), Age.since(image.createdAt),
                            String(image.hash.prefix(12)), image.status.rawValue, detail]
                })
            }
        }
    }
}
