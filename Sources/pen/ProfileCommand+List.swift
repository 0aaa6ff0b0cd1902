import ArgumentParser
import PenLaunch

extension ProfileCommand {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List profiles and the state of their images.")

        @OptionGroup var output: JSONOption

        func run() throws {
            try reportingErrors {
                try output.list(Catalog(.cli).profileSummaries(), columns: ["NAME", "PACKAGES", "SETUP", "IMAGE"]) { row in
                    [row.name, row.error == nil ? row.packages.joined(separator: ",").ifEmpty("-") : "-",
                     row.setup ? "yes" : "no", row.error.map { "invalid: \($0)" } ?? row.image.rawValue]
                }
            }
        }
    }
}
