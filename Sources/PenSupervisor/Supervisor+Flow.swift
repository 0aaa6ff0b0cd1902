// The bounds the host keeps whatever the guest sends. The guest grants each session's output a
// window (`sessionWindow`) and promises never to have more than that unacknowledged: the host
// counts, and a session whose guest breaks the promise is closed. Acknowledgements are owed per
// session and sent as one frame each per turn of the loop, never one per frame the guest sent.
// Whichever side is over its bound is not read until it is under again.
import Foundation
import PenCore
import PenWire

/// What the host counts of one guest session.
final class SessionFlow {
    /// Output the guest sent and the host has not acknowledged yet (at most the window).
    var outstanding = 0
    /// Output taken (or dropped) since the last acknowledgement the guest was sent.
    var ackOwed = 0
    /// Input sent to the guest that it has not acknowledged yet.
    var inputInFlight = 0
    /// Input the guest acknowledged that the client was not told of yet.
    var inputAckOwed = 0
    /// The guest broke its window: hung up, and nothing more of it is taken.
    var closed = false
    /// The guest reported the session's end: no more output comes; forgotten once its client is gone.
    var ended = false
}

extension Supervisor {
    /// Past this many bytes queued for the guest, neither the guest nor any client is read.
    static let guestQueueLimit = 1 << 20
    /// Past this many bytes queued for a client, the guest's notices and setup progress skip it
    /// and its own requests are not read (its session's output is bounded by the window).
    static let clientQueueLimit = 1 << 20

    var guestOverBound: Bool { guest.queuedBytes > Self.guestQueueLimit }

    func hasRoom(_ client: Client) -> Bool { client.link.queuedBytes < Self.clientQueueLimit }

    /// `bytes` of session `id`'s output arrived: its flow, or nil when the output is to be
    /// dropped (no such session, or one closed for breaking its window).
    func outputArrived(_ id: UInt32, bytes: Int) -> SessionFlow? {
        guard let flow = sessions.flow(id), !flow.closed, !flow.ended else { return nil }
        flow.outstanding += bytes
        guard flow.outstanding <= sessionWindow else {
            closeSession(id, flow, because: "sent more output than the \(sessionWindow / 1024) KiB window it granted")
            return nil
        }
        return flow
    }

    /// The client took (or will never take) `bytes` of session `id`'s output.
    func outputTaken(_ id: UInt32, bytes: Int) {
        guard let flow = sessions.flow(id), !flow.closed else { return }
        let taken = min(bytes, flow.outstanding)
        flow.outstanding -= taken
        flow.ackOwed += taken
    }

    /// The guest wrote `count` bytes of session `id`'s input: the client may send that much more.
    func inputAcknowledged(_ id: UInt32, count: UInt64) {
        guard let flow = sessions.flow(id), !flow.closed else { return }
        guard count <= UInt64(flow.inputInFlight) else {
            return closeSession(id, flow, because: "acknowledged input it was never sent")
        }
        flow.inputInFlight -= Int(count)
        flow.inputAckOwed += Int(count)
    }

    /// One acknowledgement per session that is owed one (while the guest takes what it is sent).
    func sendAcks() {
        guard !guestOverBound else { return }
        for (id, flow) in sessions.flows where flow.ackOwed > 0 {
            guest.send(.outputAck(id, UInt64(flow.ackOwed)))
            flow.ackOwed = 0
        }
        guest.flush()
        sessions.forgetFinished()
    }

    /// The guest broke its promise for one session: hung up in the guest, its client told.
    func closeSession(_ id: UInt32, _ flow: SessionFlow, because why: String) {
        flow.closed = true
        guest.send(.hangup(id))
        log("pen: VM '\(plan.spec.name)' \(why) (session \(id)); the session was closed")
        guard let client = sessions.client(ofSession: id), let session = client.session, !session.ended else { return }
        client.link.send(Frame(.fatal, text: "VM '\(plan.spec.name)' \(why); the session was closed"))
        end(session, of: client)
    }
}

extension Supervisor {
    /// A guest that stops reading its control channel while it goes on sending would keep the
    /// supervisor from reading anyone (clients included: a `pen shell` could not even leave).
    func checkGuestReads(now: Date) {
        guard guestOverBound, !guest.closed else {
            guestStuckSince = nil
            return
        }
        guard let since = guestStuckSince else {
            guestStuckSince = now
            return
        }
        if now >= since.addingTimeInterval(guestStuckLimit) {
            log("pen: VM '\(plan.spec.name)' did not read its control channel for \(Int(guestStuckLimit)) s; stopping it")
            vm.process.kill()
            guestStuckSince = nil
        }
    }
}
