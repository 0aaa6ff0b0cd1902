import Testing
@testable import PenCore

/// `pen vm net NAME allow|deny RULE`, decided: only `allow` has rules to change, each once.
@Suite struct PolicyChangeTests {
    let a = try! NetworkRule("a.example")
    let range = try! NetworkRule("10.1.2.0/24:5432")

    @Test func allowAddsARuleOnceAndDenyRemovesOnlyWhatIsThere() throws {
        let start = NetworkPolicy(mode: .allow, rules: [a])
        let added = try PolicyChange.allow(range).applied(to: start, vm: "box")
        #expect(added == NetworkPolicy(mode: .allow, rules: [a, range]))
        #expect { try PolicyChange.allow(a).applied(to: added, vm: "box") } throws: { ($0 as? PenError)?.message.contains("already") == true }
        #expect(try PolicyChange.deny(a).applied(to: added, vm: "box") == NetworkPolicy(mode: .allow, rules: [range]))
        #expect { try PolicyChange.deny(range).applied(to: start, vm: "box") } throws: {
            ($0 as? PenError)?.message.contains("its rules: a.example") == true
        }
    }

    @Test func otherModesHaveNoRulesToChange() {
        for mode in [NetworkMode.public, .none, .full] {
            #expect { try PolicyChange.allow(a).applied(to: NetworkPolicy(mode: mode), vm: "box") } throws: {
                ($0 as? PenError).map { $0.message.contains("VM 'box'") && $0.message.contains("--network allow") } == true
            }
        }
    }

    @Test func aChangeTravelsAsJSON() throws {
        for change in [PolicyChange.allow(range), .deny(a)] {
            #expect(try PenJSON.decode(PolicyChange.self, from: PenJSON.encode(change)) == change)
        }
    }
}
