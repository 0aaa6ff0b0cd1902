// What the guest sends on `pen.net`, frame by frame. A frame that does not parse as its kind, or
// that the host alone may send, resets its stream; framing that cannot be read (an unknown kind,
// an oversized length) stops the relay, since nothing after it can be trusted to be a frame.
import Foundation
import PenCore
import PenWire

extension NetRelay {
    func readGuest() {
        let frames: [Frame]?
        do { frames = try guest.receive(&readBuffer) } catch {
            fatal("pen.net: \(error)")
            return
        }
        guard let frames else {
            // The port closed: the VM is gone or going; nothing more can be relayed.
            running = false
            return
        }
        for frame in frames where running { handle(frame) }
    }

    private func handle(_ frame: Frame) {
        guard let (id, body) = try? frame.sessionBody() else {
            fatal("pen.net: a \(frame.kind) frame without a stream id")
            return
        }
        switch frame.kind {
        case .netConnect:
            guard id < inboundStreamBase else { return }  // the host's ids: never the guest's to open or reset
            guard let destination = try? body.netDestination() else { return reset(id, stream: streams[id]) }
            open(id, destination)
        case .netData:
            guard let stream = streams[id] else { return guest.send(.netReset(id)) }
            receiveData(stream, body.payload[...])
        case .netAck:
            guard let stream = streams[id] else { return }  // a late ack for a stream that ended
            guard let count = try? body.count(), count <= UInt64(stream.hostUnacked) else { return reset(id, stream: stream) }
            stream.hostUnacked -= Int(count)
        case .netClose:
            guard let stream = streams[id] else { return guest.send(.netReset(id)) }
            guard !stream.guestClosed else { return reset(id, stream: stream) }
            stream.guestClosed = true
            if stream.dns != nil { closeDNSStreamIfDone(stream) } else { shutDownUpstreamIfDone(stream) }
        case .netReset:
            if let stream = streams[id] { end(stream, verdict: "allowed", reason: "reset by the guest") }
        case .netConnected where id >= inboundStreamBase, .netRefused where id >= inboundStreamBase:
            inboundAnswered(id, connected: frame.kind == .netConnected, why: GuestText.printable(body.payload))
        case .dnsQuery:
            guard let message = try? body.dnsMessage() else { return }
            query(message, reply: .datagram(id))
        default:
            // A frame only the host sends, or one of pen.ctl's: the stream it names is reset.
            reset(id, stream: streams[id])
        }
    }

    /// The guest broke the stream's rules: it ends both ways.
    func reset(_ id: UInt32, stream: NetStream?) {
        guest.send(.netReset(id))
        if let stream { end(stream, verdict: "allowed", reason: "reset: the guest broke the stream's rules") }
    }
}
