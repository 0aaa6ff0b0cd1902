import ArgumentParser
import Foundation
import PenCore
import PenWire

struct Pen: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "pen",
        abstract: "Disposable, persistent Linux sandboxes in micro-VMs.",
        version: version,
        subcommands: [Shell.self, VMCommand.self, ProfileCommand.self, ImageCommand.self, Doctor.self,
                      VersionCommand.self, BenchTool.self]
    )
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print pen's version.")
    @Flag(help: "Print {\"version\", \"wire\"} as JSON on stdout.")
    var json = false

    func run() throws {
        if json {
            // wire: the control-channel protocol version host and guest must share.
            try printJSON(VersionInfo(version: Pen.version, wire: wireVersion))
        } else {
            print("pen \(Pen.version)")
        }
    }
}

struct VersionInfo: Encodable {
    let version: String
    let wire: Int
}

/// Messages for the user go to stderr; stdout is for data.
func say(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Runs body; a PenError (or any error) becomes one line on stderr and a non-zero exit.
func reportingErrors<T>(exitCode: Int32 = 1, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as PenError {
        say("pen: " + error.message)
        throw ExitCode(error.exitCode == 1 ? exitCode : error.exitCode)
    } catch let error as ExitCode {
        throw error
    } catch {
        say("pen: \(error)")
        throw ExitCode(exitCode)
    }
}
