// DNS over TCP: a stream to port 53 of any address is pen's DNS, answered by the relay itself
// (no upstream connection), so a guest's resolver that falls back to TCP gets pen's answers and
// no other DNS server is reached. Messages are length-prefixed (RFC 1035 4.2.2); the guest's
// bytes are acknowledged as they are read, answers count against the guest's window like any
// stream's data, and a stream waits for at most `maxWaiting` lookups.
import Foundation
import PenCore
import PenWire

/// A DNS-over-TCP stream's state: the bytes of the message being read, the lookups it waits for.
struct DNSOverTCP {
    static let maxWaiting = 16
    var buffer: [UInt8] = []
    var waiting = 0
    /// Messages are being read (answers given meanwhile do not start another read).
    var reading = false
}

extension NetRelay {
    func openDNSStream(_ stream: NetStream) {
        stream.dns = DNSOverTCP()
        stream.announced = true
        streams[stream.id] = stream
        guest.send(.netConnected(stream.id))
    }

    func receiveDNSData(_ stream: NetStream, _ bytes: ArraySlice<UInt8>) {
        guard stream.dns != nil else { return }
        stream.dns?.buffer += bytes
        stream.bytesUp += UInt64(bytes.count)
        stream.guestUnacked += bytes.count
        guard stream.guestUnacked <= netWindow else { return reset(stream.id, stream: stream) }
        readDNSMessages(stream)
    }

    /// Answers the whole messages that arrived (at most `maxWaiting` lookups at a time) and
    /// acknowledges their bytes. Not re-entered: an answer given at once while reading does not
    /// start another read.
    private func readDNSMessages(_ stream: NetStream) {
        guard let dns = stream.dns, !dns.reading else { return }
        stream.dns?.reading = true
        var consumed = 0
        while streams[stream.id] === stream, let dns = stream.dns, dns.buffer.count - consumed >= 2, dns.waiting < DNSOverTCP.maxWaiting {
            let length = Int(dns.buffer[consumed]) << 8 | Int(dns.buffer[consumed + 1])
            guard length > 0, length <= maxDNSMessage else { return reset(stream.id, stream: stream) }
            guard dns.buffer.count - consumed - 2 >= length else { break }
            let message = Array(dns.buffer[(consumed + 2)..<(consumed + 2 + length)])
            consumed += 2 + length
            guard query(message, reply: .stream(stream)) else { return reset(stream.id, stream: stream) }
        }
        guard streams[stream.id] === stream else { return }
        stream.dns?.buffer.removeFirst(consumed)
        stream.dns?.reading = false
        if consumed > 0 {
            stream.guestUnacked -= consumed
            guest.send(.netAck(stream.id, UInt64(consumed)))
        }
        closeDNSStreamIfDone(stream)
    }

    func answerOnStream(_ stream: NetStream, _ message: [UInt8]) {
        guard streams[stream.id] === stream else { return }
        let framed = [UInt8(message.count >> 8), UInt8(message.count & 0xff)] + message
        guard stream.hostUnacked + framed.count <= netWindow else { return reset(stream.id, stream: stream) }
        stream.hostUnacked += framed.count
        stream.bytesDown += UInt64(framed.count)
        guest.send(Frame.netData(stream.id, framed[...]))
        // Queries held back while the stream waited for too many lookups are read now.
        if let dns = stream.dns, !dns.reading {
            if dns.buffer.count >= 2 { readDNSMessages(stream) } else { closeDNSStreamIfDone(stream) }
        }
    }

    /// The guest closed and every query it sent was answered: pen's side closes too.
    func closeDNSStreamIfDone(_ stream: NetStream) {
        guard streams[stream.id] === stream, stream.guestClosed, let dns = stream.dns, dns.waiting == 0, !dns.reading else { return }
        guest.send(.netClose(stream.id))
        end(stream, verdict: "allowed", reason: "pen's DNS over TCP")
    }
}
