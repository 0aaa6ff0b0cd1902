// The VM a `pen vm` subcommand acts on: its name as typed, checked when the command runs.
import ArgumentParser
import PenCore

struct VMArgument: ParsableArguments {
    @Argument(help: "The VM's name.")
    var name: String

    /// The VM's directory under PEN_HOME; a bad name is the command's error.
    func directory() throws -> VMDirectory {
        VMDirectory(paths: PenPaths(.cli), name: try VMName(name))
    }
}
