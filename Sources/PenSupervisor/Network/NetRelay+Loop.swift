// The relay's loop: one poll over its wake pipe, the guest's port, the resolver's results and
// every stream's upstream socket; then its deadlines (connections, first bytes, DNS lookups).
// Like the supervisor's loop it waits in poll until something is ready or the next deadline,
// and never asks for an event it would not act on (no busy loop).
import Foundation
import PenCore
import PenWire

extension NetRelay {
    private enum Source { case wake, guest, resolver, policy, published(PublishedListener), stream(NetStream) }

    func pollOnce(wake: Int32) {
        let guestInput = guest.queuedBytes >= Self.maxQueuedForGuest ? 0 : Int16(POLLIN)
        var fds = [pollfd(fd: wake, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: guest.fd, events: guestInput | (guest.wantsWrite ? Int16(POLLOUT) : 0), revents: 0),
                   pollfd(fd: resolver.wakeFD, events: Int16(POLLIN), revents: 0)]
        var sources: [Source] = [.wake, .guest, .resolver]
        fds.append(pollfd(fd: policyWake.readEnd, events: Int16(POLLIN), revents: 0))
        sources.append(.policy)
        for listener in configuration.published {
            fds.append(pollfd(fd: streams.count < maxNetStreams ? listener.fd : -1, events: Int16(POLLIN), revents: 0))
            sources.append(.published(listener))
        }
        for stream in streams.values where stream.fd >= 0 {
            let events = (stream.wantsUpstreamRead ? Int16(POLLIN) : 0) | (stream.wantsUpstreamWrite ? Int16(POLLOUT) : 0)
            // A socket nothing is wanted from is left out: its POLLHUP would wake every turn.
            fds.append(pollfd(fd: events == 0 ? -1 : stream.fd, events: events, revents: 0))
            sources.append(.stream(stream))
        }
        let ready = poll(&fds, nfds_t(fds.count), timeoutMillis())
        if ready < 0 && errno != EINTR { fatal("pen.net: poll: \(String(cString: strerror(errno)))"); return }
        for (i, source) in sources.enumerated() where fds[i].revents != 0 && running {
            switch source {
            case .wake: running = false
            case .guest:
                if fds[i].revents & Int16(POLLOUT) != 0 { guest.flush() }
                if fds[i].revents & ~Int16(POLLOUT) != 0 { readGuest() }
            case .resolver: answerLookups()
            case .policy: takeNewPolicy()
            case .published(let listener): acceptInbound(listener)
            case .stream(let stream):
                guard streams[stream.id] === stream else { continue }  // ended earlier this turn
                serviceUpstream(stream, events: fds[i].revents)
            }
        }
        checkDeadlines(now: Date())
        if guest.wantsWrite { guest.flush() }
    }

    private func timeoutMillis() -> Int32 {
        let now = Date()
        var wait = 60.0
        for stream in streams.values {
            if let deadline = stream.connectDeadline { wait = min(wait, deadline.timeIntervalSince(now)) }
            if let until = stream.inspection?.until { wait = min(wait, until.timeIntervalSince(now)) }
        }
        for lookup in lookups.values { wait = min(wait, lookup.until.timeIntervalSince(now)) }
        return Int32(max(0, wait) * 1000) + 1
    }

    private func checkDeadlines(now: Date) {
        for stream in Array(streams.values) {
            if let deadline = stream.connectDeadline, now >= deadline, stream.inbound {
                guest.send(.netReset(stream.id))
                end(stream, verdict: "failed", reason: "the guest did not connect within \(Int(UpstreamSocket.connectDeadline)) s")
            } else if let deadline = stream.connectDeadline, now >= deadline {
                refuse(stream, "no connection within \(Int(UpstreamSocket.connectDeadline)) s")
            } else if let until = stream.inspection?.until, now >= until, var inspection = stream.inspection {
                let outcome = inspection.expire()
                stream.inspection = inspection
                inspected(stream, outcome)
            }
        }
        for (token, lookup) in lookups where now >= lookup.until {
            lookups[token] = nil
            answered(lookup.reply, lookup.question.response(.failure))
            logDNS(lookup.question, verdict: "failed", reason: "no answer within \(Int(Self.dnsDeadline)) s")
        }
    }

    /// The guest broke the port's framing: the relay stops and the supervisor is told.
    func fatal(_ why: String) {
        running = false
        onFatal(why)
    }
}
