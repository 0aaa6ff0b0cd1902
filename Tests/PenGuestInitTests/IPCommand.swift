// `ip` as the namespace tests run it (iproute2 on the host): its output, or an error naming the
// command and what it said.
import Foundation

@discardableResult
func ip(_ args: String...) throws -> String { try ip(args) }

struct CommandFailed: Error, CustomStringConvertible {
    let description: String
}

@discardableResult
func ip(_ args: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
    process.arguments = args
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw CommandFailed(description: "ip \(args.joined(separator: " ")): \(output)") }
    return output
}
