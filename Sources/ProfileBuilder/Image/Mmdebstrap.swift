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

    static func run(suite: String, output: String, log: String) throws(PenError) {
        let result = try Subprocess.runTool("mmdebstrap", arguments(suite: suite, output: output), log: log,
                                            missingFix: "install it with `sudo apt-get install mmdebstrap`")
        guard result.status == 0 else {
            let tail = lastLines(of: log, count: 3)
            throw PenError("mmdebstrap failed with status \(result.status)", cause: tail.isEmpty ? nil : tail,
                           fix: "check the network and `apt-get update`, then retry")
        }
    }
}
