// QEMU is gone, but a slow client may not have taken its session's last output and exit status
// yet (a `pen shell` piped into a reader that waits): the clients with something queued are
// served until they take it, hang up, a stop signal comes, or `drainTimeout` passes.
import Foundation
import PenCore
import Glibc

extension Supervisor {
    func drainClients() {
        let deadline = Date().addingTimeInterval(drainTimeout)
        while true {
            // Those whose session ended: what waits for them ends with its exit status. The others
            // learn from the connection's end that the VM stopped under them.
            let waiting = sessions.clients.filter { $0.link.wantsWrite && $0.session?.ended == true }
            guard !waiting.isEmpty else { return }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else {
                log("pen: VM '\(plan.spec.name)' stopped; \(waiting.count) client(s) did not take their last output within \(Int(drainTimeout)) s")
                return
            }
            var fds = [pollfd(fd: signals, events: Int16(POLLIN), revents: 0)]
            fds += waiting.map { pollfd(fd: $0.link.fd, events: Int16(POLLOUT), revents: 0) }
            _ = poll(&fds, nfds_t(fds.count), Int32(min(left, 60) * 1000) + 1)
            if fds[0].revents != 0, stopSignalArrived() { return }
            for (i, client) in waiting.enumerated() where fds[i + 1].revents != 0 {
                client.link.flush()
                if fds[i + 1].revents & Int16(POLLOUT) == 0 { client.link.markClosed() }  // hung up
            }
        }
    }

    /// Reads the signal pipe: whether a stop signal was among what arrived.
    private func stopSignalArrived() -> Bool {
        var byte: UInt8 = 0
        var stop = false
        while read(signals, &byte, 1) == 1 {
            if Int32(byte) != SIGCHLD && Int32(byte) != SIGWINCH { stop = true }
        }
        return stop
    }
}
