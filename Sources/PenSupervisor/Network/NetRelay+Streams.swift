// A stream's life on the host: the decision when the guest opens it (by address, at once), the
// decision on its first bytes (`allow` by name: TLS SNI or HTTP Host), the connection, the relay
// within both windows, half closes and the end (logged with the bytes it carried).
import Foundation
import PenCore
import PenWire

extension NetRelay {
    /// The guest's name for the host's loopback.
    static let gateway = IPAddress(GuestContract.Network.gateway)!
    static let hostLoopback = IPAddress("127.0.0.1")!

    func open(_ id: UInt32, _ destination: NetDestination) {
        if let existing = streams[id] {
            guest.send(.netReset(id))
            end(existing, verdict: "allowed", reason: "reset: the guest reused the id of an open stream")
            return
        }
        // An IPv4-mapped IPv6 address is connected to as the IPv4 address it holds: it is judged,
        // and its route asked, as that (else the IPv6 default route would pass a LAN neighbour).
        var asked = IPAddress(destination: destination.address)!
        if case .v6(0, let low) = asked, low >> 32 == 0xffff { asked = .v4(UInt32(truncatingIfNeeded: low)) }
        let target = asked == Self.gateway ? Self.hostLoopback : asked
        guard streams.count < maxNetStreams else {
            return refuseAtOnce(NetStream(id: id, destination: destination, target: target, names: [], reason: ""),
                                "more than \(maxNetStreams) streams open")
        }
        let names = pins.names(for: target)
        let stream = NetStream(id: id, destination: destination, target: target, names: names, reason: "")
        let byRange = allowedByRange(target, destination.port)
        // Port 53 of any address is pen's DNS (the guest's resolver is a private address), unless
        // the user opened a DNS server with a range rule.
        if destination.port == 53 && !byRange && policy.mode != .none && policy.mode != .full {
            return openDNSStream(NetStream(id: id, destination: destination, target: target, names: [], reason: "pen's DNS over TCP"))
        }
        var verdict = policy.decide(ConnectionAttempt(address: target, port: destination.port, pinnedNames: names), host: configuration.host)
        if case .allowed = verdict, policy.mode != .full, !byRange, let refusal = routeRefusal(target) { verdict = .refused(refusal) }
        guard case .allowed(let rule) = verdict else {
            if case .refused(let why) = verdict { refuseAtOnce(stream, why) }
            return
        }
        let allowed = NetStream(id: id, destination: destination, target: target, names: names, reason: "allowed by \(rule)")
        // A name rule judges the name the client presents too: its first bytes are read before any is passed on.
        if policy.mode == .allow && !byRange { allowed.inspection = Inspection() }
        switch UpstreamSocket.connect(target, destination.port) {
        case .failure(let failure):
            guest.send(.netRefused(id, failure.words))
            logStream(allowed, verdict: "failed", reason: failure.words)
        case .success(let fd):
            allowed.fd = fd
            allowed.connectDeadline = Date().addingTimeInterval(UpstreamSocket.connectDeadline)
            streams[id] = allowed
        }
    }

    /// Whether a range rule of `allow` holds the address (the user opted into it, private or not).
    private func allowedByRange(_ address: IPAddress, _ port: UInt16) -> Bool {
        guard policy.mode == .allow else { return false }
        return policy.rules.contains { rule in
            if case .range(let range) = rule.target { return range.contains(address) && rule.admits(port: port) }
            return false
        }
    }

    func receiveData(_ stream: NetStream, _ bytes: ArraySlice<UInt8>) {
        guard !bytes.isEmpty else { return }  // carries nothing; never a step of the inspection
        guard !stream.guestClosed else { return reset(stream.id, stream: stream) }
        if stream.dns != nil { return receiveDNSData(stream, bytes) }
        stream.guestUnacked += bytes.count
        guard stream.guestUnacked <= netWindow else { return reset(stream.id, stream: stream) }
        stream.bytesUp += UInt64(bytes.count)
        if var inspection = stream.inspection {
            let outcome = inspection.add(bytes, now: Date())
            stream.inspection = inspection
            inspected(stream, outcome)
        } else {
            forward(stream, bytes)
        }
    }

    func inspected(_ stream: NetStream, _ outcome: Inspection.Outcome) {
        switch outcome {
        case .wait: return
        case .refused(let why): refuse(stream, why)
        case .decided(let name, let bytes):
            stream.inspection = nil
            stream.presented = name
            let attempt = ConnectionAttempt(address: stream.target, port: stream.destination.port, pinnedNames: stream.names, presentedName: name)
            if case .refused(let why) = policy.decide(attempt, host: configuration.host) { return refuse(stream, why) }
            if bytes.first != 0x16 {
                switch OneRequestGuard.start(bytes) {
                case .notHTTP: break
                case .refused(let why): return refuse(stream, why)
                case .guarding(let request): stream.request = request
                }
            }
            forward(stream, bytes[...])
            shutDownUpstreamIfDone(stream)
        }
    }

    private func forward(_ stream: NetStream, _ bytes: ArraySlice<UInt8>) {
        if var request = stream.request {
            if let why = request.pass(bytes.count) { return refuse(stream, why) }
            stream.request = request
        }
        stream.toUpstream.append(bytes)
        if stream.connected { writeUpstream(stream) }
    }

    func serviceUpstream(_ stream: NetStream, events: Int16) {
        if stream.connecting {
            if let failure = UpstreamSocket.outcome(stream.fd) {
                guest.send(.netRefused(stream.id, failure.words))
                return end(stream, verdict: "failed", reason: failure.words)
            }
            stream.connectDeadline = nil
            stream.announced = true
            guest.send(.netConnected(stream.id))
            return writeUpstream(stream)
        }
        if events & Int16(POLLOUT) != 0 || events & Int16(POLLERR) != 0 { writeUpstream(stream) }
        if streams[stream.id] === stream, stream.wantsUpstreamRead, events & ~Int16(POLLOUT) != 0 { readUpstream(stream) }
    }

    private func writeUpstream(_ stream: NetStream) {
        guard let written = stream.toUpstream.send(to: stream.fd) else { return upstreamFailed(stream) }
        if written > 0 {
            stream.guestUnacked -= written
            guest.send(.netAck(stream.id, UInt64(written)))
        }
        shutDownUpstreamIfDone(stream)
    }

    private func readUpstream(_ stream: NetStream) {
        let room = min(netWindow - stream.hostUnacked, readBuffer.count)
        let n = read(stream.fd, &readBuffer, room)
        if n > 0 {
            stream.hostUnacked += n
            stream.bytesDown += UInt64(n)
            guest.send(Frame.netData(stream.id, readBuffer[0..<n]))
        } else if n == 0 {
            stream.upstreamEnded = true
            guest.send(.netClose(stream.id))
            finishIfDone(stream)
        } else if errno != EAGAIN && errno != EINTR {
            upstreamFailed(stream)
        }
    }

    private func upstreamFailed(_ stream: NetStream) {
        let why = String(cString: strerror(errno))
        guest.send(.netReset(stream.id))
        end(stream, verdict: "allowed", reason: "\(stream.reason); reset: \(why)")
    }

    /// The guest closed its side and everything it sent was written: the upstream hears the close.
    func shutDownUpstreamIfDone(_ stream: NetStream) {
        guard streams[stream.id] === stream, stream.guestClosed, !stream.upstreamShutDown, stream.connected else { return }
        if var inspection = stream.inspection {  // a client that closed is judged on what it sent
            let outcome = inspection.expire()
            stream.inspection = inspection
            return inspected(stream, outcome)
        }
        guard stream.toUpstream.isEmpty else { return }
        shutdown(stream.fd, Int32(SHUT_WR))
        stream.upstreamShutDown = true
        finishIfDone(stream)
    }

    private func finishIfDone(_ stream: NetStream) {
        if stream.finished { end(stream, verdict: "allowed", reason: stream.reason) }
    }

    /// Refused before it was connected (`netRefused`) or after (`netReset`), told to the shell.
    func refuse(_ stream: NetStream, _ why: String) {
        guest.send(stream.announced || stream.inbound ? .netReset(stream.id) : .netRefused(stream.id, why))
        onRefusal(refusalMessage(stream, why))
        end(stream, verdict: "refused", reason: why)
    }

    private func refuseAtOnce(_ stream: NetStream, _ why: String) {
        guest.send(.netRefused(stream.id, why))
        onRefusal(refusalMessage(stream, why))
        logStream(stream, verdict: "refused", reason: why)
    }

    private func refusalMessage(_ stream: NetStream, _ why: String) -> String {
        let name = stream.presented ?? stream.names.first
        return "pen: network: refused \(stream.target):\(stream.destination.port)\(name.map { " (\($0.printableName))" } ?? ""): \(why)"
    }

    /// The stream is gone: its socket closed, its line written.
    func end(_ stream: NetStream, verdict: String, reason: String) {
        stream.closeSocket()
        if streams[stream.id] === stream { streams[stream.id] = nil }
        logStream(stream, verdict: verdict, reason: reason)
    }

    private func logStream(_ stream: NetStream, verdict: String, reason: String) {
        log.write(.init(time: NetworkLog.now(), event: "connect", destination: stream.target.description, port: stream.destination.port,
                        names: stream.names.prefix(NetworkLog.namesLogged).map(\.printableName), presented: stream.presented?.printableName,
                        verdict: verdict, reason: reason, bytesUp: stream.bytesUp, bytesDown: stream.bytesDown))
    }
}
