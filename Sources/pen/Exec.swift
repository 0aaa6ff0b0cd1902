import ArgumentParser
import Foundation
import PenCore
import PenLaunch

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command in a running VM.",
        discussion: """
            The VM must be running (`pen vm start NAME`, or another `pen shell NAME`). The command
            gets its own environment, working directory and process group; pen exits with its
            status (125 for pen's own failures).
            """)

    @Argument(help: "The VM's name.")
    var name: String

    @OptionGroup var environment: EnvironmentOptions

    @Option(help: ArgumentHelp("The working directory in the VM (default: /workspace, or /root without one).", valueName: "DIR"))
    var workdir: String?

    @Flag(name: .customShort("t"), help: "Run the command on a pty (for programs that want a terminal).")
    var terminal = false

    @Argument(parsing: .postTerminator, help: "The command.")
    var command: [String] = []

    func run() throws {
        SessionEnvironment.scrubArgumentValues()
        let status = try reportingErrors(exitCode: Shell.penFailure) {
            guard !command.isEmpty else { throw PenError("pen exec needs a command", fix: "write it after --, e.g. pen exec \(name) -- ls") }
            return try launcher()
                .exec(name, environment.session(command, terminal: terminal, workdir: workdir))
        }
        throw ExitCode(status)
    }
}
