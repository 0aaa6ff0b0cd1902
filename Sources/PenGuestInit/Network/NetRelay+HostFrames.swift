// What the host sends on `pen.net`, handled: its answers to the guest's streams (connected,
// refused, data, acknowledgements, close, reset), DNS answers, and the inbound streams of
// published ports; and the ways a stream ends.
import Glibc
import PenWire

extension NetRelay {
    // MARK: the host's frames

    func readHost() {
        let frames: [Frame]?
        do { frames = try link.receive(&buffer) } catch {
            Console.log("pen-init: \(Self.stage): \(error.description)")
            return
        }
        for frame in frames ?? [] { handle(frame) }
    }

    private func handle(_ frame: Frame) {
        do throws(WireError) {
            let (id, body) = try frame.sessionBody()
            switch frame.kind {
            case .dnsAnswer: answer(id, try body.dnsMessage())
            case .netInbound: try openInbound(id, port: try body.inboundPort())
            case .netConnected, .netRefused, .netData, .netAck, .netClose, .netReset:
                // Frames for a stream that ended are late, not wrong: the host may not have seen its end yet.
                guard let stream = streams[id] else { return }
                handle(body, for: stream)
            default: throw .unexpected(frame.kind)
            }
        } catch {
            log.log("pen-init: \(Self.stage): \(error.description)")
        }
    }

    private func handle(_ frame: Frame, for stream: NetStream) {
        do throws(NetStream.Failed) {
            switch frame.kind {
            case .netConnected: stream.connected()
            case .netRefused:
                let why = String(decoding: frame.payload.prefix(maxRefusalReason).map { (0x20...0x7e).contains($0) ? $0 : 0x3f }, as: UTF8.self)
                log.log("pen: connection to \(stream.destination?.text ?? "?") refused: \(why)")
                return reset(stream, tellHost: false)
            case .netData: try stream.receive(frame.payload[...], link: link)
            case .netAck:
                guard let count = try? frame.count() else { throw NetStream.Failed(why: "a bad acknowledgement") }
                try stream.acknowledge(count)
            case .netClose: try stream.hostClose(link: link)
            default: return reset(stream, tellHost: false)  // netReset
            }
        } catch {
            log.log("pen-init: \(Self.stage): stream \(stream.id): \(error.why)")
            return reset(stream, tellHost: true)
        }
        finishIfDone(stream)
    }

    private func answer(_ id: UInt32, _ message: [UInt8]) {
        guard let query = queries.take(id) else { return }  // forgotten: the program has asked again by now
        var sender = query.sender
        _ = withUnsafePointer(to: &sender) { address in
            address.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(query.socket, message, message.count, Int32(MSG_DONTWAIT), $0, query.senderLength)
            }
        }
    }

    /// A published port: the host's client connected to it; we connect to the guest's program.
    private func openInbound(_ id: UInt32, port: UInt16) throws(WireError) {
        guard id >= inboundStreamBase, streams[id] == nil else { throw .badValue(.netInbound, "stream \(id) is not a new inbound stream") }
        guard streams.count < maxNetStreams else { return link.send(.netRefused(id, "\(maxNetStreams) connections are open in the guest")) }
        let fd: Int32, connected: Bool
        switch NetSockets.connectLoopback(port: port) {
        case .connected(let socket): (fd, connected) = (socket, true)
        case .inProgress(let socket): (fd, connected) = (socket, false)
        case .failed(let err): return link.send(.netRefused(id, String(cString: strerror(err))))
        }
        let stream = NetStream(id: id, fd: fd, destination: nil,
                               state: .connecting(deadline: monotonicMicroseconds() + Self.connectTime))
        streams[id] = stream
        if connected { stream.inboundConnected(link: link) }
    }

    // MARK: ending streams

    func refuseInbound(_ stream: NetStream, _ why: String) {
        link.send(.netRefused(stream.id, why))
        close(stream.fd)
        streams[stream.id] = nil
    }

    /// Ends a stream at once: the program sees ECONNRESET; the host is told unless it said so.
    func reset(_ stream: NetStream, tellHost: Bool) {
        if tellHost { link.send(.netReset(stream.id)) }
        NetSockets.closeWithReset(stream.fd)
        streams[stream.id] = nil
    }

    func finishIfDone(_ stream: NetStream) {
        guard stream.isFinished else { return }
        close(stream.fd)
        streams[stream.id] = nil
    }
}
