import ArgumentParser
import Foundation
import PenCore
import ProfileBuilder

extension ImageCommand {
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-hash every image file against the SHA-256 recorded when it was published.")

        @OptionGroup var output: JSONOption

        func run() throws {
            try reportingErrors {
                let checked = ImageVerifier.verifyAll(paths: PenPaths(.cli))
                try output.print(checked) {
                    for c in checked { print("\(c.ok ? "ok     " : "CORRUPT") \(c.image)  \(c.file)") }
                    if checked.isEmpty { say("pen: no images yet") }
                }
                if let failure = ImageVerifier.failure(checked) { throw failure }
            }
        }
    }
}
