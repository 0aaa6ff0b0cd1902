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
        subcommands: [Shell.self, Exec.self, Copy.self, VMCommand.self, ProfileCommand.self, ImageCommand.self, Doctor.self,
                      VersionCommand.self, BenchTool.self, Supervise.self]
    )
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print pen's version.")
    @OptionGroup var output: JSONOption

    struct Info: Encodable {
        let version: String
        /// The control-channel protocol version host and guest must share.
        let wire: Int
    }

    func run() throws {
        try output.print(Info(version: Pen.version, wire: wireVersion)) { print("pen \(Pen.version)") }
    }
}
