// The shell script a builder VM runs: install the profile's packages, run its build
// script, leave no apt caches or lists behind, nor anything else that would make two builds of
// the same profile differ. Phase lines ("pen-build: …") drive the
// host's progress display; the user's script arrives in a quoted heredoc, unexpanded.
import Foundation

enum BuilderScript {
    static let phasePrefix = "pen-build: "
    static let buildFailedPrefix = "pen-build: the build script failed with status "

    /// The build's clock for tools that follow reproducible-builds.org's convention: useradd's
    /// last-change day in /etc/shadow, hash-based (not time-stamped) .pyc files, archive times.
    /// Not 0: a shadow last-change day of 0 means "change the password at the next login".
    static let sourceDateEpoch = 1_704_067_200  // 2024-01-01

    /// What an install leaves that depends on when, where or how often it ran, so that the same
    /// profile gives the same root image bytes: caches rebuilt on demand (ldconfig's aux-cache
    /// holds inode numbers and times, apt's package caches and lists), backups, time-stamped
    /// logs, a random seed, and dbus's machine id (regenerated at boot from /etc/machine-id).
    static let leftovers = [
        "/var/lib/apt/lists/*", "/var/cache/apt/*.bin", "/var/cache/ldconfig/aux-cache", "/var/cache/debconf/*-old",
        "/var/log/apt/*", "/var/log/dpkg.log", "/var/log/alternatives.log", "/var/log/bootstrap.log",
        "/var/lib/systemd/random-seed", "/var/lib/dbus/machine-id", "/tmp/*", "/var/tmp/*",
    ]

    static func compose(packages: [String], build: String?) -> String {
        var lines = ["set -e", "export DEBIAN_FRONTEND=noninteractive", "export SOURCE_DATE_EPOCH=\(sourceDateEpoch)", "cd /root"]
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
                  "rm -rf " + leftovers.joined(separator: " "),
                  "echo '\(phasePrefix)streaming the root to the host'"]
        return lines.joined(separator: "\n") + "\n"
    }
}
