// `pen vm suspend`: the whole machine saved beside its disk, then QEMU gone. The guest first
// releases /workspace (QEMU will not migrate a mounted 9p share), syncs and freezes the disk
// and quiets its network relay; the supervisor then stops the machine, migrates it into a file
// it created (passed over QMP) and publishes it (SuspendStore). A resumed VM (`.resume` boot)
// is let run by the monitor and told `resumed`, with the host's clock and entropy. A save that
// fails leaves the VM running as before, and says why.
import Foundation
import PenCore
import PenWire

/// A suspend on its way: the client that asked, and how long the guest may take to get ready.
struct PendingSuspend {
    /// Nil for the idle timeout's own suspend (`--on-idle suspend`).
    let client: Client?
    let deadline: Date
}

extension Supervisor {
    /// The guest gets this long to release /workspace and freeze its disk.
    static let suspendPrepareTime = 30.0
    /// Stopping, migrating and publishing the machine may take this long.
    static let suspendSaveTime = 300.0

    /// QEMU's monitor, greeted once for the VM's life.
    func monitor(deadline: Date) throws(PenError) -> QMPClient {
        guard let fd = vm.monitor else { throw PenError("VM '\(plan.spec.name)' has no monitor") }
        if let client = monitorClient, client.fd == fd { return client }
        let client = QMPClient(fd: fd)
        try client.greet(deadline: deadline)
        monitorClient = client
        return client
    }

    /// A client's `suspendVM` (or, with no client, the idle timeout's): refused while the VM boots
    /// or stops, for a builder, or (unless forced) while other sessions are attached; forced, those
    /// sessions end first.
    func requestSuspend(_ client: Client?, force: Bool) {
        let name = plan.spec.name
        let refuse = { (why: String) in self.refuseSuspend(client, why) }
        guard plan.suspendStore != nil, plan.machineKey != nil else {
            return refuse("VM '\(name)' cannot be suspended (a profile's builder VM)")
        }
        guard state.boot == .ready, !state.isStopping, pendingSuspend == nil else {
            return refuse("VM '\(name)' is \(state.isStopping ? "stopping" : pendingSuspend != nil ? "being suspended" : "still booting")")
        }
        let attached = sessions.inSession.filter { $0 !== client }
        guard attached.isEmpty || force else {
            let count = attached.count == 1 ? "a session" : "\(attached.count) sessions"
            return refuse("VM '\(name)' has \(count) attached; end \(attached.count == 1 ? "it" : "them"), or use `pen vm suspend \(name) --force`, which ends \(attached.count == 1 ? "it" : "them")")
        }
        pendingSuspend = PendingSuspend(client: client, deadline: Date().addingTimeInterval(Self.suspendPrepareTime))
        for other in attached { endForSuspend(other) }
        guest.send(Frame(.suspend, text: force ? "force" : ""))
        guest.flush()
    }

    /// A session attached at a forced suspend: its processes get SIGHUP (as on a lost terminal),
    /// its client the news and a hang-up's status.
    private func endForSuspend(_ client: Client) {
        guard let session = client.session, !session.ended else { return }
        if session.openSent { guest.send(.hangup(session.guestID)) }
        session.ended = true
        client.link.send(Frame(.suspended, text: "session"))
        client.closeWhenFlushed = true
    }

    /// The guest is ready to be saved.
    func guestReadyForSuspend() {
        // Unasked (or after the deadline gave up on it): ignored. A guest that paused itself has
        // only itself to wait on; the host does nothing for it.
        guard let pending = pendingSuspend else { return }
        guard !state.isStopping else {
            return resumeGuestAfterFailedSave(PenError("the VM is stopping"))
        }
        let deadline = Date().addingTimeInterval(Self.suspendSaveTime)
        stopRelay()
        do {
            let qmp = try monitor(deadline: deadline)
            let store = SuspendStore(vmPath: plan.suspendStore!)
            let saved = try SuspendSaver.save(qmp, store: store, key: plan.machineKey!.hash, deadline: deadline)
            log("pen: VM '\(plan.spec.name)' suspended: \(ByteSize.format(saved.bytes)) saved in \(String(format: "%.1f", saved.seconds)) s")
            pending.client?.link.send(Frame(.suspended, text: "\(saved.bytes) \(String(format: "%.2f", saved.seconds))"))
            pending.client?.waitsForStop = true  // answered, and let go once QEMU is gone
            suspendedForGood = true
            pendingSuspend = nil
            // The state is safe on disk: QEMU goes (its exit ends the loop like any stop).
            do { try qmp.execute("quit", deadline: Date().addingTimeInterval(10)) } catch { vm.process.kill() }
        } catch {
            log("pen: VM '\(plan.spec.name)' could not be suspended: \(error.message)")
            resumeGuestAfterFailedSave(error)
        }
    }

    /// The guest refused (its /workspace is in use, its disk would not freeze): said to the client.
    func guestRefusedSuspend(_ why: String) {
        guard let pending = pendingSuspend else { return }
        pendingSuspend = nil
        refuseSuspend(pending.client, "VM '\(plan.spec.name)' was not suspended: \(why)")
        sessionEnded()  // sessions a forced suspend ended: a VM that stops with its last one stops now
    }

    /// The guest did not answer in time: it is told to carry on (if it froze meanwhile, it thaws).
    func checkSuspendDeadline(now: Date) {
        guard let pending = pendingSuspend, now >= pending.deadline else { return }
        resumeGuestAfterFailedSave(PenError("the guest did not get ready for it within \(Int(Self.suspendPrepareTime)) s"))
    }

    private func resumeGuestAfterFailedSave(_ error: PenError?) {
        if let qmp = try? monitor(deadline: Date().addingTimeInterval(10)) {
            _ = try? qmp.execute("cont", deadline: Date().addingTimeInterval(10))
        }
        guest.send(.carryOn(Self.freshness()))
        guest.flush()
        startRelay()
        if let pending = pendingSuspend {
            pendingSuspend = nil
            refuseSuspend(pending.client, "VM '\(plan.spec.name)' was not suspended: \(error?.message ?? "the save failed"); it runs on")
        }
        sessionEnded()
    }

    /// A resumed VM: QEMU has loaded the saved machine (paused, as it was saved); the state file
    /// goes now (the disk moves on from here), the machine runs, and the guest hears it.
    func resumeGuest() {
        let deadline = Date().addingTimeInterval(Self.suspendSaveTime)
        do throws(PenError) {
            let qmp = try monitor(deadline: deadline)
            try SuspendSaver.awaitLoaded(qmp, deadline: deadline)
            // The disk moves on from here: the same memory must never be loaded again.
            if let store = plan.suspendStore, !SuspendStore(vmPath: store).remove() {
                throw PenError("its saved state could not be removed, so it is not let run")
            }
            try qmp.execute("cont", deadline: deadline)
        } catch {
            log("pen: VM '\(plan.spec.name)' could not be resumed: \(error.message)")
            vm.process.kill()  // its exit while restoring boots the disk cold instead
            return
        }
        advance(.machineRunning)
        guest.send(.resumed(Self.freshness()))
        guest.flush()
    }

    /// Why a suspend did not happen: to the client that asked, or (the idle timeout's) to the log;
    /// the idle clock starts again, so an idle VM that cannot be suspended is tried once per timeout.
    func refuseSuspend(_ client: Client?, _ why: String) {
        if let client { refuse(client, why) } else { log("pen: " + why); idleSince = Date() }
    }

    /// The wall clock and fresh entropy.
    static func freshness() -> Freshness {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var generator = SystemRandomNumberGenerator()
        let entropy = (0..<Freshness.entropyBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Freshness(seconds: Int64(now.tv_sec), nanoseconds: Int32(now.tv_nsec), entropy: entropy)
    }
}
