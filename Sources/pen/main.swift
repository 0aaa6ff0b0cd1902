// pen: disposable, persistent Linux sandboxes in micro-VMs.
import ArgumentParser
import Foundation

// Usage errors are one line (the parser's message and where to look), like every other error.
do {
    var command = try Pen.parseAsRoot()
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
