import ArgumentParser
import Foundation
import PenCore
import PenLaunch

extension VMCommand {
    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Boot VM NAME detached: it runs with no session until `pen vm stop` (or the idle timeout).")

        @Argument(help: "The VM's name (created on first use).")
        var name: String

        @OptionGroup var boot: BootOptions

        @Option(help: ArgumentHelp("Stop the VM after this long without a session (e.g. 30m, 2h).", valueName: "DURATION"))
        var idleTimeout: String?

        @Option(help: ArgumentHelp("What the idle timeout does: stop (the default) or suspend (every process kept; the next `pen shell` or `pen exec` resumes it).", valueName: "stop|suspend"))
        var onIdle: String?

        func run() throws {
            try reportingErrors {
                var request = boot.request(name)
                request.detached = true
                request.idleTimeout = idleTimeout
                request.onIdle = onIdle
                if try launcher().start(request) {
                    say("pen: VM '\(name)' is running; reach it with `pen shell \(name)` or `pen exec \(name) -- CMD`")
                } else {
                    say("pen: VM '\(name)' is already running")
                }
            }
        }
    }
}
