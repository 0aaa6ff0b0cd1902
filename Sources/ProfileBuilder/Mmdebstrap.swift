// The Debian root of the base image, made by mmdebstrap (minbase, no docs, man pages or locales).
import Foundation
import PenCore

enum Mmdebstrap {
    static func arguments(suite: String, output: String) -> [String] {
        let excluded = ["/usr/share/man/*", "/usr/share/doc/*", "/usr/share/info/*", "/usr/share/locale/*",
                        "/usr/share/lintian/*", "/usr/share/linda/*"]
        var args = ["--variant=minbase", "--mode=auto", "--format=tar", "--quiet"]
        args += excluded.map { "--dpkgopt=path-exclude=\($0)" }
        // Keep licences and the locale alias file, which glibc reads.
        args += ["--dpkgopt=path-include=/usr/share/doc/*/copyright",
                 "--dpkgopt=path-include=/usr/share/locale/locale.alias",
                 "--aptopt=Acquire::Languages \"none\"",
                 suite, output]
        return args
    }

    static func run(suite: String, output: String, log: String) throws {
        guard let exe = findExecutable("mmdebstrap") else {
            throw PenError("mmdebstrap not found: install it with `sudo apt-get install mmdebstrap`")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = arguments(suite: suite, output: output)
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try? handle.close()
        guard process.terminationStatus == 0 else {
            let tail = (try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n").suffix(3).joined(separator: "; ") ?? ""
            throw PenError("mmdebstrap failed with status \(process.terminationStatus) (\(tail)); check the network and `apt-get update`, then retry")
        }
    }
}
