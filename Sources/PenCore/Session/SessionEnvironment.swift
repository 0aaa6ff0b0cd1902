// The environment a session carries into the guest.
// Values reach the guest only over the control channel: never QEMU's or the kernel's
// command line, never the workspace, the overlay disk or an image.
import Foundation

public enum SessionEnvironment {
    /// `--env K=V` and `--env-from-host K`, validated, as "K=V" strings.
    public static func collect(pairs: [String], fromHost keys: [String], host: [String: String]) throws(PenError) -> [String] {
        var out: [String] = []
        for pair in pairs {
            guard let eq = pair.firstIndex(of: "=") else {
                throw PenError("invalid --env '\(pair.prefix(40))': write KEY=VALUE (or use --env-from-host KEY)")
            }
            let key = String(pair[..<eq])
            try validate(key: key, flag: "--env")
            out.append(pair)
        }
        for key in keys {
            try validate(key: key, flag: "--env-from-host")
            guard let value = host[key] else {
                throw PenError("--env-from-host \(key): \(key) is not set in pen's environment; export it first")
            }
            out.append("\(key)=\(value)")
        }
        return out
    }

    static func validate(key: String, flag: String) throws(PenError) {
        let ok = !key.isEmpty && key.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") }
            && !("0"..."9").contains(key.unicodeScalars.first!)
        guard ok else { throw PenError("invalid \(flag) name '\(key.prefix(40))': use letters, digits and '_', not starting with a digit") }
    }

    /// Overwrites the values of `--env K=V` in this process's own argv, so they do not stay
    /// readable in the host's process list (/proc/PID/cmdline) while the VM runs.
    public static func scrubArgumentValues() {
        let argc = Int(CommandLine.argc)
        var i = 1
        while i < argc {
            guard let arg = CommandLine.unsafeArgv[i] else { break }
            let text = String(cString: arg)
            if text == "--" { break }
            if text == "--env", i + 1 < argc, let value = CommandLine.unsafeArgv[i + 1] {
                mask(value, after: "=")
                i += 2
                continue
            }
            if text.hasPrefix("--env=") { mask(arg, after: "=", skipping: 1) }
            i += 1
        }
    }

    /// Replaces every byte after the (skipping+1)-th `separator` with '*'.
    private static func mask(_ p: UnsafeMutablePointer<CChar>, after separator: Character, skipping: Int = 0) {
        let sep = CChar(separator.asciiValue!)
        var seen = 0
        var i = 0
        while p[i] != 0 {
            if p[i] == sep {
                if seen == skipping {
                    var j = i + 1
                    while p[j] != 0 { p[j] = CChar(UInt8(ascii: "*")); j += 1 }
                    return
                }
                seen += 1
            }
            i += 1
        }
    }
}
