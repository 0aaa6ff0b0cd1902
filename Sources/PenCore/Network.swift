// The guest's network: passt, connected to QEMU over a socketpair. passt gives the guest the
// internet but, with --no-map-gw, not the host's loopback services (QEMU's built-in slirp
// always maps its gateway address to the host's 127.0.0.1). Published ports bind 127.0.0.1 only.
import Foundation

/// `--publish HOST:GUEST`: a TCP port on the host's loopback forwarded to the guest.
public struct PublishedPort: Equatable, Sendable, CustomStringConvertible {
    public let host: UInt16
    public let guest: UInt16

    public init(host: UInt16, guest: UInt16) {
        self.host = host
        self.guest = guest
    }

    public init(_ text: String) throws(PenError) {
        let fix = "write HOST:GUEST with ports from 1 to 65535, e.g. 8080:80"
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2,
              let h = parts[0].allSatisfy({ $0.isASCII && $0.isNumber }) && !parts[0].isEmpty ? UInt16(parts[0]) : nil,
              let g = parts[1].allSatisfy({ $0.isASCII && $0.isNumber }) && !parts[1].isEmpty ? UInt16(parts[1]) : nil,
              h > 0, g > 0 else {
            throw PenError("invalid --publish '\(text)': \(fix)")
        }
        host = h
        guest = g
    }

    public var description: String { "127.0.0.1:\(host) → guest:\(guest)" }
}

/// The fixed addresses the guest init configures (see PenGuestInit/Network.swift).
public enum GuestAddresses {
    public static let guest = "10.0.2.15", prefix = 24, gateway = "10.0.2.2", resolver = "10.0.2.3"
}

public struct Passt: Sendable {
    public let executable: String

    /// passt on PATH, unless PEN_NETWORK=slirp asks for QEMU's built-in network (a diagnostic).
    public static func locate(environment env: [String: String]) -> Passt? {
        if env["PEN_NETWORK"] == "slirp" { return nil }
        return ExecutableSearch.find("passt", environment: env).map { Passt(executable: $0) }
    }

    public init(executable: String) {
        self.executable = executable
    }

    public func command(fd: Int32, publish: [PublishedPort], logPath: String) -> [String] {
        [executable] + Self.arguments(fd: fd, publish: publish, logPath: logPath)
    }

    public static func arguments(fd: Int32, publish: [PublishedPort], logPath: String) -> [String] {
        var a = ["--foreground", "--quiet", "--fd", String(fd), "--ipv4-only",
                 "--address", GuestAddresses.guest, "--netmask", String(GuestAddresses.prefix),
                 "--gateway", GuestAddresses.gateway,
                 "--no-map-gw",                                 // the gateway is not the host's loopback
                 "--dns-forward", GuestAddresses.resolver,      // DNS to this address uses the host's resolver
                 "--log-file", logPath, "--udp-ports", "none"]
        if publish.isEmpty {
            a += ["--tcp-ports", "none"]
        } else {
            for port in publish { a += ["--tcp-ports", "127.0.0.1/\(port.host):\(port.guest)"] }
        }
        return a
    }
}
