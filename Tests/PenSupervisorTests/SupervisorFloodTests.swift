import Foundation
import PenIO
import PenTestSupport
import PenWire
import Testing
@testable import PenCore
@testable import PenSupervisor

/// Writes frames to a socket from a background thread without ever blocking on it: a peer
/// that stops reading (as a bounded supervisor should) makes it give up after `stall` seconds.
final class Flood: @unchecked Sendable {
    private let finished = DispatchSemaphore(value: 0)
    nonisolated(unsafe) private(set) var written = 0

    /// `frame(i)` is the i-th frame to send (made as it goes: the test's own memory stays small); nil ends.
    init(_ fd: Int32, stall: Double = 2, _ frame: @escaping @Sendable (Int) -> Frame?) {
        Thread {
            defer { self.finished.signal() }
            var lastProgress = Date()
            var index = 0
            while let frame = frame(index) {
                index += 1
                let bytes = frame.encoded()
                var offset = 0
                while offset < bytes.count {
                    let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
                    if n > 0 {
                        offset += n
                        self.written += n
                        lastProgress = Date()
                        continue
                    }
                    guard n < 0, errno == EAGAIN || errno == EINTR, Date().timeIntervalSince(lastProgress) < stall else { return }
                    var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&p, 1, 100)
                }
            }
        }.start()
    }

    func wait(within seconds: Double = 60) -> Bool { finished.wait(timeout: .now() + seconds) == .success }
}

/// This process's resident memory now and at its peak, in KiB (/proc/self/status).
func residentKiB() -> (now: Int, peak: Int) {
    let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    func field(_ name: String) -> Int {
        text.split(separator: "\n").first { $0.hasPrefix(name + ":") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[1]) } ?? -1
    }
    return (field("VmRSS"), field("VmHWM"))
}

@Suite struct SupervisorFloodTests {
    /// What one supervisor may hold queued, whatever the guest and its clients do: the guest
    /// link's bound and one read's replies, and per client a session's window plus its bound
    /// for everything else (notices, reports).
    static let queuedBound = Supervisor.guestQueueLimit + 2 * (sessionWindow + Supervisor.clientQueueLimit) + (1 << 20)

    @Test func aHostileGuestAndAClientThatNeverReadsCannotGrowTheSupervisorsQueues() throws {
        let h = try SupervisorHarness()
        h.bootToReady()
        let (stuck, id) = try h.openSession(SessionRequest(kind: .command, arguments: ["yes"]))
        let before = residentKiB()
        // The client never reads, and asks for a status report again and again.
        let asks = Flood(stuck.fd) { $0 < 100_000 ? Frame(.status) : nil }
        // The guest never reads either, and sends everything that makes the host queue something.
        let chunk = [UInt8](repeating: 0x79, count: 65_536)
        let text = String(repeating: "x", count: 1000)
        let windows = 10 * sessionWindow / chunk.count
        let flood = Flood(h.guest.fd) { i in
            switch i {
            case ..<windows: .session(.stdoutData, id, chunk)  // ten windows' worth
            case ..<(windows + 200_000): .session(.stdoutData, 4242, [0x61])  // a session that does not exist
            case ..<(windows + 220_000): .session(.stdinAck, id, text: "1")  // input it was never sent
            case ..<(windows + 240_000): Frame(.notice, text: text)
            case ..<(windows + 260_000): Frame(.fatal, text: text)
            default: nil
            }
        }
        #expect(flood.wait())
        #expect(asks.wait())
        let during = residentKiB()
        // The session that overran its window is hung up in the guest, and its client told.
        #expect(try h.guest.await(.hangup, within: 10)?.sessionID() == id)
        #expect(stuck.await(.fatal, within: 10)?.text.contains("more output than") == true)
        close(stuck.fd)  // it hangs up: nothing is kept for it once the VM is down
        h.vm.exit()
        #expect(h.finished())
        print("flood: guest wrote \(flood.written) bytes, the client \(asks.written); supervisor queued at most \(h.peakQueuedBytes) bytes (bound \(Self.queuedBound)); RSS \(before.now) KiB before, \(during.now) KiB after, peak \(during.peak) KiB")
        #expect(h.peakQueuedBytes < Self.queuedBound)
    }

    /// Empty output frames cost the window nothing: they must cost the host nothing either.
    @Test func emptyOutputFramesForAStalledClientQueueNothing() throws {
        let h = try SupervisorHarness()
        h.bootToReady()
        let (stuck, id) = try h.openSession(SessionRequest(kind: .command, arguments: ["yes"]))
        // A window's worth that the client never reads, then a flood of empty frames.
        let chunk = [UInt8](repeating: 0x79, count: 65_536)
        let windows = sessionWindow / chunk.count
        let flood = Flood(h.guest.fd) { i in
            switch i {
            case ..<windows: .session(.stdoutData, id, chunk)
            case ..<(windows + 300_000): .session(.stdoutData, id, [])
            default: nil
            }
        }
        #expect(flood.wait())
        usleep(500_000)
        close(stuck.fd)
        h.vm.exit()
        #expect(h.finished())
        // 300,000 queued frames would be ~10 MB of headers and bookkeeping.
        #expect(h.peakQueuedBytes < sessionWindow + Supervisor.clientQueueLimit)
    }

    /// A guest that sends and never reads its control channel is stopped once its replies have
    /// stood over their bound for the limit, instead of holding every client up for good.
    @Test func aGuestThatNeverReadsItsChannelIsStopped() throws {
        let h = try SupervisorHarness(configure: { $0.guestStuckLimit = 1 })
        h.bootToReady()
        let (client, id) = try h.openSession(SessionRequest(kind: .command, arguments: ["cat"]))
        _ = id
        // One small frame at a time, each answered with an acknowledgement the guest never reads
        // (frames that arrive together are acknowledged together: pacing is what makes many acks).
        let frame = Frame.session(.stdoutData, 0, [0x61]).encoded()
        let guestFD = h.guest.fd
        let vm = h.vm
        let sender = Thread {
            let deadline = Date().addingTimeInterval(90)
            while !vm.killed && Date() < deadline {
                let n = frame.withUnsafeBytes { Glibc.send(guestFD, $0.baseAddress!, frame.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
                if n < 0 && errno != EAGAIN && errno != EINTR { return }
                usleep(20)
            }
        }
        sender.start()
        let deadline = Date().addingTimeInterval(120)
        while !h.vm.killed && Date() < deadline { usleep(100_000) }
        #expect(h.vm.killed)
        #expect(h.messages.contains { $0.contains("did not read its control channel") })
        close(client.fd)
        h.vm.exit()
        #expect(h.finished())
    }
}
