// What a VM's network may reach, and the one function that decides each connection. Pure: the
// supervisor hands it what it knows (the address and port asked for, the names this VM's DNS
// answers tied to that address, the name the client presented in TLS SNI or HTTP Host, the
// host's own addresses) and carries out the verdict.

/// The policy's modes are the network modes (see NetworkMode).
public typealias PolicyMode = NetworkMode

/// One connection the guest asks for, with what pen knows about it.
public struct ConnectionAttempt: Equatable, Sendable {
    public var address: IPAddress
    public var port: UInt16
    /// Names whose answers from pen's DNS to this VM held `address` (lower-cased ASCII).
    public var pinnedNames: [[UInt8]]
    /// The name the client presented (TLS SNI, HTTP Host), lower-cased; nil when it sent none.
    public var presentedName: [UInt8]?

    public init(address: IPAddress, port: UInt16, pinnedNames: [[UInt8]] = [], presentedName: [UInt8]? = nil) {
        self.address = address
        self.port = port
        self.pinnedNames = pinnedNames
        self.presentedName = presentedName
    }
}

/// What the host is, for the policy: its own addresses (published ports' included) and whether
/// a test declared the benchmarking range public.
public struct PolicyHost: Equatable, Sendable {
    public var addresses: Set<IPAddress>
    public var benchmarkingIsPublic: Bool

    public init(addresses: Set<IPAddress>, benchmarkingIsPublic: Bool = false) {
        self.addresses = addresses
        self.benchmarkingIsPublic = benchmarkingIsPublic
    }
}

public enum Verdict: Equatable, Sendable {
    /// Allowed by the mode (`public`, `full`) or by the rule named.
    case allowed(by: String)
    /// Refused, and why, in words for network.log and the user.
    case refused(String)
}

public struct NetworkPolicy: Equatable, Sendable, Codable {
    public var mode: PolicyMode
    public var rules: [NetworkRule]

    public init(mode: PolicyMode, rules: [NetworkRule] = []) {
        self.mode = mode
        self.rules = rules
    }

    /// Whether pen's DNS answers a query for `name` (others get NXDOMAIN).
    public func answersDNS(for name: [UInt8]) -> Bool {
        switch mode {
        case .public, .full: return true
        case .none: return false
        case .allow: return rules.contains { $0.covers(name: name) }
        }
    }

    public func decide(_ attempt: ConnectionAttempt, host: PolicyHost) -> Verdict {
        switch mode {
        case .full: return .allowed(by: "full")
        case .none: return .refused("no network")
        case .public: return publicRefusal(attempt.address, host: host).map(Verdict.refused) ?? .allowed(by: "public")
        case .allow: return decideAllowed(attempt, host: host)
        }
    }

    private func decideAllowed(_ attempt: ConnectionAttempt, host: PolicyHost) -> Verdict {
        // A range rule is how a user opts into an address on purpose: private, loopback, the host's own.
        if let rule = rules.first(where: { rule in
            if case .range(let range) = rule.target { return range.contains(attempt.address) && rule.admits(port: attempt.port) }
            return false
        }) {
            return .allowed(by: rule.description)
        }
        // A name never opens a non-public address: a rebinding answer does not reach the LAN.
        if let refusal = publicRefusal(attempt.address, host: host) { return .refused(refusal) }
        guard let rule = rules.first(where: { rule in
            rule.admits(port: attempt.port) && attempt.pinnedNames.contains { rule.covers(name: $0) }
        }) else {
            return .refused(attempt.pinnedNames.isEmpty ? "not allowed (no allowed name resolved to it)" : "not allowed")
        }
        if let presented = attempt.presentedName,
           !rules.contains(where: { $0.admits(port: attempt.port) && $0.covers(name: presented) }) {
            return .refused("the name it presented, \(GuestText.printable(presented, limit: 253)), is not allowed")
        }
        return .allowed(by: rule.description)
    }

    /// Why `public` refuses `address`; nil when it is public and not the host's.
    private func publicRefusal(_ address: IPAddress, host: PolicyHost) -> String? {
        if let found = AddressClass.of(address, benchmarkingIsPublic: host.benchmarkingIsPublic) { return found.rawValue }
        let carried = AddressClass.carriedIPv4(address).map(IPAddress.v4)
        return host.addresses.contains(address) || carried.map(host.addresses.contains) == true ? "the host's own address" : nil
    }
}
