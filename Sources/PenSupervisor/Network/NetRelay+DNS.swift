// pen's DNS for the guest: each query read strictly (DNSQuestion), a name the policy does not
// answer refused with NXDOMAIN without asking anyone (no exfiltration through DNS), the others
// resolved by the host (DNSResolverPool) and answered with A/AAAA records only; the addresses are
// pinned to the name, which is how `allow` ties a connection to an address to the names it has.
// A query arrives as a datagram (`dnsQuery`) or on a stream to port 53 (NetRelay+DNSStream).
import Foundation
import PenCore
import PenWire

/// Where a DNS answer goes.
enum DNSReply {
    /// A `dnsAnswer` for this query id.
    case datagram(UInt32)
    /// A length-prefixed message on this stream (DNS over TCP).
    case stream(NetStream)
}

extension NetRelay {
    /// Answers `message`; false when it is not one plain question (a datagram gets no answer then).
    @discardableResult
    func query(_ message: [UInt8], reply: DNSReply) -> Bool {
        guard let question = DNSQuestion(query: message) else { return false }
        guard policy.answersDNS(for: question.name) else {
            answer(reply, question.response(.noSuchName))
            logDNS(question, verdict: "refused", reason: "not allowed")
            onRefusal("pen: network: refused DNS for \(question.name.printableName): not allowed")
            return true
        }
        guard question.type == DNSQuestion.a || question.type == DNSQuestion.aaaa else {
            answer(reply, question.response(.addresses([], ttl: DNSResolverPool.answerTTL)))
            return true
        }
        nextToken += 1
        guard resolver.submit(token: nextToken, name: question.name, type: question.type) else {
            answer(reply, question.response(.failure))
            logDNS(question, verdict: "failed", reason: "more than \(DNSResolverPool.maxUnfinished) lookups in flight")
            return true
        }
        lookups[nextToken] = (question, reply, Date().addingTimeInterval(Self.dnsDeadline))
        if case .stream(let stream) = reply { stream.dns?.waiting += 1 }
        return true
    }

    func answerLookups() {
        for (token, result) in resolver.take() {
            guard let lookup = lookups.removeValue(forKey: token) else { continue }  // answered SERVFAIL at its deadline
            let question = lookup.question
            switch result {
            case .addresses(let addresses, let ttl):
                pins.remember(question.name, addresses, ttl: ttl)
                logDNS(question, verdict: "answered", reason: addresses.map(\.description).joined(separator: " "))
            case .noSuchName: logDNS(question, verdict: "answered", reason: "no such name")
            case .failure: logDNS(question, verdict: "failed", reason: "the host's resolver failed")
            }
            answered(lookup.reply, question.response(result))
        }
    }

    /// A lookup's answer (or its SERVFAIL at the deadline): one fewer the stream waits for.
    func answered(_ reply: DNSReply, _ message: [UInt8]) {
        if case .stream(let stream) = reply { stream.dns?.waiting -= 1 }
        answer(reply, message)
    }

    private func answer(_ reply: DNSReply, _ message: [UInt8]) {
        switch reply {
        case .datagram(let id): guest.send(.dnsAnswer(id, message))
        case .stream(let stream): answerOnStream(stream, message)
        }
    }

    func logDNS(_ question: DNSQuestion, verdict: String, reason: String) {
        log.write(.init(time: NetworkLog.now(), event: "dns", destination: nil, port: nil, names: [question.name.printableName],
                        presented: nil, verdict: verdict, reason: reason, bytesUp: nil, bytesDown: nil))
    }
}
