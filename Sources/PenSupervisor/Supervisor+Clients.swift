// The supervisor's side of its clients: who may connect (this user only), the frames a client
// sends (hello, status, one session's open, input, resizes and signals, a stop), and what
// happens when a client goes away.
import Foundation
import PenCore
import CHostSys
import PenIO
import PenWire

/// One connection on the supervisor's socket.
final class Client {
    let link: FrameLink
    let connectedAt = Date()
    var greeted = false
    var session: ClientSession?
    /// Its session ended and the VM is stopping because of it: kept until the VM is down, so
    /// the client returns only once the next `pen shell` would find the VM stopped.
    var waitsForStop = false
    var closeWhenFlushed = false

    init(fd: Int32) {
        link = FrameLink(fd: fd)
    }

    var isDone: Bool { link.closed || (closeWhenFlushed && !link.wantsWrite) }
    var wantsInput: Bool { !link.closed }
}

/// A client's session in the guest.
final class ClientSession {
    let guestID: UInt32
    let request: SessionRequest
    var openSent = false
    /// What the client sent before its session was opened in the guest (a guest still booting
    /// must see nothing but its configuration): sent right after the open. Bounded by the
    /// input window, and by `pendingLimit` frames.
    var pending: [Frame] = []
    static let pendingLimit = 4096
    var ended = false
    /// An archive session's exit, held until every announced byte arrived on the archive port.
    var heldExit: Frame?
    var archiveExpected: UInt64?

    init(guestID: UInt32, request: SessionRequest) {
        self.guestID = guestID
        self.request = request
    }
}

extension Supervisor {
    func acceptClients() {
        while true {
            let fd = pen_accept(listener)
            guard fd >= 0 else {
                // Out of descriptors: the connection stays in the backlog, and polling the listener
                // now would wake at once again. It is looked at again in a second.
                if [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(errno) { acceptPausedUntil = Date().addingTimeInterval(1) }
                return
            }
            // The socket's directory is private already; the peer's uid is the check that does not
            // depend on file modes someone could loosen.
            guard RunDirectory.peerUID(fd) == geteuid() else {
                log("pen: supervisor: refused a connection from uid \(RunDirectory.peerUID(fd).map(String.init) ?? "?")")
                close(fd)
                continue
            }
            guard !sessions.isFull else {
                let refusal = Frame(.fatal, text: "VM '\(plan.spec.name)' has \(SessionTable.maxClients) connections already; try again later").encoded()
                _ = refusal.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
                close(fd)
                continue
            }
            sessions.add(Client(fd: fd))
        }
    }

    /// Connections that did not say hello in time are closed (each holds a slot and a descriptor).
    func closeSilentClients(now: Date) {
        for client in sessions.clients where !client.greeted && now >= client.connectedAt.addingTimeInterval(helloTimeout) {
            client.link.markClosed()
        }
    }

    func serviceClient(_ client: Client, events: Int16) {
        if events & Int16(POLLOUT) != 0 { flush(client) }
        guard events & ~Int16(POLLOUT) != 0 else { return }
        let frames: [Frame]?
        do { frames = try client.link.receive(&buffer) } catch {
            client.link.send(Frame(.fatal, text: error.description))
            return clientLeft(client)
        }
        guard let frames else { return clientLeft(client) }
        for frame in frames where !client.link.closed { handle(frame, from: client) }
        flush(client)
    }

    private func handle(_ frame: Frame, from client: Client) {
        guard client.greeted || frame.kind == .hello else {
            return refuse(client, "say hello first")
        }
        switch frame.kind {
        case .hello:
            guard (try? frame.checkHello()) != nil else {
                return refuse(client, "this VM's pen speaks wire version \(wireVersion), the client \(frame.text.prefix(10)): stop the VM and start it with this pen")
            }
            client.greeted = true
        case .status:
            if let json = try? PenJSON.encode(status) { client.link.send(Frame(.statusReport, Array(json))) }
        case .shutdown:
            requestStop()
        case .suspendVM:
            requestSuspend(client, force: frame.text == "force")
        case .policyChange:
            do { client.link.send(try changePolicy(frame.payload)) } catch { refuse(client, error.message) }
        case .open:
            guard client.session == nil else { return refuse(client, "one session per connection") }
            guard !state.isStopping else { return refuse(client, "VM '\(plan.spec.name)' is stopping") }
            guard pendingSuspend == nil else { return refuse(client, "VM '\(plan.spec.name)' is being suspended; resume it with `pen shell \(plan.spec.name)` once it is") }
            guard let body = try? frame.sessionBody(), let request = try? SessionRequest(decoding: body.body.payload[...]) else {
                return refuse(client, "a malformed session request")
            }
            let session = sessions.open(request, for: client)
            // What the boot had to say before any session existed (a repaired disk) goes to the
            // first session (the `pen shell` that booted the VM; after `pen vm start`, the next one).
            bootNotices.forEach(client.link.send)
            bootNotices = []
            if state.boot == .ready { openInGuest(session) }
        case .hangup:
            // The client leaves its session now (Ctrl-] q) but waits for the VM if it stops with it.
            guard let session = client.session, !session.ended else { return }
            if session.openSent { guest.send(.hangup(session.guestID)) }
            end(session, of: client)
        case .stdinData, .stdinClosed, .windowSize, .signal:
            guard let session = client.session, !session.ended, let body = try? frame.sessionBody() else { return }
            if frame.kind == .stdinData, let flow = sessions.flow(session.guestID) {
                // The client sends only within the window the guest acknowledged: more is its bug.
                flow.inputInFlight += body.body.payload.count
                guard flow.inputInFlight <= sessionWindow else { return refuse(client, "more input than the \(sessionWindow / 1024) KiB window") }
            }
            let forGuest = Frame.session(frame.kind, session.guestID, body.body.payload)
            if session.openSent {
                guest.send(forGuest)
            } else if session.pending.count < ClientSession.pendingLimit {
                session.pending.append(forGuest)
            } else {
                refuse(client, "too much sent before the session started")
            }
        default:
            refuse(client, "unexpected \(frame.kind)")
        }
    }

    func openInGuest(_ session: ClientSession) {
        guard !session.openSent else { return }
        session.openSent = true
        guest.send(.open(session.guestID, session.request))
        session.pending.forEach(guest.send)
        session.pending = []
        guest.flush()
    }

    func refuse(_ client: Client, _ why: String) {
        client.link.send(Frame(.fatal, text: why))
        client.closeWhenFlushed = true
    }

    /// Writes what the client takes now; the guest's window reopens for the output it took
    /// (acknowledged with the loop's turn, one frame per session). The input the guest took
    /// since is told to the client in one frame.
    func flush(_ client: Client) {
        if let session = client.session, let flow = sessions.flow(session.guestID), flow.inputAckOwed > 0, !client.link.closed {
            client.link.send(.stdinAck(connectionSessionID, UInt64(flow.inputAckOwed)))
            flow.inputAckOwed = 0
        }
        for (session, bytes) in client.link.flush() where bytes > 0 {
            outputTaken(session, bytes: bytes)
        }
    }

    /// The client is gone (its pen exited, was killed, or its terminal closed): its session's
    /// processes get SIGHUP; the other sessions go on.
    private func clientLeft(_ client: Client) {
        client.link.markClosed()
        flush(client)  // acknowledges everything it will now never read
        guard let session = client.session, !session.ended else { return }
        session.ended = true
        if session.openSent { guest.send(.hangup(session.guestID)) }
        guest.flush()
        sessionEnded()
    }

    /// Ends a client's session: the client waits for the VM when it stops with this session (its
    /// last, and not detached), else it is closed once what is queued for it went out.
    func end(_ session: ClientSession, of client: Client) {
        session.ended = true
        if !plan.detached && sessions.sessionCount == 0 { client.waitsForStop = true } else { client.closeWhenFlushed = true }
        sessionEnded()
    }

    /// A session ended: a VM that `pen shell` started stops with its last session.
    func sessionEnded() {
        if sessions.sessionCount == 0 {
            idleSince = Date()
            if !plan.detached && !state.isStopping && pendingSuspend == nil && !suspendedForGood { requestStop() }
        }
    }
}
