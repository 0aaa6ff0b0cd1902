import Testing
@testable import PenCore

@Suite struct NetworkPolicyTests {
    let host = PolicyHost(addresses: [IPAddress("192.0.2.10")!, IPAddress("2001:db8::10")!])

    func attempt(_ address: String, _ port: UInt16 = 443, pinned: [String] = [], presented: String? = nil) -> ConnectionAttempt {
        ConnectionAttempt(address: IPAddress(address)!, port: port, pinnedNames: pinned.map { Array($0.utf8) },
                          presentedName: presented.map { Array($0.utf8) })
    }

    func policy(_ mode: PolicyMode, _ rules: String...) throws -> NetworkPolicy {
        NetworkPolicy(mode: mode, rules: try rules.map { try NetworkRule($0) })
    }

    @Test func publicReachesPublicAddressesOnlyAndNeverTheHost() throws {
        let p = try policy(.public)
        #expect(p.decide(attempt("203.0.113.5"), host: host) == .allowed(by: "public"))
        #expect(p.decide(attempt("2606:4700::1111"), host: host) == .allowed(by: "public"))
        #expect(p.decide(attempt("169.254.169.254", 80), host: host) == .refused("metadata address"))
        #expect(p.decide(attempt("10.0.0.5", 22), host: host) == .refused("private address"))
        #expect(p.decide(attempt("127.0.0.1"), host: host) == .refused("loopback address"))
        #expect(p.decide(attempt("192.0.2.10"), host: host) == .refused("the host's own address"))
        #expect(p.decide(attempt("::ffff:192.0.2.10"), host: host) == .refused("the host's own address"))
        #expect(p.decide(attempt("2001:db8::10"), host: host) == .refused("the host's own address"))
        #expect(p.decide(attempt("198.18.0.7"), host: host) == .refused("benchmarking address"))
        let test = PolicyHost(addresses: host.addresses, benchmarkingIsPublic: true)
        #expect(p.decide(attempt("198.18.0.7"), host: test) == .allowed(by: "public"))
    }

    @Test func noneRefusesAndFullAllowsEverything() throws {
        #expect(try policy(.none).decide(attempt("203.0.113.5"), host: host) == .refused("no network"))
        #expect(try policy(.full).decide(attempt("169.254.169.254"), host: host) == .allowed(by: "full"))
        #expect(try !policy(.none).answersDNS(for: Array("example.org".utf8)))
    }

    @Test func allowOpensANameOnlyAtTheAddressesItsDNSAnswersGave() throws {
        let p = try policy(.allow, "deb.debian.org", "*.pypi.org:443")
        #expect(p.decide(attempt("203.0.113.5", 80, pinned: ["deb.debian.org"]), host: host) == .allowed(by: "deb.debian.org"))
        #expect(p.decide(attempt("203.0.113.6", 443, pinned: ["files.pypi.org"]), host: host) == .allowed(by: "*.pypi.org:443"))
        #expect(p.decide(attempt("203.0.113.6", 80, pinned: ["files.pypi.org"]), host: host) == .refused("not allowed"),
                "the rule's port")
        #expect(p.decide(attempt("203.0.113.7"), host: host) == .refused("not allowed (no allowed name resolved to it)"),
                "a raw IP no allowed name resolved to")
        #expect(p.decide(attempt("203.0.113.8", pinned: ["evil.example"]), host: host) == .refused("not allowed"))
        #expect(p.answersDNS(for: Array("deb.debian.org".utf8)))
        #expect(p.answersDNS(for: Array("files.pypi.org".utf8)))
        #expect(!p.answersDNS(for: Array("pypi.org".utf8)))
        #expect(!p.answersDNS(for: Array("evil.example".utf8)))
    }

    @Test func aPresentedNameMustBeAllowedTooSoASharedAddressCannotFrontForAnother() throws {
        let p = try policy(.allow, "deb.debian.org")
        #expect(p.decide(attempt("203.0.113.5", pinned: ["deb.debian.org"], presented: "deb.debian.org"), host: host)
                == .allowed(by: "deb.debian.org"))
        #expect(p.decide(attempt("203.0.113.5", pinned: ["deb.debian.org"], presented: "evil.example"), host: host)
                == .refused("the name it presented, evil.example, is not allowed"))
    }

    @Test func aNameNeverOpensAPrivateAddressButARangeRuleDoes() throws {
        let p = try policy(.allow, "intranet.example", "10.1.2.0/24:5432", "127.0.0.1:8080")
        #expect(p.decide(attempt("10.9.9.9", 443, pinned: ["intranet.example"]), host: host) == .refused("private address"),
                "a rebinding answer does not reach the LAN")
        #expect(p.decide(attempt("10.1.2.3", 5432), host: host) == .allowed(by: "10.1.2.0/24:5432"))
        #expect(p.decide(attempt("10.1.2.3", 22), host: host) == .refused("private address"))
        #expect(p.decide(attempt("127.0.0.1", 8080), host: host) == .allowed(by: "127.0.0.1:8080"))
        #expect(p.decide(attempt("169.254.169.254", 80), host: host) == .refused("metadata address"))
    }

    /// Generated: in `public`, an address is allowed exactly when it has no class and is not the
    /// host's; in `allow` with no rules, nothing is.
    @Test func generatedAddressesFollowTheirClass() {
        var seed: UInt64 = 42
        let open = NetworkPolicy(mode: .public), closed = NetworkPolicy(mode: .allow)
        for _ in 0..<50_000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let address: IPAddress = seed & 1 == 0 ? .v4(UInt32(truncatingIfNeeded: seed >> 20))
                : .v6(seed ^ 0x2000_0000_0000_0000, seed &* 31)
            let attempt = ConnectionAttempt(address: address, port: UInt16(truncatingIfNeeded: seed >> 7) | 1)
            let isPublic = AddressClass.of(address) == nil && !host.addresses.contains(address)
            #expect((open.decide(attempt, host: host) == .allowed(by: "public")) == isPublic, "\(address)")
            if case .allowed = closed.decide(attempt, host: host) { Issue.record("allow with no rules let \(address) through") }
        }
    }
}
