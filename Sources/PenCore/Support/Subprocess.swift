// The one way pen runs a tool to completion (apt, mmdebstrap, qemu --version): stdout and
// stderr captured (read concurrently, so neither pipe can fill and stall the tool) or written
// to a log file. Long-lived children that must die with pen (QEMU, passt) use ChildProcess.
import Foundation

public enum Subprocess {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String

        /// The last non-empty line of stderr (else stdout), for one-line error messages.
        public var lastLine: String {
            for text in [stderr, stdout] {
                if let line = text.split(separator: "\n").last(where: { !$0.trimmingCharacters(in: " ").isEmpty }) {
                    return String(line)
                }
            }
            return "exit status \(status)"
        }
    }

    /// Runs `executable` (a path) with `arguments`. `environment` adds to (or overrides) pen's
    /// own; tools whose output pen parses get LC_ALL=C. With `log`, both streams go to that file
    /// (created without following a symlink) and the result's strings are empty.
    public static func run(_ executable: String, _ arguments: [String], directory: String? = nil,
                           environment extra: [String: String] = [:], log: String? = nil) throws(PenError) -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        // Never the user's current directory (by default the workspace the guest writes) and
        // never a relative PATH entry: the tool's own children (apt's dpkg, mmdebstrap's apt) are
        // searched on system directories only.
        process.currentDirectoryURL = URL(fileURLWithPath: directory ?? "/")
        process.environment = Settings.current.environment
            .merging(["PATH": ChildEnvironment.path]) { _, new in new }
            .merging(extra) { _, new in new }
        process.standardInput = FileHandle.nullDevice
        let name = (executable as NSString).lastPathComponent
        if let log {
            let fd = try SafeFiles.openNoFollow(log, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
            let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
            process.standardOutput = handle
            process.standardError = handle
            do { try process.run() } catch { throw PenError("cannot start \(name)", cause: "\(error)") }
            process.waitUntilExit()
            return Result(status: process.terminationStatus, stdout: "", stderr: "")
        }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch { throw PenError("cannot start \(name)", cause: "\(error)") }
        let errors = Collected()
        let group = DispatchGroup()
        let errHandle = err.fileHandleForReading
        DispatchQueue.global().async(group: group) { errors.data = errHandle.readDataToEndOfFile() }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: output, as: UTF8.self),
                      stderr: String(decoding: errors.data, as: UTF8.self))
    }

    /// Finds `tool` like ExecutableSearch and runs it; a missing tool is a PenError with `fix`.
    public static func runTool(_ tool: String, _ arguments: [String], directory: String? = nil,
                               environment extra: [String: String] = [:], log: String? = nil,
                               missingFix: String) throws(PenError) -> Result {
        guard let executable = ExecutableSearch.find(tool, environment: Settings.current.environment) else {
            throw PenError("\(tool) not found", fix: missingFix)
        }
        return try run(executable, arguments, directory: directory, environment: extra, log: log)
    }

    private final class Collected: @unchecked Sendable {
        var data = Data()
    }
}
