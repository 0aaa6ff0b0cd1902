import ArgumentParser
import Foundation
import PenCore

extension VMCommand {
    struct Fork: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make VM NEW from stopped or suspended VM SRC: a copy of its disk (a reflink, or its written extents) under a name of its own.")

        @Argument(help: "The VM to fork (stopped or suspended).")
        var source: String

        @Argument(help: "The new VM's name.")
        var name: String

        func run() throws {
            try reportingErrors {
                let paths = PenPaths(.cli)
                let from = VMDirectory(paths: paths, name: try VMName(source))
                let to = VMDirectory(paths: paths, name: try VMName(name))
                let outcome = try VMForker.fork(from, into: to)
                let how = outcome.copy.method == .reflink ? "its disk reflinked" : "\(ByteSize.format(outcome.copy.copiedBytes)) of its disk copied"
                say("pen: VM '\(name)' forked from '\(source)' (\(how) in \(String(format: "%.1f", outcome.seconds)) s); `pen shell \(name)` boots it")
                if outcome.sourceSuspended {
                    say("pen: '\(source)' is suspended: '\(name)' has its disk, not its running processes")
                }
            }
        }
    }
}
