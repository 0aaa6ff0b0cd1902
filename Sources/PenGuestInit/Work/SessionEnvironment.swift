// The environment a session's process starts with: root's defaults, then the session's own
// values (from --env, the profile), each replacing the default of the same name.
import PenWire

enum SessionEnvironment {
    static func build(for request: SessionRequest) -> [String] {
        var env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
                   "USER=root", "LOGNAME=root", "SHELL=/bin/bash", "LANG=C.UTF-8",
                   request.terminal != nil ? "TERM=linux" : "TERM=dumb"]
        for pair in request.environment {  // the session's values win over the defaults
            let key = pair.prefix { $0 != "=" }
            env.removeAll { $0.hasPrefix(key + "=") }
            env.append(pair)
        }
        return env
    }
}
