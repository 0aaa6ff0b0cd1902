// The CPU a process has used, from /proc/PID/stat (utime + stime, in clock ticks).
import Foundation
import Glibc

enum ProcessCPU {
    static func seconds(pid: pid_t) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
        return seconds(statLine: text, ticksPerSecond: Double(sysconf(Int32(_SC_CLK_TCK))))
    }

    /// Parses a stat line: the command name (field 2) may hold spaces and parentheses, so the
    /// fields are counted after its last ')'; utime and stime are fields 14 and 15.
    static func seconds(statLine: String, ticksPerSecond: Double) -> Double? {
        guard let close = statLine.lastIndex(of: ")"), ticksPerSecond > 0 else { return nil }
        let fields = statLine[statLine.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state), so field N is fields[N - 3].
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / ticksPerSecond
    }
}
