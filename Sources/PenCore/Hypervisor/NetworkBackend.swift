// The guest's network. In `public` and `allow` the guest has no network device: its connections
// and DNS queries reach the supervisor over the `pen.net` port, which decides each (the policy).
// In `full`, passt, connected to QEMU over a socketpair, gives the guest whatever the host
// reaches but, with --no-map-gw, not the host's loopback services (QEMU's built-in slirp always
// maps its gateway address to the host's 127.0.0.1). Published ports bind 127.0.0.1 only.
import Foundation
import PenWire

public enum NetworkBackend: Codable, Equatable, Sendable {
    /// No network device: the supervisor's relay on `pen.net`, deciding by the policy.
    case policy(ports: [PublishedPort])
    /// passt on a socketpair; its log at `log`.
    case passt(Passt, ports: [PublishedPort], log: String)
    /// QEMU's built-in user network (a diagnostic: it lets the guest reach the host's loopback).
    case slirp(ports: [PublishedPort])
    /// No network device at all.
    case none

    /// No device for `.none`; the relay for `public` and `allow`; passt for `full`, said on
    /// every boot. Without passt pen refuses rather than fall back to QEMU's slirp, which lets
    /// the guest reach the host's loopback services: PEN_NETWORK=slirp accepts that explicitly
    /// (`notice` then says so in one line).
    public static func choose(_ mode: NetworkMode, passt: Passt?, slirp: Bool,
                              ports: [PublishedPort], passtLog: String, notice: (String) -> Void) throws(PenError) -> NetworkBackend {
        switch mode {
        case .none:
            guard ports.isEmpty else {
                throw PenError("--publish needs a network, and this VM has none", fix: "drop --publish, or use --network public")
            }
            return .none
        case .public, .allow:
            return .policy(ports: ports)
        case .full:
            notice("pen: --network full: the guest can reach everything this host reaches, its LAN and cloud metadata addresses (169.254.169.254) included")
        }
        if slirp {
            notice("pen: PEN_NETWORK=slirp: the guest uses QEMU's slirp and can reach the host's loopback services")
            return .slirp(ports: ports)
        }
        if let passt { return .passt(passt, ports: ports, log: passtLog) }
        throw PenError("passt is not installed, and pen gives a guest no network that reaches the host's loopback services",
                       fix: "install it with `sudo apt-get install passt`, use --network public, or set PEN_NETWORK=slirp to accept QEMU's slirp")
    }
}

/// `--publish HOST:GUEST`: a TCP port on the host's loopback forwarded to the guest.
public struct PublishedPort: Codable, Equatable, Sendable, CustomStringConvertible {
    public let host: UInt16
    public let guest: UInt16

    public init(host: UInt16, guest: UInt16) {
        self.host = host
        self.guest = guest
    }

    public init(_ text: String) throws(PenError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        func port(_ part: Substring) -> UInt16? {
            guard !part.isEmpty, part.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt16(part), n > 0 else { return nil }
            return n
        }
        guard parts.count == 2, let h = port(parts[0]), let g = port(parts[1]) else {
            throw PenError("invalid --publish '\(text)'", fix: "write HOST:GUEST with ports from 1 to 65535, e.g. 8080:80")
        }
        host = h
        guest = g
    }

    public var description: String { "127.0.0.1:\(host) → guest:\(guest)" }
}

public struct Passt: Codable, Equatable, Sendable {
    public let executable: String

    public static func locate(environment env: [String: String]) -> Passt? {
        ExecutableSearch.find("passt", environment: env).map { Passt(executable: $0) }
    }

    public init(executable: String) {
        self.executable = executable
    }

    public func command(fd: Int32, publish: [PublishedPort], logPath: String) -> [String] {
        [executable] + Self.arguments(fd: fd, publish: publish, logPath: logPath)
    }

    public static func arguments(fd: Int32, publish: [PublishedPort], logPath: String) -> [String] {
        let net = GuestContract.Network.self
        var a = ["--foreground", "--quiet", "--fd", String(fd), "--ipv4-only",
                 "--address", net.guest, "--netmask", String(net.prefixLength),
                 "--gateway", net.gateway,
                 "--no-map-gw",                                 // the gateway is not the host's loopback
                 "--dns-forward", net.resolver,                 // DNS to this address uses the host's resolver
                 "--log-file", logPath, "--udp-ports", "none"]
        if publish.isEmpty {
            a += ["--tcp-ports", "none"]
        } else {
            for port in publish { a += ["--tcp-ports", "127.0.0.1/\(port.host):\(port.guest)"] }
        }
        return a
    }
}
