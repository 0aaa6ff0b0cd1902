import ArgumentParser
import Foundation
import PenCore
import PenLaunch

struct Copy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cp", abstract: "Copy files and directories between the host and a running VM.",
        discussion: """
            Exactly one side is NAME:PATH (an absolute path in the VM). Into the VM, owners, modes
            and times are kept; to the host, symlinks stay links and are never followed, and device
            nodes, setuid/setgid bits and paths leaving the destination are refused. `-` as the
            source reads a tar from stdin; as the destination, writes one to stdout.
            """)

    @Argument(help: ArgumentHelp("Sources, then the destination.", valueName: "SRC… DEST"))
    var paths: [String] = []

    func run() throws {
        let status = try reportingErrors(exitCode: Shell.penFailure) {
            try launcher().copy(try CopyRequest.parse(paths))
        }
        if status != 0 { say("pen: cp failed in the VM (status \(status))") }
        throw ExitCode(status == 0 ? 0 : 1)
    }
}
