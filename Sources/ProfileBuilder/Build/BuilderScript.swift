// The shell script a builder VM runs: install the profile's packages, run its build
// script, leave no apt caches or lists behind. Phase lines ("pen-build: …") drive the
// host's progress display; the user's script arrives in a quoted heredoc, unexpanded.
import Foundation

enum BuilderScript {
    static let phasePrefix = "pen-build: "
    static let buildFailedPrefix = "pen-build: the build script failed with status "

    static func compose(packages: [String], build: String?) -> String {
        var lines = ["set -e", "export DEBIAN_FRONTEND=noninteractive", "cd /root"]
        if !packages.isEmpty {
            lines += ["echo '\(phasePrefix)updating the package lists'",
                      "apt-get update -q",
                      "echo '\(phasePrefix)installing \(packages.count) package\(packages.count == 1 ? "" : "s")'",
                      "apt-get install -y -q --no-install-recommends " + packages.joined(separator: " ")]
        }
        if let build {
            let delimiter = "PEN_BUILD_SCRIPT_" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
            lines += ["echo '\(phasePrefix)running the build script'",
                      "cat > /tmp/pen-build.sh <<'\(delimiter)'", build, delimiter,
                      "chmod 700 /tmp/pen-build.sh",
                      // A script with its own #! line picks its interpreter; otherwise sh -e.
                      "if head -c 2 /tmp/pen-build.sh | grep -q '^#!'; then run=/tmp/pen-build.sh; else run='sh -e /tmp/pen-build.sh'; fi",
                      "status=0; $run || status=$?",
                      "if [ $status -ne 0 ]; then echo \"\(buildFailedPrefix)$status\"; exit $status; fi"]
        }
        lines += ["echo '\(phasePrefix)cleaning up'",
                  "apt-get clean",
                  "rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log /tmp/* /var/tmp/*",
                  "echo '\(phasePrefix)streaming the root to the host'"]
        return lines.joined(separator: "\n") + "\n"
    }
}
