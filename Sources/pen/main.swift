// pen: disposable, persistent Linux sandboxes in micro-VMs.
import ArgumentParser
import CHostSys
import Foundation
import PenCore

// pen holds secrets (--env values, --env-from-host values it read) and the guest's data:
// no core dump of it, and no other process of the user reads its memory or environment.
_ = pen_set_undumpable()

// Usage errors are one line (the parser's message and where to look), like every other error.
do {
    var command = try Pen.parseAsRoot()
    // pen's settings, read once from the environment: a value pen cannot use stops it here.
    if !(command is VersionCommand || command is Supervise) {
        do { _ = try Settings.load() } catch {
            say("pen: " + error.message)
            exit(125)
        }
    }
    // Before anything reads or writes pen's state: it must be this user's (or root's) alone.
    if !(command is VersionCommand || command is Doctor || command is Supervise) {
        do { try StateOwnership.check(PenPaths(.cli)) } catch {
            say("pen: " + error.message)
            exit(125)
        }
    }
    try command.run()
} catch let code as ExitCode {
    exit(code.rawValue)
} catch {
    let code = Pen.exitCode(for: error)
    if code == .success {
        Pen.exit(withError: error)  // --help, --version
    }
    say("pen: " + Pen.message(for: error) + " (see `pen help`)")
    exit(code.rawValue)
}
