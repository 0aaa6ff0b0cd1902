// pen's DNS for the guest: each query read strictly (DNSQuestion), a name the policy does not
// answer refused with NXDOMAIN without asking anyone (no exfiltration through DNS), the others
// resolved by the host (DNSResolverPool) and answered with A/AAAA records only; the addresses are
// pinned to the name, which is how `allow` ties a connection to an address to the names it has.
import Foundation
import PenCore
import PenWire

extension NetRelay {
    func query(_ id: UInt32, _ message: [UInt8]) {
        // A message that is not one plain question gets no answer (the guest's resolver times out).
        guard let question = DNSQuestion(query: message) else { return }
        guard policy.answersDNS(for: question.name) else {
            guest.send(.dnsAnswer(id, question.response(.noSuchName)))
            logDNS(question, verdict: "refused", reason: "not allowed")
            onRefusal("pen: network: refused DNS for \(question.name.printableName): not allowed")
            return
        }
        guard question.type == DNSQuestion.a || question.type == DNSQuestion.aaaa else {
            guest.send(.dnsAnswer(id, question.response(.addresses([], ttl: DNSResolverPool.answerTTL))))
            return
        }
        nextToken += 1
        guard resolver.submit(token: nextToken, name: question.name, type: question.type) else {
            guest.send(.dnsAnswer(id, question.response(.failure)))
            logDNS(question, verdict: "failed", reason: "more than \(DNSResolverPool.maxUnfinished) lookups in flight")
            return
        }
        lookups[nextToken] = (question, id, Date().addingTimeInterval(Self.dnsDeadline))
    }

    func answerLookups() {
        for (token, answer) in resolver.take() {
            guard let lookup = lookups.removeValue(forKey: token) else { continue }  // answered SERVFAIL at its deadline
            let question = lookup.question
            switch answer {
            case .addresses(let addresses, let ttl):
                pins.remember(question.name, addresses, ttl: ttl)
                logDNS(question, verdict: "answered", reason: addresses.map(\.description).joined(separator: " "))
            case .noSuchName: logDNS(question, verdict: "answered", reason: "no such name")
            case .failure: logDNS(question, verdict: "failed", reason: "the host's resolver failed")
            }
            guest.send(.dnsAnswer(lookup.queryID, question.response(answer)))
        }
    }

    func logDNS(_ question: DNSQuestion, verdict: String, reason: String) {
        log.write(.init(time: NetworkLog.now(), event: "dns", destination: nil, port: nil, names: [question.name.printableName],
                        presented: nil, verdict: verdict, reason: reason, bytesUp: nil, bytesDown: nil))
    }
}
