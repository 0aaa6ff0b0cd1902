import ArgumentParser
import Foundation
import PenCore
import PenLaunch

struct Shell: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open a shell in VM NAME (created on first use), or run a command in it.",
        discussion: "A running VM gets a new session; a stopped one boots, and stops again when its last "
            + "session ends (unless `pen vm start` started it). Without a command: a login shell, on a pty "
            + "when stdin is a terminal, else reading its commands from stdin. With `-- CMD…` the command runs "
            + "with pipes: its stdout and stderr reach pen's, and pen exits with its status. pen's own "
            + "failures exit with 125.")

    @Argument(help: "The VM's name (letters, digits, '.', '_', '-').")
    var name: String

    @OptionGroup var boot: BootOptions

    @OptionGroup var environment: EnvironmentOptions

    @Argument(parsing: .postTerminator, help: "The command to run instead of a shell.")
    var command: [String] = []

    /// pen's own failures, as opposed to the command's exit status.
    static let penFailure: Int32 = 125

    func run() throws {
        // --env values must not stay readable in the host's process list while the VM runs.
        SessionEnvironment.scrubArgumentValues()
        let status = try reportingErrors(exitCode: Self.penFailure) {
            try launcher().shell(boot.request(name), environment.session(command))
        }
        throw ExitCode(status)
    }
}
