// The guest's half of the network policy: every TCP connection and DNS query a guest program
// makes arrives here through the redirect (NetworkRedirect) and goes to the supervisor as
// frames on the `pen.net` port (NetFrame.swift); the supervisor decides, connects and answers.
// Its own thread and poll loop, apart from the sessions': nothing here blocks, every socket is
// non-blocking, each stream's bytes are bounded by the window both ways, the queries pending by
// DNSQueries, the streams by `maxNetStreams`, and what waits for the port by `linkHighWater`.
// The host's frames are handled in NetRelay+HostFrames.swift.
import CGuestSys
import Glibc
import PenIO
import PenWire

final class NetRelay {
    static let stage = "network relay"
    /// Sockets are read only while fewer bytes than this wait for the port.
    static let linkHighWater = 1 << 20
    /// How long a connect to a published port may take.
    static let connectTime: UInt64 = 10_000_000  // µs

    /// Replaced when the machine resumes from a suspend (a new supervisor: framing starts afresh).
    var link: FrameLink
    /// Set by a suspend (RelayPause): nothing is read or sent until the machine resumes.
    var paused = false
    private let listeners: [Int32]
    private let dnsSockets: [Int32]
    private let originalDestination: (Int32) -> NetDestination?
    var streams: [UInt32: NetStream] = [:]
    private var nextStreamID: UInt32 = 1
    var queries = DNSQueries()
    var log = RateLimitedLog()
    var buffer = [UInt8](repeating: 0, count: 65536)
    /// Out of descriptors (the sessions share the init's): the listeners rest until then, or
    /// their pending connection would wake the loop at once, again and again.
    private var acceptResumes: UInt64?
    static let acceptRest: UInt64 = 100_000  // µs

    /// Opens the listeners the redirect sends to and starts the relay on a thread of its own.
    /// Without the `pen.net` port (a host that does not attach it) the guest has no network:
    /// one line says so and nothing listens, so connections are refused.
    static func start() throws(InitFailure) {
        let net = GuestContract.Network.self
        let path: String
        do {
            path = try Devices.virtioPort(named: GuestContract.networkPort, stage: stage, timeoutMicros: 1_000_000)
        } catch {
            Console.log("pen-init: no \(GuestContract.networkPort) port: the guest has no network")
            return
        }
        let fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        if fd < 0 { throw .sys(stage, "open \(path)") }
        let listeners = [try NetSockets.loopback(SOCK_STREAM, family: AF_INET, port: net.policyTCPPort),
                         try NetSockets.loopback(SOCK_STREAM, family: AF_INET6, port: net.policyTCPPort)]
        let dns = [try NetSockets.loopback(SOCK_DGRAM, family: AF_INET, port: net.policyDNSPort),
                   try NetSockets.loopback(SOCK_DGRAM, family: AF_INET6, port: net.policyDNSPort)]
        let relay = NetRelay(link: fd, listeners: listeners, dnsSockets: dns)
        guard RelayPause.open() else { throw InitFailure(stage, "could not make its pause pipes") }
        guard Threads.detach({ relay.run() }) else { throw InitFailure(stage, "could not start its thread") }
    }

    /// The relay owns every descriptor it is given (the port's, the TCP listeners', the DNS
    /// sockets') and closes them when the port closes. `originalDestination` is where an
    /// accepted connection was headed (nil: it did not come through the redirect).
    init(link fd: Int32, listeners: [Int32], dnsSockets: [Int32],
         originalDestination: @escaping (Int32) -> NetDestination? = NetSockets.originalDestination(of:)) {
        link = FrameLink(fd: fd, ownsDescriptor: false)  // kept across a resume; closed by run()
        self.listeners = listeners
        self.dnsSockets = dnsSockets
        self.originalDestination = originalDestination
        for fd in listeners + dnsSockets { setNonBlocking(fd) }
    }

    /// Relays until the port closes (the host is gone); then resets every stream and closes
    /// every socket, so the guest's connections fail instead of hanging.
    func run() {
        while !link.closed { pollOnce() }
        for stream in streams.values { NetSockets.closeWithReset(stream.fd) }
        streams = [:]
        for fd in listeners + dnsSockets { close(fd) }
        close(link.fd)
    }

    // MARK: the loop

    private enum Source { case link, pause, listener(Int32), dns(Int32), stream(UInt32) }

    private func pollOnce() {
        if paused { return waitWhilePaused() }
        var fds = [pollfd(fd: link.fd, events: Int16(POLLIN) | (link.wantsWrite ? Int16(POLLOUT) : 0), revents: 0),
                   pollfd(fd: RelayPause.commandFD, events: Int16(POLLIN), revents: 0)]
        var sources: [Source] = [.link, .pause]
        if acceptResumes.map({ $0 <= monotonicMicroseconds() }) ?? true {
            acceptResumes = nil
            for fd in listeners { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)); sources.append(.listener(fd)) }
        }
        for fd in dnsSockets { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)); sources.append(.dns(fd)) }
        let portHasRoom = link.queuedBytes < Self.linkHighWater
        for stream in streams.values {
            // A stream that wants nothing is not polled (a socket shut both ways would report
            // POLLHUP forever); its errors show on its next read or write.
            let events = (stream.wantsRead && portHasRoom ? Int16(POLLIN) : 0) | (stream.wantsWrite ? Int16(POLLOUT) : 0)
            guard events != 0 else { continue }
            fds.append(pollfd(fd: stream.fd, events: events, revents: 0))
            sources.append(.stream(stream.id))
        }
        let ready = poll(&fds, nfds_t(fds.count), timeout())
        if ready < 0 && errno != EINTR { Console.log("pen-init: \(Self.stage): poll: errno \(errno)") }
        for (i, source) in sources.enumerated() where fds[i].revents != 0 {
            if paused { return }  // a suspend came in this turn: nothing more is read or sent
            let revents = fds[i].revents
            switch source {
            case .link:
                if revents & Int16(POLLOUT) != 0 { link.flush() }
                if revents & ~Int16(POLLOUT) != 0 { readHost() }
            case .pause: takePauseCommand()
            case .listener(let fd): acceptConnections(fd)
            case .dns(let fd): receiveQueries(fd)
            case .stream(let id):
                // Looked up again: the host's frames may have ended it (and its descriptor's
                // number may belong to a new stream by now).
                guard let stream = streams[id] else { continue }
                serve(stream, revents: revents)
            }
        }
        expire()
        link.flush()
    }

    /// Sleeps until a query or a connect runs out of time, or indefinitely.
    private func timeout() -> Int32 {
        let deadlines = streams.values.compactMap(\.connectDeadline) + [queries.nextDeadline, acceptResumes].compactMap { $0 }
        guard let next = deadlines.min() else { return -1 }
        let now = monotonicMicroseconds()
        return next <= now ? 0 : Int32(min((next - now) / 1000 + 1, 60_000))
    }

    private func expire() {
        let now = monotonicMicroseconds()
        if let next = queries.nextDeadline, next <= now { queries.expire(now: now) }
        for stream in streams.values {
            guard let deadline = stream.connectDeadline, deadline <= now else { continue }
            refuseInbound(stream, "the connect to the guest's port timed out")
        }
    }

    private func serve(_ stream: NetStream, revents: Int16) {
        if stream.isConnecting {
            let error = NetSockets.connectError(stream.fd)
            if error != 0 {
                refuseInbound(stream, String(cString: strerror(error)))
            } else if NetSockets.isConnected(stream.fd) {  // no error yet is not connected yet
                stream.inboundConnected(link: link)
            }
            return
        }
        do throws(NetStream.Failed) {
            if revents & Int16(POLLOUT) != 0 { try stream.flush(link: link) }
            if revents & ~Int16(POLLOUT) != 0 { try stream.readSocket(&buffer, link: link) }
        } catch {
            reset(stream, tellHost: true)
            return
        }
        finishIfDone(stream)
    }

    // MARK: the guest's connections and queries

    private func acceptConnections(_ listener: Int32) {
        for _ in 0..<64 {  // a burst at a time: the port and the streams get their turn
            let fd = pen_accept_nonblocking(listener)
            guard fd >= 0 else {
                if [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(errno) {
                    log.log("pen-init: \(Self.stage): accept: errno \(errno): connections wait")
                    acceptResumes = monotonicMicroseconds() + Self.acceptRest
                }
                return
            }
            guard let destination = originalDestination(fd) else {
                log.log("pen-init: \(Self.stage): a connection to the listener itself, not through the redirect: reset")
                NetSockets.closeWithReset(fd)
                continue
            }
            guard streams.count < maxNetStreams else {
                log.log("pen-init: \(Self.stage): \(destination.text) reset: \(maxNetStreams) connections are open")
                NetSockets.closeWithReset(fd)
                continue
            }
            let id = newStreamID()
            streams[id] = NetStream(id: id, fd: fd, destination: destination, state: .opening)
            link.send(.netConnect(id, destination))
        }
    }

    /// The next id of ours not in use (ids go up and wrap below `inboundStreamBase`, so the
    /// host's late frames for a stream that ended do not find a new one under its id).
    private func newStreamID() -> UInt32 {
        while true {
            let id = nextStreamID
            nextStreamID = id + 1 >= inboundStreamBase ? 1 : id + 1
            if streams[id] == nil { return id }
        }
    }

    private func receiveQueries(_ socket: Int32) {
        for _ in 0..<64 {
            var sender = sockaddr_storage()
            var senderLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let n = withUnsafeMutablePointer(to: &sender) { address in
                address.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                    buffer.withUnsafeMutableBytes { recvfrom(socket, $0.baseAddress, $0.count, Int32(MSG_TRUNC), address, &senderLength) }
                }
            }
            guard n >= 0 else { return }
            // Empty, or larger than a DNS message may be (MSG_TRUNC gives its whole length): dropped.
            guard n > 0, n <= maxDNSMessage else { continue }
            guard let id = queries.add(socket: socket, sender: sender, senderLength: senderLength, now: monotonicMicroseconds()) else {
                log.log("pen-init: \(Self.stage): \(DNSQueries.limit) DNS queries wait for answers: one dropped")
                continue
            }
            link.send(.dnsQuery(id, buffer[0..<n]))
        }
    }
}
