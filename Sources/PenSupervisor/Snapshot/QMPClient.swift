// QEMU's machine protocol, spoken by the supervisor alone over an inherited socketpair (no
// monitor socket anyone else could reach). Synchronous: each command waits for its answer
// until a deadline, skipping the events QEMU sends in between; every message is bounded.
import CHostSys
import Foundation
import PenCore
import Glibc
import PenIO

final class QMPClient {
    /// QMP answers are small; anything larger is not QEMU speaking.
    static let messageLimit = 1 << 20
    let fd: Int32
    private var buffer: [UInt8] = []
    /// Each command's id, echoed in its answer: a late answer to a command that timed out is
    /// never taken for the next one's (the monitor now lives as long as the VM).
    private var nextID = 1

    init(fd: Int32) { self.fd = fd }

    /// Reads QEMU's greeting and leaves negotiation mode.
    func greet(deadline: Date) throws(PenError) {
        let hello = try readMessage(deadline: deadline)
        guard hello["QMP"] != nil else { throw PenError("QEMU's monitor did not greet", cause: "\(hello)") }
        _ = try execute("qmp_capabilities", deadline: deadline)
    }

    /// Runs `command`; returns its "return" value. With `passing`, the descriptor travels with it
    /// (SCM_RIGHTS), as `getfd` expects.
    @discardableResult
    func execute(_ command: String, _ arguments: [String: Any] = [:], passing descriptor: Int32? = nil,
                 deadline: Date) throws(PenError) -> Any {
        let id = nextID
        nextID += 1
        var message: [String: Any] = ["execute": command, "id": id]
        if !arguments.isEmpty { message["arguments"] = arguments }
        guard let json = try? JSONSerialization.data(withJSONObject: message) else {
            throw PenError("cannot encode the QMP command \(command)")
        }
        let bytes = Array(json) + Array("\r\n".utf8)
        if let descriptor {
            let sent = bytes.withUnsafeBytes { pen_send_with_fd(fd, $0.baseAddress, UInt($0.count), descriptor) }
            guard sent == bytes.count else { throw PenError.system("cannot pass a descriptor to QEMU's monitor") }
        } else {
            guard writeAll(fd, bytes) else { throw PenError.system("cannot write to QEMU's monitor") }
        }
        while true {
            let reply = try readMessage(deadline: deadline)
            if reply["event"] != nil { continue }
            if let echoed = reply["id"] as? Int, echoed != id { continue }  // an earlier command's late answer
            if let error = reply["error"] as? [String: Any] {
                throw PenError("QEMU refused \(command)", cause: error["desc"] as? String ?? "\(error)")
            }
            if let value = reply["return"] { return value }
        }
    }

    /// One JSON object (QMP separates them by CRLF).
    private func readMessage(deadline: Date) throws(PenError) -> [String: Any] {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                if line.allSatisfy({ $0 == 0x0D || $0 == 0x20 }) { continue }
                guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                    throw PenError("QEMU's monitor sent something that is not a QMP message")
                }
                return object
            }
            guard buffer.count < Self.messageLimit else { throw PenError("QEMU's monitor sent an oversized message") }
            let left = deadline.timeIntervalSinceNow
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard left > 0, poll(&p, 1, Int32(min(left, 60) * 1000) + 1) > 0 else {
                if left > 0 { continue }
                throw PenError("QEMU's monitor did not answer in time")
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = read(fd, &chunk, chunk.count)
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard n > 0 else { throw PenError("QEMU's monitor closed") }
            buffer += chunk[0..<n]
        }
    }
}
