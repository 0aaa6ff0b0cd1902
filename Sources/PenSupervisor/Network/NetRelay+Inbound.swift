// Published ports under the network policy: a connection to the host's 127.0.0.1:HOST becomes an
// inbound stream (`netInbound`) that the guest connects to its own 127.0.0.1:GUEST. Until the
// guest answers (`netConnected`, `netRefused`, or nothing within the connect deadline) the host
// socket is neither read nor written; then it is relayed like any stream, with the same windows.
import CHostSys
import Foundation
import PenCore
import PenIO
import PenWire

extension NetRelay {
    /// Takes the connections waiting on a published port's listener (none past the stream limit).
    func acceptInbound(_ listener: PublishedListener) {
        while streams.count < maxNetStreams {
            let fd = pen_accept(listener.fd)
            guard fd >= 0 else { return }
            setNonBlocking(fd)
            let id = nextInboundID()
            let stream = NetStream(id: id, destination: NetDestination(address: [127, 0, 0, 1], port: listener.port.guest)!,
                                   target: Self.hostLoopback, names: [], reason: "published port \(listener.port.host)")
            stream.inbound = true
            stream.fd = fd
            stream.connectDeadline = Date().addingTimeInterval(UpstreamSocket.connectDeadline)
            streams[id] = stream
            guest.send(.netInbound(id, port: listener.port.guest))
        }
    }

    /// The next host stream id not in use, from `inboundStreamBase` up, wrapping.
    private func nextInboundID() -> UInt32 {
        while true {
            let id = nextInbound
            nextInbound = nextInbound == UInt32.max ? inboundStreamBase : nextInbound + 1
            if streams[id] == nil { return id }
        }
    }

    /// The guest's answer to `netInbound`.
    func inboundAnswered(_ id: UInt32, connected: Bool, why: String) {
        guard let stream = streams[id], stream.inbound, stream.connectDeadline != nil else { return reset(id, stream: streams[id]) }
        guard connected else { return end(stream, verdict: "failed", reason: "the guest: \(why)") }
        stream.connectDeadline = nil
        stream.announced = true
    }
}
