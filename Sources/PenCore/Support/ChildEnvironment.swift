// What pen's own children see of its environment. QEMU and passt get a fixed, minimal one:
// pen's environment holds the user's secrets (`--env-from-host` names them, and unrelated ones
// such as AWS_* or SSH_AUTH_SOCK sit there anyway) and /proc/PID/environ of a long-running
// helper is readable by the same user for as long as the VM runs. The supervisor (pen itself)
// additionally keeps pen's own settings and the directories it resolves its paths from.
public enum ChildEnvironment {
    /// The PATH every child gets: system directories only (never a relative entry).
    public static let path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// For QEMU, passt and e2fsck: a PATH and the locale, nothing else.
    public static func helperVariables(from env: [String: String]) -> [String: String] {
        var kept = ["PATH": path]
        for key in ["LANG", "LC_ALL", "TZ", "TMPDIR"] { kept[key] = env[key] }
        return kept
    }

    /// The helpers' environment as execve takes it.
    public static func helpers(from env: [String: String]) -> [String] {
        entries(helperVariables(from: env))
    }

    /// For `pen supervise`: the helpers' environment, plus HOME and XDG_* (where pen's state
    /// lives) and PEN_* (pen's own settings: PEN_HOME, PEN_TIMINGS, …).
    public static func supervisor(from env: [String: String]) -> [String] {
        let own = env.filter { $0.key == "HOME" || $0.key.hasPrefix("XDG_") || $0.key.hasPrefix("PEN_") }
        return entries(helperVariables(from: env).merging(own) { kept, _ in kept })
    }

    static func entries(_ variables: [String: String]) -> [String] {
        variables.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    }
}
