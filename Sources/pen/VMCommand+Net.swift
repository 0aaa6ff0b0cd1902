// `pen vm net NAME`: what a VM's network may reach and what it tried. The mode and rules come
// from the running supervisor (what it decides by); the connections from the VM's network.log,
// which the relay writes (capped) and this reads back bounded.
import ArgumentParser
import Foundation
import PenCore

extension VMCommand {
    struct Net: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a VM's network mode, its rules and its last connections (--log: all of network.log); allow or deny a rule on a running VM.",
            discussion: "`pen vm net NAME allow RULE` and `pen vm net NAME deny RULE` change a running VM under --network allow at once, and keep its rules in vm.json for its next boot.")

        @OptionGroup var target: VMArgument

        @Argument(help: ArgumentHelp("allow or deny, then a rule (example.org, *.example.org, 10.1.2.0/24, each with an optional :PORT).", valueName: "allow|deny RULE"))
        var change: [String] = []

        @OptionGroup var output: JSONOption

        @Flag(help: "Print every entry of the VM's network.log (with --json: one JSON object per line).")
        var log = false

        @Flag(help: "With --log: keep printing entries as they are written, until the VM stops.")
        var follow = false

        /// What `pen vm net NAME --json` prints.
        struct Summary: Encodable {
            var name: String
            var running: Bool
            var mode: NetworkMode?
            var rules: [NetworkRule]
            var recent: [NetworkLogEntry]
        }

        static let recentCount = 10

        func run() throws {
            try reportingErrors {
                let vm = try target.directory()
                var reader = NetworkLogReader(path: vm.path + "/network.log")
                if follow && !log { throw PenError("--follow reads network.log as it grows", fix: "add --log") }
                if !change.isEmpty { return try changeRules(vm) }
                if log {
                    try emit(try reader.readNew())
                    while follow, running(vm) {
                        Thread.sleep(forTimeInterval: 0.5)  // a timed wait for the file to grow, not a spin
                        try emit(try reader.readNew())
                    }
                    return
                }
                let facts = try SupervisorConnection.connect(vm, wait: 0)?.status.facts
                let recent = Array(try reader.readNew().suffix(Self.recentCount))
                let summary = Summary(name: vm.name.value, running: facts != nil, mode: facts?.network, rules: facts?.allow ?? [], recent: recent)
                try output.print(summary) {
                    if let mode = summary.mode {
                        Swift.print("network: \(mode.rawValue)")
                        for rule in summary.rules { Swift.print("  allow \(rule)") }
                    } else {
                        say("pen: VM '\(vm.name)' is not running; its mode is decided when it boots (--network, the profile, else public)")
                    }
                    Swift.print(recent.isEmpty ? "no connections on record" : "last connections:")
                    for entry in recent { Swift.print("  " + entry.line) }
                }
            }
        }

        /// `allow RULE` / `deny RULE`, sent to the running VM's supervisor.
        private func changeRules(_ vm: VMDirectory) throws {
            guard change.count == 2, change[0] == "allow" || change[0] == "deny" else {
                throw PenError("expected `allow RULE` or `deny RULE` after the VM's name, got '\(change.joined(separator: " "))'",
                               fix: "e.g. pen vm net \(vm.name) allow pypi.org")
            }
            let rule = try NetworkRule(change[1])
            guard let connection = try SupervisorConnection.connect(vm, wait: 10) else {
                throw PenError("VM '\(vm.name)' is not running", fix: "start it with --network allow --allow \(rule)")
            }
            defer { connection.close() }
            let status = try connection.change(change[0] == "allow" ? .allow(rule) : .deny(rule))
            try output.print(status.facts.allow ?? []) {
                say("pen: VM '\(vm.name)' now allows: \((status.facts.allow ?? []).map(\.description).joined(separator: ", ").ifEmpty("nothing"))")
            }
        }

        private func emit(_ entries: [NetworkLogEntry]) throws {
            for entry in entries {
                Swift.print(output.json ? String(decoding: try PenJSON.encode(entry, pretty: false), as: UTF8.self) : entry.line)
            }
            fflush(nil)  // each line out as it comes (a reader follows along)
        }

        private func running(_ vm: VMDirectory) -> Bool {
            (try? SupervisorConnection.connect(vm, wait: 0)) != nil
        }
    }
}
