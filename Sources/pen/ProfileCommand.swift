import ArgumentParser
import Foundation
import PenCore
import PenLaunch

struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile", abstract: "Build and inspect profiles (TOML files describing VM images).",
        subcommands: [Build.self, List.self, Show.self])

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Bake a profile's image now (a builder VM installs its packages and runs its build script).")

        @Argument(help: "The profile's name.")
        var name: String

        @Flag(help: "Rebuild even when the image is fresh.")
        var force = false

        @Option(help: "Accelerator: auto, kvm or tcg.")
        var accel: String = "auto"

        func run() throws {
            try reportingErrors {
                let (profile, image) = try launcher().buildProfile(name, force: force, accel: accel)
                print("\(profile.name) \(image.hash) \(image.rootImagePath)")
            }
        }
    }
}
