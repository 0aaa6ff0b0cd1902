// A change to a running VM's network rules (`pen vm net NAME allow RULE`, `deny RULE`), decided
// here, purely: only `allow` has rules to change (`public` reaches every public address already;
// `none` and `full` have no policy), a rule is added once, and only a rule the VM has is denied.

public enum PolicyChange: Codable, Equatable, Sendable {
    case allow(NetworkRule)
    case deny(NetworkRule)

    /// `policy` with the change made, or why it cannot be (`vm` names the VM in the message).
    public func applied(to policy: NetworkPolicy, vm: String) throws(PenError) -> NetworkPolicy {
        guard policy.mode == .allow else {
            let why = policy.mode == .public
                ? "runs --network public: it reaches every public address already, and rules narrow only `allow`"
                : "runs --network \(policy.mode.rawValue), which has no rules"
            throw PenError("VM '\(vm)' \(why)", fix: "stop it and start it with --network allow --allow RULE")
        }
        var changed = policy
        switch self {
        case .allow(let rule):
            guard !policy.rules.contains(rule) else { throw PenError("VM '\(vm)' allows \(rule) already") }
            changed.rules.append(rule)
        case .deny(let rule):
            guard policy.rules.contains(rule) else {
                let rules = policy.rules.map(\.description).joined(separator: ", ")
                throw PenError("VM '\(vm)' has no rule \(rule)", fix: rules.isEmpty ? "it has no rules" : "its rules: \(rules)")
            }
            changed.rules.removeAll { $0 == rule }
        }
        return changed
    }
}
