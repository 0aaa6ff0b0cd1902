// The supervisor's loop: one poll over the signal pipe, the guest, the listener, QEMU's exit,
// the archive port and every client; then its timers (the boot's deadline, a stall, the
// shutdown's grace, the idle timeout) and the guest's acknowledgements.
import Foundation
import PenCore
import PenWire

extension Supervisor {
    private enum Source { case signals, guest, listener, client(Client), qemu, archive, relay }

    /// One turn; QEMU's wait status once it has exited for good.
    func pollOnce() -> Int32? {
        // Whoever is over its bound is not read: the guest while too much waits for it (its
        // replies would pile up), the clients too (their input is for it).
        let guestInput = guestOverBound ? 0 : Int16(POLLIN)
        var fds = [pollfd(fd: signals, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: guest.closed ? -1 : guest.fd,
                          events: guestInput | (guest.wantsWrite ? Int16(POLLOUT) : 0), revents: 0),
                   pollfd(fd: state.isStopping || acceptPausedUntil != nil ? -1 : listener, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: vm.process.exitDescriptor, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: vm.archive?.port ?? -1, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: relayNotices.wakeRead, events: Int16(POLLIN), revents: 0)]
        var sources: [Source] = [.signals, .guest, .listener, .qemu, .archive, .relay]
        for client in sessions.clients {
            let read = client.wantsInput && !guestOverBound && hasRoom(client) ? Int16(POLLIN) : 0
            fds.append(pollfd(fd: client.link.fd, events: read | (client.link.wantsWrite ? Int16(POLLOUT) : 0), revents: 0))
            sources.append(.client(client))
        }
        let ready = poll(&fds, nfds_t(fds.count), timeoutMillis())
        if ready < 0 && errno != EINTR { log("pen: supervisor: poll: \(String(cString: strerror(errno)))") }
        for (i, source) in sources.enumerated() where fds[i].revents != 0 {
            switch source {
            case .signals: handleSignals()
            case .guest:
                if fds[i].revents & Int16(POLLOUT) != 0 { guest.flush() }
                if fds[i].revents & ~Int16(POLLOUT) != 0 { readGuest() }
            case .listener: acceptClients()
            case .client(let client): serviceClient(client, events: fds[i].revents)
            case .archive: receiveArchive()
            case .relay: takeRelayNotices()
            case .qemu:
                if let status = vm.process.exitStatus() {
                    let attempts = state.attempts
                    advance(.qemuExited)  // a restore QEMU could not load boots cold instead
                    if state.attempts > attempts { return nil }
                    return status
                }
            }
        }
        sessions.removeDone()
        checkTimers()
        sendAcks()
        peakQueuedBytes = max(peakQueuedBytes, queuedBytes)
        return nil
    }

    private func timeoutMillis() -> Int32 {
        var wait = 60.0
        let now = Date()
        if state.boot.isBooting { wait = min(wait, bootClockStart.addingTimeInterval(plan.bootTimeout).timeIntervalSince(now)) }
        if state.boot.isSilent { wait = min(wait, Self.stallCheckInterval) }
        wait = min(wait, bootLogCheckedAt.addingTimeInterval(Self.bootLogCheckInterval).timeIntervalSince(now))
        if case .shutdownSent(let sent) = state.stop { wait = min(wait, sent.addingTimeInterval(shutdownGrace).timeIntervalSince(now)) }
        if let paused = acceptPausedUntil { wait = min(wait, paused.timeIntervalSince(now)) }
        if let first = sessions.clients.filter({ !$0.greeted }).map(\.connectedAt).min() {
            wait = min(wait, first.addingTimeInterval(helloTimeout).timeIntervalSince(now))
        }
        // The idle timer counts only where checkTimers acts on it (else a passed deadline spins).
        if let idleDeadline { wait = min(wait, idleDeadline.timeIntervalSince(now)) }
        if let summary = relayNotices.pendingSummaryAt { wait = min(wait, summary.timeIntervalSince(now)) }
        if let pending = pendingSuspend { wait = min(wait, pending.deadline.timeIntervalSince(now)) }
        if let since = guestStuckSince { wait = min(wait, since.addingTimeInterval(guestStuckLimit).timeIntervalSince(now)) }
        return Int32(max(0, wait) * 1000) + 1
    }

    /// How long the VM may go without a session before it stops (nil: forever).
    private var idleLimit: Double? {
        if plan.detached { return plan.idleTimeout }
        return sessions.everHadSession ? nil : Self.unattendedLimit
    }

    /// When a ready, running VM with no session stops (nil: it does not).
    private var idleDeadline: Date? {
        guard state.boot == .ready, !state.isStopping, pendingSuspend == nil, sessions.sessionCount == 0,
              let limit = idleLimit else { return nil }
        return idleSince.addingTimeInterval(limit)
    }

    private func checkTimers() {
        let now = Date()
        if state.boot.isSilent { checkForStall() }
        capBootLog(now: now)
        if state.boot.isBooting && now >= bootClockStart.addingTimeInterval(plan.bootTimeout) {
            advance(.bootTimedOut(PenError("VM '\(plan.spec.name)' did not boot within \(Int(plan.bootTimeout)) s",
                                           fix: "boot log: \(plan.spec.bootLogPath)")))
        }
        if case .shutdownSent(let sent) = state.stop, now >= sent.addingTimeInterval(shutdownGrace) {
            log("pen: VM '\(plan.spec.name)' did not power off within \(Int(shutdownGrace)) s; stopping it")
            advance(.shutdownDeadlinePassed)
        }
        if let paused = acceptPausedUntil, now >= paused { acceptPausedUntil = nil }
        checkGuestReads(now: now)
        if let summary = relayNotices.pendingSummaryAt, now >= summary { takeRelayNotices() }
        closeSilentClients(now: now)
        checkSuspendDeadline(now: now)
        if let idleDeadline, now >= idleDeadline, let limit = idleLimit {
            if plan.suspendWhenIdle && plan.detached {
                log("pen: VM '\(plan.spec.name)' had no session for \(Int(limit)) s; suspending it")
                requestSuspend(nil, force: false)
            } else {
                log("pen: VM '\(plan.spec.name)' had no session for \(Int(limit)) s; stopping it")
                requestStop()
            }
        }
    }

    private func handleSignals() {
        var byte: UInt8 = 0
        while read(signals, &byte, 1) == 1 {
            if Int32(byte) == SIGCHLD || Int32(byte) == SIGWINCH { continue }  // QEMU's exit is seen on its pidfd
            requestStop()
        }
    }
}
