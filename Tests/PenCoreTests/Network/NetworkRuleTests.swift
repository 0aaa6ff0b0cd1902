import Foundation
import PenTestSupport
import Testing
@testable import PenCore

@Suite struct NetworkRuleTests {
    @Test(arguments: [
        ("example.org", "example.org"), ("Example.ORG.", "example.org"), ("*.example.org", "*.example.org"),
        ("example.org:443", "example.org:443"), ("*.pypi.org:443", "*.pypi.org:443"), ("_svc.example.org", "_svc.example.org"),
        ("10.1.2.0/24", "10.1.2.0/24"), ("192.0.2.7", "192.0.2.7"), ("192.0.2.7:8080", "192.0.2.7:8080"),
        ("127.0.0.1:5432", "127.0.0.1:5432"), ("0.0.0.0/0", "0.0.0.0/0"), ("2001:db8::/32", "2001:db8::/32"),
        ("[2001:db8::1]:443", "[2001:db8::1]:443"), ("[2001:db8::/32]", "2001:db8::/32"), ("localhost", "localhost"),
    ])
    func wellFormedRulesReadAndPrintCanonically(text: String, canonical: String) throws {
        let rule = try NetworkRule(text)
        #expect(rule.description == canonical)
        #expect(try NetworkRule(rule.description) == rule, "the canonical form reads back as the same rule")
    }

    /// The list of malformed rules and more: one line naming the rule, and a fix.
    @Test(arguments: [
        ("*.", "wildcard"), ("*foo.com", "wildcard"), ("foo.*.com", "wildcard"), ("*.1.2.3.4", "cannot cover addresses"),
        ("999.1.1.1/8", "999.1.1.1 is not an IP address"), ("host:0", "port 0 is not a port"),
        ("host:70000", "port 70000 is not a port"), ("host:", "is not a port"), ("host:+80", "is not a port"),
        ("10.1.2.5/24", "write 10.1.2.0/24"), ("10.0.0.0/33", "/33 is not a prefix length"), ("1.2.3", "not an IP address"),
        ("", "empty"), ("exa mple.org", "ASCII"), ("bücher.de", "xn--"), ("-a.org", "letters, digits"),
        ("a..org", "1 to 63"), ("[2001:db8::1", "unclosed"), ("[::1]x", "after ]"), ("a:b:c", "not an IP address"),
        (String(repeating: "a", count: 64) + ".org", "1 to 63"),
        (Array(repeating: String(repeating: "a", count: 63), count: 4).joined(separator: "."), "1 to 253"),
    ])
    func malformedRulesAreOneLineNamingThemAndTheFix(text: String, expected: String) {
        let message = thrownMessage { _ = try NetworkRule(text) }
        #expect(message.contains(expected), "\(text): \(message)")
        #expect(message.hasPrefix("invalid network rule '"), "\(message)")
        #expect(!message.contains("\n"))
    }

    @Test func namesAreCoveredAsBytesAndSubdomainsOnlyBelowADot() throws {
        let exact = try NetworkRule("example.org"), below = try NetworkRule("*.example.org")
        #expect(exact.covers(name: Array("example.org".utf8)))
        #expect(!exact.covers(name: Array("www.example.org".utf8)))
        #expect(below.covers(name: Array("www.example.org".utf8)))
        #expect(below.covers(name: Array("a.b.example.org".utf8)))
        #expect(!below.covers(name: Array("example.org".utf8)), "*.x covers x's subdomains, not x")
        #expect(!below.covers(name: Array("badexample.org".utf8)))
        #expect(!below.covers(name: Array("example.org.evil.com".utf8)))
    }

    @Test func rulesTravelInJSONAsTheirTextAndABadOneIsRefused() throws {
        let rules = [try NetworkRule("*.example.org:443"), try NetworkRule("10.0.0.0/8")]
        let json = try PenJSON.encode(rules)
        #expect(String(decoding: json, as: UTF8.self).contains("\"*.example.org:443\""))
        #expect(try PenJSON.decode([NetworkRule].self, from: json) == rules)
        #expect(throws: DecodingError.self) { try PenJSON.decode([NetworkRule].self, from: Data("[\"*foo.com\"]".utf8)) }
    }
}
