// What a VM's network may reach, as the user names it (`--network`, `[vm] network`).

public enum NetworkMode: String, Codable, Equatable, Sendable, CaseIterable {
    /// Public unicast addresses only, DNS through pen (the default).
    case `public`
    /// Only what the rules name (`--allow`, `[network] allow`).
    case allow
    /// No network at all.
    case none
    /// passt as it is: the host's LAN and metadata addresses included (opt-in).
    case full

    public static let `default` = NetworkMode.public

    /// Whether the guest's connections go through pen's relay (no network device).
    public var isPolicy: Bool { self == .public || self == .allow }

    public static func parse(_ text: String, what: String) throws(PenError) -> NetworkMode {
        if text == "internet" {
            throw PenError("invalid \(what) 'internet': the modes are now public (the default: the internet, never the LAN or metadata addresses) and full (passt, the LAN included)",
                           fix: "use public, or full to reach the host's LAN on purpose")
        }
        guard let mode = NetworkMode(rawValue: text) else {
            throw PenError("invalid \(what) '\(text)'", fix: "use public (the default), allow (with --allow RULE), none or full")
        }
        return mode
    }

    /// Records of an older pen say "internet": what it was (passt, everything passt reaches).
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        if text == "internet" { self = .full; return }
        guard let mode = NetworkMode(rawValue: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown network mode \(text)"))
        }
        self = mode
    }
}
