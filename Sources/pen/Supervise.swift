// `pen supervise`: hands the supervisor process over to PenSupervisor (SupervisorMain).
import ArgumentParser
import Foundation
import PenSupervisor

/// The supervisor process of one running VM (started by pen itself, never by users).
struct Supervise: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Internal: supervise one VM (QEMU, its socket and sessions).", shouldDisplay: false)

    @Option var planFd: Int32
    @Option var readyFd: Int32
    @Option var lockFd: Int32?
    @Option(name: .customLong("run")) var runDirectory: String

    func run() throws {
        throw ExitCode(SupervisorMain.run(planFD: planFd, readyFD: readyFd, lockFD: lockFd, runPath: runDirectory))
    }
}
